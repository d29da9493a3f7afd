"""Inspecting TFLite flatbuffers: detection, ops and signatures, quantization, Flex ops, hostile files.

The models come from TensorFlow's own TFLiteConverter; convkit's reader is
checked against what the converter was given (the Keras weights, the
signature names) and against LiteRT's own view of the same file.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from convkit.errors import ReadError
from convkit.formats import tflite
from convkit.registry import detect

runner = CliRunner()


def _convert(function, owner, *, quantize: bool = False, flex: bool = False) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], owner)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if flex:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
        converter._experimental_lower_tensor_list_ops = False
    return converter.convert()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A Dense model as float32 and dynamic-range TFLite files, and an LSTM that needs Flex ops."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras

    folder = tmp_path_factory.mktemp("tflite")
    tf_keras.utils.set_random_seed(0)
    dense = tf_keras.Sequential([tf_keras.Input((32,), name="pixels"), tf_keras.layers.Dense(64, activation="relu", name="hidden"),
                                 tf_keras.layers.Dense(3, name="logits")])
    for layer in dense.layers:  # zero biases would be folded away by the converter
        layer.bias.assign(np.linspace(-1.0, 1.0, layer.bias.shape[0]).astype("float32"))

    @tf.function(input_signature=[tf.TensorSpec((None, 32), tf.float32, name="pixels")])
    def serve(pixels):
        return {"scores": dense(pixels)}

    (folder / "dense.tflite").write_bytes(_convert(serve, dense))
    (folder / "dense_dynamic.tflite").write_bytes(_convert(serve, dense, quantize=True))
    lstm = tf_keras.Sequential([tf_keras.Input((5, 2)), tf_keras.layers.LSTM(4)])

    @tf.function(input_signature=[tf.TensorSpec((None, 5, 2), tf.float32, name="steps")])
    def serve_lstm(steps):
        return {"state": lstm(steps)}

    (folder / "lstm_flex.tflite").write_bytes(_convert(serve_lstm, lstm, flex=True))
    return {"folder": folder, "kernel": dense.layers[0].kernel.numpy()}


def test_detected_by_identifier(models: dict, tmp_path: Path) -> None:
    renamed = tmp_path / "model.bin"
    renamed.write_bytes((models["folder"] / "dense.tflite").read_bytes())
    assert detect(renamed).name == "tflite"
    (tmp_path / "short.tflite").write_bytes(b"TFL3")
    assert not tflite.accept(tmp_path / "short.tflite")


def test_report_matches_the_converter_input_and_litert(models: dict) -> None:
    path = models["folder"] / "dense.tflite"
    report = tflite.inspect(path).to_dict()
    assert report["format"] == "tflite" and report["tflite_schema_version"] == 3
    assert report["signatures"] == [{"key": "serving_default", "subgraph": 0, "inputs": ["pixels"], "outputs": ["scores"]}]
    assert {row["op"]: row["count"] for row in report["ops"]} == {"FULLY_CONNECTED": 2}
    assert report["summary"]["parameters"] == 32 * 64 + 64 + 64 * 3 + 3
    assert report["summary"]["flex_ops"] == [] and report["summary"]["quantized_tensors"] == 0
    (main,) = report["subgraphs"]
    assert main["inputs"][0]["shape"] == [-1, 32] and main["inputs"][0]["dtype"] == "float32"
    assert report["min_runtime_version"] and report["min_runtime_version"][0].isdigit()
    from ai_edge_litert.interpreter import Interpreter

    litert = Interpreter(model_path=str(path)).get_tensor_details()
    assert sorted(d["name"] for d in litert) == sorted(row["name"] for row in report["tensors"])
    assert tflite.quantization(path) is None


def test_weight_statistics_are_the_keras_kernel(models: dict) -> None:
    report = tflite.inspect(models["folder"] / "dense.tflite", weights=True).to_dict()
    kernel = models["kernel"]
    (row,) = [row for row in report["tensors"] if row["shape"] == [64, 32]]  # FULLY_CONNECTED stores it transposed
    assert row["stats"]["min"] == pytest.approx(float(kernel.min()))
    assert row["stats"]["max"] == pytest.approx(float(kernel.max()))
    assert row["stats"]["mean"] == pytest.approx(float(kernel.mean()), abs=1e-6)


def test_dynamic_range_quantization_is_shown(models: dict) -> None:
    path = models["folder"] / "dense_dynamic.tflite"
    report = tflite.inspect(path, weights=True).to_dict()
    (row,) = [row for row in report["tensors"] if row["shape"] == [64, 32]]
    assert row["dtype"] == "int8" and row["bytes"] == 64 * 32
    assert row["quantization"]["channels"] == 64
    kernel = models["kernel"]
    assert row["dequantized"]["min"] == pytest.approx(float(kernel.min()), abs=0.02)
    assert tflite.quantization(path) == "dynamic"


def test_flex_ops_are_flagged(models: dict) -> None:
    path = models["folder"] / "lstm_flex.tflite"
    summary = tflite.inspect(path).to_dict()["summary"]
    assert summary["flex_ops"] and all(name.startswith("Flex") for name in summary["flex_ops"])
    assert tflite.uses_flex_ops(path) and not tflite.uses_flex_ops(models["folder"] / "dense.tflite")


def test_damaged_files_fail_with_one_line(models: dict, tmp_path: Path) -> None:
    data = (models["folder"] / "dense.tflite").read_bytes()
    cases = {
        "truncated": data[: len(data) // 3],
        "root_past_end": struct.pack("<I", len(data) + 100) + data[4:],
        "vtable_forged": data[:4] + data[4:8] + b"\xff" * 8 + data[16:],
    }
    for name, content in cases.items():
        path = tmp_path / f"{name}.tflite"
        path.write_bytes(content)
        with pytest.raises(ReadError):
            tflite.inspect(path, weights=True)
        result = runner.invoke(app, ["inspect", str(path)])
        assert result.exit_code == 2, (name, result.output)
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_cli_json(models: dict) -> None:
    result = runner.invoke(app, ["inspect", str(models["folder"] / "lstm_flex.tflite"), "--json", "--weights"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["format"] == "tflite" and document["summary"]["flex_ops"]
    table = runner.invoke(app, ["inspect", str(models["folder"] / "dense.tflite")])
    assert table.exit_code == 0 and "FULLY_CONNECTED" in table.stdout
    assert np.isfinite(document["summary"]["parameters"])


RUNTIMES = ("tensorflow", "keras", "tf_keras", "tensorflowjs", "onnxruntime", "ai_edge_litert", "tf2onnx")
NO_RUNTIME_CHILD = r"""
import json, sys
from typer.testing import CliRunner
from convkit.cli.main import app

