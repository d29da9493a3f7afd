"""Graph-level models in check: as reference or copy, in TensorFlow or TF.js, loops and backend fallbacks included."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from tests import _graph_models

runner = CliRunner()
GOOD = Path(__file__).resolve().parents[2] / "fixtures" / "hostile" / "good"


@pytest.fixture(scope="module")
def lstm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _graph_models.built("lstm", tmp_path_factory.mktemp("graphs"), ("tfjs",))


def check(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["check", *args, "--json"])
    assert result.stdout, result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_graph_formats_as_reference_and_as_copies() -> None:
    code, report = check(str(GOOD / "tiny_frozen.pb"), str(GOOD / "tiny_k3.keras"), str(GOOD / "tiny_tf1" / "model.ckpt"),
                         str(GOOD / "tiny_tfjs_pb"), str(GOOD / "tiny_tfjs_graph"))
    assert code == 0, report
    assert report["reference"]["format"] == "pb" and report["reference"]["runtime"].startswith("TF ")
    assert [pair["model"]["format"] for pair in report["pairs"]] == ["keras", "metagraph", "tfjs-pb", "tfjs"]
    assert report["pairs"][3]["model"]["runtime"].startswith("TF.js")


def test_a_tensorflowjs_converter_lstm_runs_in_tfjs(lstm: Path) -> None:
    # tensorflowjs_converter lowers the Keras 3 LSTM's while loop: wasm lacks its fused rank-3 "bias", and
    # executeAsync cannot schedule the loop's control inputs as written. The cpu backend runs it without them.
    code, report = check(str(lstm / "model.keras"), str(lstm / "tfjs"))
    assert code == 0, report
    pair = report["pairs"][0]
    assert " cpu " in pair["model"]["runtime"]
    assert any("wasm cannot run this model (_FusedMatMul only supports rank-1 bias" in note for note in pair["notes"])
    assert any("ran without them" in note for note in pair["notes"])


def test_convkit_writes_a_tfjs_lstm_that_runs_as_written(lstm: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["convert", str(lstm / "saved_model"), "--to", "tfjs", "-o", str(tmp_path / "js"),
                                 "--json"])
    assert result.exit_code == 0, result.stderr  # verified in TF.js before it was put in place
    topology = json.loads((tmp_path / "js" / "model.json").read_text())["modelTopology"]
    assert any(node["op"] == "Enter" for node in topology["node"])
    assert not any(name.startswith("^") for node in topology["node"] for name in node.get("input", []))
    code, report = check(str(lstm / "model.keras"), str(tmp_path / "js"))
    assert code == 0 and not any("ran without them" in note for note in report["pairs"][0]["notes"]), report


def test_a_lowered_lstm_loop_is_raised_for_onnx(lstm: Path, tmp_path: Path) -> None:
    # The TF1-style loop of tensorflowjs_converter's LSTM, which tf2onnx cannot write as it is.
    result = runner.invoke(app, ["convert", str(lstm / "tfjs"), "--to", "onnx", "-o", str(tmp_path / "lstm.onnx")])
    assert result.exit_code == 0, result.stderr
    code, report = check(str(lstm / "model.keras"), str(tmp_path / "lstm.onnx"))
    assert code == 0, report
