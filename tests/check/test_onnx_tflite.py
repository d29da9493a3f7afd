"""`convkit check` on ONNX and TFLite copies: onnxruntime and LiteRT runs, and copies that really differ.

Two broken copies: an ONNX file with one initializer value nudged, and a
TFLite file made the way TFLiteConverter users make recurrent models (batch
fixed to 1, fused ``UNIDIRECTIONAL_SEQUENCE_LSTM``), whose LSTM kernel drifts
from Keras on inputs with real signal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from tests.check import _models

runner = CliRunner()


def _invoke(*args: object):
    return runner.invoke(app, ["check", *map(str, args)])


@pytest.fixture(scope="module")
def k2_onnx(trained_k2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from convkit.convert import convert

    return _models.cached(tmp_path_factory, "k2.onnx", lambda out: convert(trained_k2 / "my_model.h5", "onnx", out))


def _nudge_onnx(source: Path, out: Path, initializer_part: str, delta: float) -> str:
    """Copies an ONNX model and adds ``delta`` to element 0 of the first 1-D initializer whose name holds ``initializer_part``."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(source))
    tensor = next(t for t in model.graph.initializer if initializer_part in t.name and len(t.dims) == 1)
    values = numpy_helper.to_array(tensor).copy()
    values.flat[0] += np.float32(delta)
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    onnx.save(model, str(out))
    return tensor.name


def test_onnx_copy_passes_in_onnxruntime(trained_k2: Path, k2_onnx: Path) -> None:
    result = _invoke(trained_k2 / "my_model.h5", k2_onnx, "--json")
    assert result.exit_code == 0, result.output
    (pair,) = json.loads(result.stdout)["pairs"]
    assert pair["model"]["runtime"].startswith("onnxruntime 1.31") and pair["model"]["format"] == "onnx"
    (output,) = pair["outputs"]
    assert output["max_abs"] < 1e-4 and output["top1_agreement"] == 1.0


def test_onnx_copy_with_one_bias_nudged_exits_1(trained_k2: Path, k2_onnx: Path, tmp_path: Path) -> None:
    nudged = tmp_path / "nudged.onnx"
    name = _nudge_onnx(k2_onnx, nudged, "dense_1/bias", 1e-3)  # the output layer's bias, as the native writer names it
    result = _invoke(trained_k2 / "my_model.h5", k2_onnx, nudged, "--mnist", 100)
    assert result.exit_code == 1, result.output
    assert f"FAIL {nudged}: output dense_1: max abs error 0.001" in result.stdout, (name, result.stdout)
    assert "PASSED" not in result.stdout and "FAILED: 1 of 2 copies" in result.stdout


@pytest.fixture(scope="module")
def lstm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tf_keras LSTM (.h5), and a TFLite copy made with the batch fixed to 1 (fused LSTM kernel)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras

    folder = tmp_path_factory.mktemp("lstm")
    model = tf_keras.Sequential([tf_keras.Input((7, 4), name="steps"), tf_keras.layers.LSTM(6, name="lstm"),
                                 tf_keras.layers.Dense(3, name="out")])
    rng = np.random.default_rng(2)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 0.3, size=tuple(variable.shape)).astype("float32"))
    model.save(folder / "lstm.h5")
    function = tf.function(lambda steps: {"out": model(steps)},
                           input_signature=[tf.TensorSpec((1, 7, 4), tf.float32, name="steps")])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], model)
    (folder / "fused.tflite").write_bytes(converter.convert())
    return {"h5": folder / "lstm.h5", "fused": folder / "fused.tflite", "folder": folder}


def test_fused_lstm_copy_differs_and_exits_1(lstm: dict[str, Path]) -> None:
    from convkit.formats import tflite

    ops = {row["op"] for row in tflite.inspect(lstm["fused"]).to_dict()["ops"]}
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops
    result = _invoke(lstm["h5"], lstm["fused"], "--random", 64, "--json")
    assert result.exit_code == 1, result.output
    (pair,) = json.loads(result.stdout)["pairs"]
    assert pair["model"]["runtime"].startswith("LiteRT 2.3")
    (output,) = pair["outputs"]
    assert not output["passed"] and output["max_abs"] > 1e-3
    assert any("batch fixed to 1" in note for note in pair["notes"])


def test_convkit_converts_the_same_lstm_so_that_litert_matches(lstm: dict[str, Path]) -> None:
    from convkit.convert import convert

    out = lstm["folder"] / "unrolled.tflite"
    assert convert(lstm["h5"], "tflite", out).kind == "builtin-unrolled"
    result = _invoke(lstm["h5"], out, "--random", 64)
    assert result.exit_code == 0, result.output


def test_all_formats_lists_onnx_and_tflite() -> None:
    from convkit.convert_and_check import all_targets

    targets = all_targets()
    assert ("onnx", None) in targets and ("tflite", None) in targets
