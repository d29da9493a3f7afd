"""The TensorFlow-free path: .h5 <-> TF.js layers weights, tensor by tensor."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from convkit.convert import default_output
from convkit.convert.writers.h5 import write_keras2_h5
from convkit.convert.writers.tfjs_layers import write_tfjs_layers
from convkit.errors import UsageError
from convkit.formats.hdf5 import read_keras_model
from convkit.formats.tfjs.layers import read_layers_model


def _dense_h5(path: Path, dtype: str = "float32", chunked: bool = False) -> None:
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 5], "dtype": "float32", "name": "in"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "linear", "use_bias": True}},
    ]}}
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = "2.19.0"
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps(config)
        group = h5.create_group("model_weights")
        group.attrs["layer_names"] = np.array([b"dense"])
        layer = group.create_group("dense")
        layer.attrs["weight_names"] = np.array([b"dense/kernel:0", b"dense/bias:0"])
        layer.create_dataset("dense/kernel:0", data=rng.normal(size=(5, 3)).astype(dtype),
                             chunks=(1, 3) if chunked else None)
        layer.create_dataset("dense/bias:0", data=rng.normal(size=(3,)).astype(dtype))


@pytest.mark.parametrize("chunked", [False, True], ids=["contiguous", "chunked"])
def test_shards_cut_at_shard_size_and_read_back_exactly(tmp_path: Path, chunked: bool) -> None:
    src = tmp_path / "m.h5"
    _dense_h5(src, chunked=chunked)
    with contextlib.ExitStack() as stack:
        model = read_keras_model(src, stack)
        result = write_tfjs_layers(model, tmp_path / "tfjs", shard_size=16)
        expected = {w.name: w.read() for w in model.weights()}
    assert result.shards == 5 and result.bytes == 72  # 18 floats in 16-byte shards
    sizes = [(tmp_path / "tfjs" / f"group1-shard{i}of5.bin").stat().st_size for i in range(1, 6)]
    assert sizes == [16, 16, 16, 16, 8]
    back = read_layers_model(tmp_path / "tfjs")
    names = [w.name for w in back.weights()]
    assert names == ["dense/kernel", "dense/bias"]
    for weight in back.weights():
        np.testing.assert_array_equal(weight.read(), expected[weight.name])


def test_float64_narrowed_with_warning(tmp_path: Path) -> None:
    src = tmp_path / "m64.h5"
    _dense_h5(src, dtype="float64")
    with contextlib.ExitStack() as stack:
        model = read_keras_model(src, stack)
        result = write_tfjs_layers(model, tmp_path / "tfjs")
    assert any("float64 to float32" in warning for warning in result.warnings)
    manifest = json.loads((tmp_path / "tfjs" / "model.json").read_text())["weightsManifest"][0]["weights"]
    assert {w["dtype"] for w in manifest} == {"float32"}


@pytest.mark.parametrize("dtype,tolerance", [("float16", 2e-3), ("uint8", 1e-2), ("uint16", 5e-5)])
def test_quantized_weights_dequantize_within_tolerance(tmp_path: Path, dtype: str, tolerance: float) -> None:
    src = tmp_path / "m.h5"
    _dense_h5(src)
    with contextlib.ExitStack() as stack:
        model = read_keras_model(src, stack)
        write_tfjs_layers(model, tmp_path / "q", quantize=dtype, quantize_weights=["*/kernel"])
        original = {w.name: w.read() for w in model.weights()}
    manifest = json.loads((tmp_path / "q" / "model.json").read_text())["weightsManifest"][0]["weights"]
    assert [w.get("quantization", {}).get("dtype") for w in manifest] == [dtype, None]
    for weight in read_layers_model(tmp_path / "q").weights():
        values = weight.read()
        spread = float(np.ptp(original[weight.name])) or 1.0
        assert np.abs(values - original[weight.name]).max() <= tolerance * spread
    assert (tmp_path / "q" / "group1-shard1of1.bin").stat().st_size == 15 * np.dtype(dtype).itemsize + 12


def test_tfjs_back_to_h5(tmp_path: Path) -> None:
    src = tmp_path / "m.h5"
    _dense_h5(src)
    with contextlib.ExitStack() as stack:
        write_tfjs_layers(read_keras_model(src, stack), tmp_path / "tfjs")
    write_keras2_h5(read_layers_model(tmp_path / "tfjs"), tmp_path / "back.h5")
    with h5py.File(src) as a, h5py.File(tmp_path / "back.h5") as b:
        for name in ("kernel", "bias"):
            np.testing.assert_array_equal(a[f"model_weights/dense/dense/{name}:0"][()],
                                          b[f"model_weights/dense/dense/{name}:0"][()])


def test_bad_shard_size_refused(tmp_path: Path) -> None:
    src = tmp_path / "m.h5"
    _dense_h5(src)
    with contextlib.ExitStack() as stack, pytest.raises(UsageError, match="shard size"):
        write_tfjs_layers(read_keras_model(src, stack), tmp_path / "tfjs", shard_size=0)


def test_h5_to_tfjs_does_not_import_tensorflow(tmp_path: Path) -> None:
    src = tmp_path / "m.h5"
    _dense_h5(src)
    code = (
        "import sys; from convkit.convert import convert; "
        f"convert({str(src)!r}, 'tfjs', {str(tmp_path / 'out')!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "out" / "model.json").exists()


@pytest.mark.parametrize("src,to,expected", [
    ("d/my_model.h5", "tfjs", "d/my_model_tfjs"),
    ("d/my_model.h5", "keras", "d/my_model.keras"),
    ("d/my_model.keras", "savedmodel", "d/my_model_savedmodel"),
    ("d/my_model.h5", "ckpt", "d/my_model_ckpt/ckpt"),
    ("d/my_model.keras", "h5", "d/my_model.h5"),
    ("d/my_model.h5", "h5", "d/my_model_converted.h5"),
    ("d/web/model.json", "keras", "d/web.keras"),
    ("d/training_1/cp.ckpt", "h5", "d/training_1/cp.h5"),
])
def test_default_output_names(src: str, to: str, expected: str) -> None:
    assert default_output(Path(src), to) == Path(expected)


def test_checkpoint_to_tfjs_does_not_import_tensorflow(trained_k3: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from convkit.convert import convert; "
        f"convert({str(trained_k3 / 'training_1' / 'cp.ckpt')!r}, 'tfjs', {str(tmp_path / 'out')!r}, "
        f"like={str(trained_k3 / 'my_model.keras')!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    manifest = json.loads((tmp_path / "out" / "model.json").read_text())["weightsManifest"][0]["weights"]
    assert [w["name"].split("/")[1] for w in manifest] == ["kernel", "bias", "kernel", "bias"]
    assert [w["shape"] for w in manifest] == [[784, 512], [512], [512, 10], [10]]
