"""`convkit convert` as a user runs it: exit codes, --json on stdout, errors on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from convkit.cli.main import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, ["convert", *args])


def test_convert_to_tfjs_json(trained_k3: Path, tmp_path: Path) -> None:
    out = tmp_path / "web"
    result = _run(str(trained_k3 / "my_model.h5"), "--to", "tfjs", "-o", str(out), "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["to"] == "tfjs" and document["kind"] == "layers" and document["src_format"] == "h5"
    assert document["out"] == str(out)
    assert (out / "model.json").exists()


def test_default_output_next_to_source(trained_k3: Path, tmp_path: Path) -> None:
    src = tmp_path / "my_model.keras"
    src.write_bytes((trained_k3 / "my_model.keras").read_bytes())
    result = _run(str(src), "--to", "tfjs", "--shard-size", "100000")
    assert result.exit_code == 0, result.stderr
    assert "my_model_tfjs" in result.stdout
    shards = {p.name for p in (tmp_path / "my_model_tfjs").glob("*.bin")}
    assert len(shards) > 10
    assert shards == {f"group1-shard{i}of{len(shards)}.bin" for i in range(1, len(shards) + 1)}


def test_unknown_format_exit_2(trained_k3: Path, tmp_path: Path) -> None:
    result = _run(str(trained_k3 / "my_model.h5"), "--to", "pmml", "-o", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: unknown format 'pmml'; known formats: ckpt, savedmodel, h5, keras, tfjs, onnx, tflite")
    assert result.stdout == ""


def test_existing_output_exit_2(trained_k3: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken.h5"
    out.write_text("x")
    result = _run(str(trained_k3 / "my_model.keras"), "--to", "h5", "-o", str(out))
    assert result.exit_code == 2
    assert "already exists; pass --overwrite" in result.stderr
    assert out.read_text() == "x"


def test_mismatched_like_exit_2(trained_k3: Path, tmp_path: Path) -> None:
    import keras

    narrower = tmp_path / "narrower.keras"
    keras.Sequential([keras.Input((784,)), keras.layers.Dense(256), keras.layers.Dense(10)]).save(narrower)
    result = _run(str(trained_k3 / "training_1" / "cp.ckpt"), "--to", "h5", "--like", str(narrower),
                  "-o", str(tmp_path / "x.h5"))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "has shape [784, 512]" in result.stderr
    assert not (tmp_path / "x.h5").exists()


def test_warnings_on_stderr_and_check(trained_k2: Path, tmp_path: Path) -> None:
    result = _run(str(trained_k2 / "my_model.h5"), "--to", "keras", "-o", str(tmp_path / "m.keras"), "--check")
    assert result.exit_code == 0, result.stderr
    assert "warning: left out of the keras output: the optimizer state" in result.stderr
    assert "check: PASS" in result.stdout
