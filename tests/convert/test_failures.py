"""Bad input and interrupted runs: one-sentence errors, never a half-written output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from convkit.convert import convert
from convkit.convert.atomic import TEMP_MARKER, atomic_output
from convkit.errors import DetectionError, UnsafeModelError, UsageError, WriteError


def test_unknown_target_format_lists_the_known_ones(trained_k3: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unknown format 'pmml'; known formats: metagraph, ckpt, savedmodel, h5, keras, tfjs, tfjs-pb, pb, onnx"):
        convert(trained_k3 / "my_model.h5", "pmml", tmp_path / "x")


@pytest.mark.parametrize("to, out, endings", [("keras", "model_keras", ".keras"), ("keras", "model.zip", ".keras"),
                                               ("h5", "model.model", ".h5 or .hdf5")])
def test_a_keras_file_named_so_keras_cannot_load_it_is_refused_before_anything_is_written(
        trained_k3: Path, tmp_path: Path, to: str, out: str, endings: str) -> None:
    with pytest.raises(UsageError, match=rf"{out}: Keras loads a {to} file only under a name ending in {endings}"):
        convert(trained_k3 / "my_model.keras", to, tmp_path / out)
    assert list(tmp_path.iterdir()) == []


def test_unrecognised_source(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not a model")
    with pytest.raises(DetectionError, match="notes.txt"):
        convert(junk, "tfjs", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_weights_only_without_like(trained_k3: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"cp\.ckpt.*--like MODEL"):
        convert(trained_k3 / "training_1" / "cp.ckpt", "h5", tmp_path / "x.h5")


def test_mismatched_like_names_the_first_tensor(zoo_k3: Path, trained_k3: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        convert(trained_k3 / "training_1" / "cp.ckpt", "h5", tmp_path / "x.h5", like=zoo_k3 / "two_io.keras")
    message = str(caught.value)
    assert "cp.ckpt" in message and "--like" in message
    import keras

    narrower = tmp_path / "narrower.keras"
    keras.Sequential([keras.Input((784,)), keras.layers.Dense(256), keras.layers.Dense(10)]).save(narrower)
    with pytest.raises(UsageError, match=r"tensor 'layer_with_weights-0/kernel/\.ATTRIBUTES/VARIABLE_VALUE' has shape \[784, 512\]"):
        convert(trained_k3 / "training_1" / "cp.ckpt", "h5", tmp_path / "x.h5", like=narrower)
    assert not (tmp_path / "x.h5").exists()


def test_export_saved_model_needs_like_for_keras_targets(trained_k3: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="without a Keras config.*--like"):
        convert(trained_k3 / "saved_model" / "my_model", "keras", tmp_path / "x.keras")


def test_existing_output_is_kept_without_overwrite(trained_k3: Path, tmp_path: Path) -> None:
    out = tmp_path / "model.h5"
    out.write_bytes(b"precious")
    with pytest.raises(WriteError, match="already exists; pass --overwrite"):
        convert(trained_k3 / "my_model.keras", "h5", out)
    assert out.read_bytes() == b"precious"
    convert(trained_k3 / "my_model.keras", "h5", out, overwrite=True)
    assert out.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model.h5"]


def test_existing_directory_replaced_only_with_overwrite(trained_k3: Path, tmp_path: Path) -> None:
    out = tmp_path / "tfjs"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(WriteError):
        convert(trained_k3 / "my_model.h5", "tfjs", out)
    assert (out / "keep.txt").exists()
    convert(trained_k3 / "my_model.h5", "tfjs", out, overwrite=True)
    assert (out / "model.json").exists() and not (out / "keep.txt").exists()


def test_strict_turns_losses_into_errors(trained_k2: Path, tmp_path: Path) -> None:
    result = convert(trained_k2 / "my_model.h5", "tfjs", tmp_path / "lenient")
    assert any("optimizer state" in warning for warning in result.warnings)
    with pytest.raises(WriteError, match="--strict"):
        convert(trained_k2 / "my_model.h5", "tfjs", tmp_path / "strict", strict=True)
    assert not (tmp_path / "strict").exists()


def test_keep_optimizer_in_h5(trained_k2: Path, tmp_path: Path) -> None:
    import h5py

    convert(trained_k2 / "my_model.h5", "h5", tmp_path / "kept.h5")
    convert(trained_k2 / "my_model.h5", "h5", tmp_path / "dropped.h5", keep_optimizer=False)
    with h5py.File(tmp_path / "kept.h5") as kept, h5py.File(tmp_path / "dropped.h5") as dropped:
        assert "optimizer_weights" in kept and "training_config" in kept.attrs
        assert "optimizer_weights" not in dropped


def test_lambda_layer_refused_unless_unsafe(lambda_h5: Path, tmp_path: Path) -> None:
    with pytest.raises(UnsafeModelError, match="Lambda.*--unsafe"):
        convert(lambda_h5, "tfjs", tmp_path / "out")
    with pytest.raises(UnsafeModelError):
        convert(lambda_h5, "keras", tmp_path / "out.keras")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.keras").exists()


def test_atomic_output_removes_temporary_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "result"
    with pytest.raises(RuntimeError):
        with atomic_output(out) as temp:
            temp.mkdir()
            (temp / "half.bin").write_bytes(b"x" * 10)
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_renames_into_place(tmp_path: Path) -> None:
    out = tmp_path / "result.bin"
    with atomic_output(out) as temp:
        assert temp.parent.name.startswith(".result.bin" + TEMP_MARKER)
        temp.write_bytes(b"done")
        assert not out.exists()
    assert out.read_bytes() == b"done"
    assert [p.name for p in tmp_path.iterdir()] == ["result.bin"]


_SLOW_CONVERSION = textwrap.dedent(
    """
    import sys, time
    from convkit.convert import convert

    def crawl(stage, done=None, total=None):  # a real conversion, slowed so the test can kill it mid-write
        time.sleep(0.02)

    convert(sys.argv[1], "tfjs", sys.argv[2], shard_size=64 * 1024, progress=crawl)
    """
)


def test_killed_conversion_leaves_no_output(tmp_path: Path) -> None:
    import numpy as np
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((256,))] + [tf_keras.layers.Dense(256) for _ in range(40)])
    model.set_weights([np.full(w.shape, 0.5, w.dtype) for w in model.get_weights()])
    src = tmp_path / "big.h5"
    model.save(src)
    out = tmp_path / "big_tfjs"
    process = subprocess.Popen(
        [sys.executable, "-c", _SLOW_CONVERSION, str(src), str(out)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    deadline = time.monotonic() + 60
    shards: list[Path] = []
    while time.monotonic() < deadline and process.poll() is None:
        shards = list(tmp_path.glob(f".big_tfjs{TEMP_MARKER}*/big_tfjs/group1-shard*"))
        if len(shards) >= 3:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the conversion ended before it could be interrupted"
    assert len(shards) >= 3, "no shard was being written"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not out.exists()
    leftover = shards[0].parents[1]
    assert leftover.name.startswith(f".big_tfjs{TEMP_MARKER}{process.pid}-")
    # a live writer's temporary of the same output is left alone
    running = tmp_path / f".big_tfjs{TEMP_MARKER}{os.getpid()}-abcd"
    running.mkdir()
    # a later run is not blocked by the leftover hidden temporary, and removes it: its writer is gone
    convert(src, "tfjs", out, shard_size=64 * 1024)
    assert (out / "model.json").exists()
    assert not leftover.exists() and running.is_dir()


def test_unknown_custom_layer_refused(trained_k2: Path, tmp_path: Path) -> None:
    import json
    import shutil

    import h5py

    src = tmp_path / "custom.h5"
    shutil.copyfile(trained_k2 / "my_model.h5", src)
    with h5py.File(src, "a") as h5:
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"][-1]["class_name"] = "MyDense"
        h5.attrs["model_config"] = json.dumps(config)
    with pytest.raises(UnsafeModelError, match="custom class 'MyDense'"):
        convert(src, "keras", tmp_path / "out.keras")
    with pytest.raises(UnsafeModelError, match="custom class 'MyDense'"):
        convert(src, "tfjs", tmp_path / "out")
    assert not (tmp_path / "out.keras").exists() and not (tmp_path / "out").exists()