runner = CliRunner()
codes = {}
for path in sys.argv[1:]:
    codes[path] = [runner.invoke(app, ["inspect", path, *extra]).exit_code
                   for extra in (["--json", "--weights"], ["--tree"])]
codes["_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print(json.dumps(codes))
""" % (RUNTIMES,)


def test_inspecting_onnx_and_tflite_imports_no_tensorflow_and_no_runtime(models: dict, tmp_path: Path) -> None:
    """A child with TensorFlow, Keras, onnxruntime, LiteRT and tf2onnx all failing on import inspects every file."""
    import subprocess
    import sys

    from tests.formats.test_onnx import _model

    onnx_path = tmp_path / "toy.onnx"
    onnx_path.write_bytes(_model().SerializeToString())
    for name in RUNTIMES:
        package = tmp_path / "blocked" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f"raise ImportError('{name} must not be imported by convkit inspect')\n")
    paths = [onnx_path, *sorted(models["folder"].glob("*.tflite"))]
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "blocked"), str(root)]))
    child = subprocess.run([sys.executable, "-c", NO_RUNTIME_CHILD, *map(str, paths)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    codes = json.loads(child.stdout)
    assert codes.pop("_loaded") == []
    assert codes == {str(path): [0, 0] for path in paths}
    blocked = subprocess.run([sys.executable, "-c", "import onnxruntime"], capture_output=True, text=True, env=env)
    assert blocked.returncode != 0 and "must not be imported" in blocked.stderr


def test_mutated_files_give_a_report_or_a_read_error(models: dict, tmp_path: Path) -> None:
    """Random byte damage: every outcome is a report or a ReadError, never another exception."""
    from convkit.formats import _render
    from rich.console import Console

    rng = np.random.default_rng(7)
    seed = (models["folder"] / "dense_dynamic.tflite").read_bytes()
    path = tmp_path / "mutated.tflite"
    errors = 0
    for _ in range(300):
        data = bytearray(seed)
        for _ in range(int(rng.integers(1, 8))):
            data[int(rng.integers(0, 64 if rng.random() < 0.5 else len(data)))] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        try:
            document = tflite.inspect(path, weights=True).to_dict()
        except ReadError:
            errors += 1
            continue
        json.dumps(document)
        _render.render(document, Console(file=open(os.devnull, "w")))
    assert 0 < errors < 300
