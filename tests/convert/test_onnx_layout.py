"""ONNX outputs taking and giving channels first (--nchw), and holding their weights as external data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests._cli import check_json, convert_json, failure





@pytest.fixture(scope="module")
def segmenter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image-to-image model: [N, 12, 10, 3] in, [N, 12, 10, 2] out (a rank-4 output), random weights."""
    import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((12, 10, 3), name="photo"), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.BatchNormalization(), keras.layers.ReLU(),
                              keras.layers.Conv2D(2, 1, name="mask")], name="segmenter")
    for variable in model.weights:
        value = np.random.default_rng(2).normal(0.5, 0.3, tuple(variable.shape)).astype("float32")
        variable.assign(np.abs(value) + 0.1 if "variance" in variable.path else value)  # no NaN from a sqrt
    path = tmp_path_factory.mktemp("segmenter") / "segmenter.keras"
    model.save(path)
    return path


def test_a_channels_first_onnx_copy_of_a_cnn_passes_check_against_keras(digits_cnn: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Its weights go to external data too: the threshold is lowered here (the >2 GB case is
    tests/convert/test_large_onnx.py, marked slow)."""
    from convkit.convert.writers.onnx_native import protobuf
    from convkit.formats import onnx as onnx_format

    monkeypatch.setattr(protobuf, "EXTERNAL_DATA_BYTES", 10_000)
    out = tmp_path / "model" / "nchw.onnx"
    result = convert_json(digits_cnn, "--to", "onnx", "--nchw", "image", "-o", out)
    report = onnx_format.inspect(out, weights=True).to_dict()
    assert report["inputs"][0]["shape"][1:] == [1, 28, 28]
    assert json.loads(report["metadata"]["convkit.transposed"]) == {"image": [0, 3, 1, 2]}
    assert any("external data to nchw.onnx.data" in warning for warning in result["warnings"])
    assert sorted(path.name for path in out.parent.iterdir()) == ["nchw.onnx", "nchw.onnx.data"]
    assert report["kind"] == "external-data"
    external = [row for row in report["initializers"] if row["stored"] == "external"]
    assert external and all(row["location"] == "nchw.onnx.data" and row["stats"] for row in external)

    checked = check_json(digits_cnn, out)
    assert checked["passed"], checked["failures"]
    (pair,) = checked["pairs"]
    assert pair["outputs"][0]["top1_agreement"] == 1.0
    assert "input image is float32 [None, 1, 28, 28]: fed transposed [0, 3, 1, 2]" in pair["notes"]


def test_inputs_and_outputs_channels_first_and_a_layout_check_that_fails(segmenter: Path, tmp_path: Path) -> None:
    from onnx import helper, load_model

    out = tmp_path / "nchw.onnx"
    convert_json(str(segmenter), "--to", "onnx", "--nchw", "photo,mask", "-o", str(out))
    checked = check_json(str(segmenter), str(out), "--random", "8")
    assert checked["passed"], checked["failures"]
    assert checked["pairs"][0]["outputs"][0]["shape"] == [8, 12, 10, 2]  # compared in the reference's layout

    # The same graph claiming the wrong axes (height and width swapped on the way in): check must fail.
    model = load_model(out)
    del model.metadata_props[:]
    helper.set_model_props(model, {"convkit.transposed": json.dumps({"photo": [0, 3, 1, 2], "mask": [0, 3, 2, 1]})})
    forged = tmp_path / "forged.onnx"
    forged.write_bytes(model.SerializeToString())
    failed = check_json(str(segmenter), str(forged), "--random", "8")
    assert not failed["passed"]


def test_nchw_names_that_do_not_fit_are_refused(segmenter: Path, tmp_path: Path) -> None:
    cases = [
        (["--to", "onnx", "--nchw", "photos"], "--nchw names 'photos', which is neither an input nor an output "
                                                "of the model (inputs: photo; outputs: mask)"),
        (["--to", "tflite", "--nchw", "photo"], "--nchw applies to --to onnx only"),
    ]
    for args, message in cases:
        assert message in failure("convert", segmenter, *args, "-o", tmp_path / "x")
        assert not (tmp_path / "x").exists()


def _nudge_external_output_kernel(model_path: Path, delta: float) -> str:
    """Adds ``delta`` to the output layer's kernel (the initializer of shape [N, 10]) where the external data file
    holds it: every hidden unit feeds it, so the logits move. Returns its name."""
    from onnx import load_model

    model = load_model(str(model_path), load_external_data=False)
    (kernel,) = [tensor for tensor in model.graph.initializer if len(tensor.dims) == 2 and tensor.dims[1] == 10]
    entries = {entry.key: entry.value for entry in kernel.external_data}
    values = np.memmap(model_path.parent / entries["location"], dtype="<f4", mode="r+",
                       offset=int(entries["offset"]), shape=tuple(kernel.dims))
    values += delta
    values.flush()
    return kernel.name


@pytest.mark.parametrize("source", ["keras", "pb"])
def test_external_data_on_request_from_the_native_writer_and_the_graph_route(digits_cnn: Path, tmp_path: Path,
                                                                             source: str) -> None:
    """--external-data puts every weight in the data file at any size, aligned for onnxruntime to map, without
    the warning an automatic move gives; the copy checks against Keras, and a nudged output kernel in the data file fails."""
    from convkit.formats import onnx as onnx_format

    src = digits_cnn
    if source == "pb":
        src = tmp_path / "cnn.pb"
        convert_json(digits_cnn, "--to", "pb", "-o", src)
    out = tmp_path / "model" / "cnn.onnx"
    result = convert_json(src, "--to", "onnx", "--external-data", "-o", out)
    assert result["kind"].startswith("tf2onnx-" if source == "pb" else "native-"), result["kind"]
    assert not [warning for warning in result["warnings"] if "external data" in warning]
    assert sorted(path.name for path in out.parent.iterdir()) == ["cnn.onnx", "cnn.onnx.data"]
    report = onnx_format.inspect(out, weights=True).to_dict()
    assert report["kind"] == "external-data"
    big = [row for row in report["initializers"] if row["bytes"] > 1024]
    assert big and all(row["stored"] == "external" for row in big)
    assert out.stat().st_size < 64 * 1024  # the graph alone

    checked = check_json(digits_cnn, out)
    assert checked["passed"], checked["failures"]
    _nudge_external_output_kernel(out, 1.0)
    assert not check_json(digits_cnn, out)["passed"]


def test_external_data_applies_to_onnx_only(digits_cnn: Path, tmp_path: Path) -> None:
    message = failure("convert", digits_cnn, "--to", "tflite", "--external-data", "-o", tmp_path / "x.tflite")
    assert "--external-data applies to --to onnx only" in message
    assert not (tmp_path / "x.tflite").exists()
