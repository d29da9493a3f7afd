"""Keras models of both generations, from every source format, to ONNX and TFLite.

Every output is checked by convkit's check engine in its own runtime:
onnxruntime for ONNX, the standalone LiteRT interpreter for TFLite. The
representative subset runs in ``make test``; the full matrix is marked slow.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from convkit.convert import convert
from convkit.errors import UsageError, WriteError
from tests.convert.conftest import assert_same_predictions

runner = CliRunner()


def _to(src: Path, to: str, out: Path, like: Path | None = None, **options) -> dict:
    result = convert(src, to, out, like=like, **options).to_dict()
    report = assert_same_predictions(src, out, like=like)
    (pair,) = report["pairs"]
    runtime = pair["model"]["runtime"]
    assert runtime.startswith("onnxruntime 1.31" if to == "onnx" else "LiteRT 2.3"), runtime
    return result


# ---------------------------------------------------------------- make test


def test_tutorial_keras3_archive_to_onnx_and_tflite(trained_k3: Path, tmp_path: Path) -> None:
    onnx = _to(trained_k3 / "my_model.keras", "onnx", tmp_path / "m.onnx")
    assert onnx["kind"] == "native-opset-17"
    tflite = _to(trained_k3 / "my_model.keras", "tflite", tmp_path / "m.tflite")
    assert tflite["kind"] == "builtin" and not any("Flex" in w for w in tflite["warnings"])
    from convkit.formats import onnx as onnx_format
    from convkit.formats import tflite as tflite_format

    (onnx_input,) = onnx_format.inspect(tmp_path / "m.onnx").to_dict()["inputs"]
    assert onnx_input["shape"][1] == 784 and isinstance(onnx_input["shape"][0], str)  # open batch
    assert tflite_format.inspect(tmp_path / "m.tflite").to_dict()["signatures"][0]["key"] == "serving_default"


def test_recurrent_model_is_unrolled_for_litert(zoo_k2: Path, tmp_path: Path) -> None:
    """An Embedding+LSTM+GRU model: LiteRT runs it with builtin ops, and it predicts what tf_keras predicts."""
    result = _to(zoo_k2 / "rnn.h5", "tflite", tmp_path / "rnn.tflite")
    assert result["kind"] == "builtin-unrolled"
    assert any("unrolled" in warning for warning in result["warnings"])
    from convkit.formats import tflite as tflite_format

    summary = tflite_format.inspect(tmp_path / "rnn.tflite").to_dict()["summary"]
    assert summary["flex_ops"] == [] and summary["subgraphs"] == 1  # no WHILE loop bodies


def test_int8_is_calibrated_and_passes_its_stated_tolerance(trained_k3: Path, tmp_path: Path) -> None:
    out = tmp_path / "int8.tflite"
    result = convert(trained_k3 / "my_model.keras", "tflite", out, quantize="int8")
    assert result.kind == "builtin-int8"
    from convkit.check import check

    report = check(trained_k3 / "my_model.keras", [out]).to_dict()
    (pair,) = report["pairs"]
    assert pair["model"]["quantization"] == "int8"
    (output,) = pair["outputs"]
    assert output["tolerance_source"] == "default for int8-quantized weights"
    assert output["passed"] and output["top1_agreement"] > 0.99 and output["max_abs"] > 1e-3  # really quantized


def test_options_that_do_not_fit_are_refused_before_writing(trained_k3: Path, tmp_path: Path) -> None:
    src = trained_k3 / "my_model.keras"
    cases = [
        (["--to", "onnx", "--opset", "7"], "--opset 7 is outside"),
        (["--to", "tflite", "--opset", "17"], "--opset applies to --to onnx only"),
        (["--to", "tflite", "--quantize", "uint8"], "unknown TFLite quantization 'uint8'"),
        (["--to", "onnx", "--quantize", "int8"], "--quantize"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        result = runner.invoke(app, ["convert", str(src), *args, "-o", str(out)])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith("Error: ") and message in result.stderr
        assert not out.exists()


def test_onnx_and_tflite_sources_are_refused_with_the_reason(tmp_path: Path) -> None:
    from tests.formats.test_onnx import _model

    src = tmp_path / "toy.onnx"
    src.write_bytes(_model().SerializeToString())
    with pytest.raises(UsageError, match="onnx2tf 1.28.8 imports onnx_graphsurgeon"):
        convert(src, "keras", tmp_path / "back.keras")
    assert not (tmp_path / "back.keras").exists()


def test_the_smoke_run_carries_the_runtime_error(tmp_path: Path) -> None:
    """The smoke run reports what onnxruntime says about a file it cannot run; a TFLite file's need for Flex
    ops is read from the file, and such a file runs in TensorFlow's interpreter, which links the Flex delegate."""
    from convkit.formats import tflite as tflite_format
    from convkit.registry import get_format
    from convkit.runtimes.smoke import smoke_run
    from tests.formats.test_onnx import _model

    from convkit.errors import RunError
    from convkit.runtimes.open import open_runner

    toy = tmp_path / "toy.onnx"
    toy.write_bytes(_model().SerializeToString())  # its com.example.FancyGate op exists nowhere
    with pytest.raises(WriteError, match="does not load or run .*onnxruntime could not (load|run) the model .*FancyGate"):
        smoke_run(toy, get_format("onnx"))
    with pytest.raises(RunError, match="onnxruntime could not (load|run) the model .*FancyGate"):  # in check too
        open_runner(toy).load()
    flex = tmp_path / "flex.tflite"
    _lstm_flex_tflite(flex)
    assert tflite_format.flex_ops(flex)
    assert smoke_run(flex, get_format("tflite")).startswith("tf.lite.Interpreter")


