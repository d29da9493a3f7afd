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


def test_unknown_format_exit_2_with_did_you_mean(trained_k3: Path, tmp_path: Path) -> None:
    from convkit.registry import format_names

    result = _run(str(trained_k3 / "my_model.h5"), "--to", "tfsj", "-o", str(tmp_path / "x"))
    assert result.exit_code == 2
    message = " ".join(line.strip(" │╭╮╰╯─") for line in result.stderr.splitlines())
    assert "'tfsj' is not one of " + ", ".join(format_names()) in message
    assert "tfjs, tfjs-pb, pb, onnx, tflite" in message
    assert "did you mean 'tfjs'?" in message
    assert result.stdout == "" and not (tmp_path / "x").exists()


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
    lines = result.stderr.strip().splitlines()  # the stages reached, then one error line
    assert lines[-1].startswith("Error: ") and "has shape [784, 512]" in lines[-1]
    assert all(not line.startswith("Error") and "Traceback" not in line for line in lines[:-1])
    assert not (tmp_path / "x.h5").exists()


def test_warnings_on_stderr_and_check(trained_k2: Path, tmp_path: Path) -> None:
    result = _run(str(trained_k2 / "my_model.h5"), "--to", "keras", "-o", str(tmp_path / "m.keras"), "--check")
    assert result.exit_code == 0, result.stderr
    assert "warning: left out of the keras output: the optimizer state" in result.stderr
    assert "check: PASS" in result.stdout


def test_unrunnable_output_exit_2_names_the_layer_and_no_verify_keeps_it(tmp_path: Path) -> None:
    """TF.js refuses ELU(alpha=0.5) as a layers model: forced layers exits 2; --no-verify writes it anyway."""
    import keras

    src = tmp_path / "m.keras"
    keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.ELU(alpha=0.5, name="elu_half")]).save(src)
    out = tmp_path / "web"
    result = _run(str(src), "--to", "tfjs", "--tfjs-kind", "layers", "-o", str(out))
    assert result.exit_code == 2, result.stdout
    lines = result.stderr.strip().splitlines()  # the stages reached, then one error line
    assert lines[-1].startswith("Error: ") and not any(line.startswith("Error") for line in lines[:-1])
    assert "does not load or run in TF.js" in lines[-1] and "elu_half" in lines[-1]
    assert not out.exists()
    result = _run(str(src), "--to", "tfjs", "--tfjs-kind", "layers", "-o", str(out), "--no-verify", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "layers" and (out / "model.json").exists()


def test_check_json_prints_the_report_when_the_copy_differs(trained_k2: Path, tmp_path: Path, monkeypatch) -> None:
    # A faithful conversion never differs, so the check's verdict comes from a real check of a
    # deliberately nudged copy; what is under test is what `convert --check --json` prints then.
    import convkit.convert_and_check
    from convkit.check import check
    from tests.check import _models

    nudged = tmp_path / "nudged.h5"
    _models.nudge_h5_weight(trained_k2 / "my_model.h5", nudged, "dense_1/bias:0", 1e-3)
    failing = check(trained_k2 / "my_model.h5", [nudged], mnist=50).to_dict()
    monkeypatch.setattr(convkit.convert_and_check, "check_conversion", lambda src, out, like, signature=None: failing)
    out = tmp_path / "copy.keras"
    result = _run(str(trained_k2 / "my_model.h5"), "--to", "keras", "-o", str(out), "--check", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["check"]["status"] == "FAIL" and document["out"] == str(out)
    assert result.stderr.startswith("Error: ") and "predicts differently" in result.stderr