def _lstm_flex_tflite(out: Path) -> None:
    import tensorflow as tf
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((5, 2)), tf_keras.layers.LSTM(4)])
    function = tf.function(lambda steps: {"state": model(steps)},
                           input_signature=[tf.TensorSpec((None, 5, 2), tf.float32, name="steps")])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    converter._experimental_lower_tensor_list_ops = False
    out.write_bytes(converter.convert())


# ---------------------------------------------------------------- the full matrix (slow)

TARGETS = {"onnx": "m.onnx", "tflite": "m.tflite"}


@pytest.mark.slow
@pytest.mark.parametrize("to", TARGETS)
@pytest.mark.parametrize("source", ["cnn.keras", "cnn.h5", "two_io.keras", "two_io.h5", "rnn.keras", "rnn_v2.h5"])
def test_matrix_keras3(zoo_k3: Path, tmp_path: Path, source: str, to: str) -> None:
    _to(zoo_k3 / source, to, tmp_path / TARGETS[to])


@pytest.mark.slow
@pytest.mark.parametrize("to", TARGETS)
@pytest.mark.parametrize("source", ["cnn.h5", "two_io.h5", "rnn.h5", "rnn_v2.h5"])
def test_matrix_keras2(zoo_k2: Path, tmp_path: Path, source: str, to: str) -> None:
    _to(zoo_k2 / source, to, tmp_path / TARGETS[to])


@pytest.mark.slow
@pytest.mark.parametrize("to", TARGETS)
def test_matrix_other_sources(zoo_k3: Path, zoo_k2: Path, k2_saved_model: Path, tmp_path: Path, to: str) -> None:
    """Legacy Keras SavedModel, weights-only files with --like, TF.js layers models."""
    _to(k2_saved_model, to, tmp_path / ("sm_" + TARGETS[to]))
    _to(zoo_k3 / "cnn.weights.h5", to, tmp_path / ("w_" + TARGETS[to]), like=zoo_k3 / "cnn.keras")
    _to(zoo_k2 / "two_io_ckpt" / "ckpt", to, tmp_path / ("ck_" + TARGETS[to]), like=zoo_k2 / "two_io.h5")
    tfjs = tmp_path / "rnn_tfjs"
    convert(zoo_k2 / "rnn_v2.h5", "tfjs", tfjs)
    _to(tfjs, to, tmp_path / ("tfjs_" + TARGETS[to]))


@pytest.mark.slow
@pytest.mark.parametrize("to", TARGETS)
@pytest.mark.parametrize("source", ["my_model.h5", "my_model.keras", "saved_model/my_model"])
def test_matrix_tutorial(trained: Path, tmp_path: Path, source: str, to: str) -> None:
    _to(trained / source, to, tmp_path / TARGETS[to])


@pytest.mark.slow
@pytest.mark.parametrize("quantize", ["dynamic", "float16", "int8"])
def test_matrix_tutorial_quantized(trained: Path, tmp_path: Path, quantize: str) -> None:
    out = tmp_path / f"{quantize}.tflite"
    convert(trained / "my_model.h5", "tflite", out, quantize=quantize)
    from convkit.check import check

    report = check(trained / "my_model.h5", [out])
    assert report.passed, report.to_dict()
    assert report.to_dict()["pairs"][0]["model"]["quantization"] == quantize
