"""The two ONNX routes: the native writer where it covers the model, tf2onnx otherwise, and how to choose.

What a user sees: ``convert --to onnx`` of a Keras file writes natively
without importing TensorFlow; a model with a layer the native writer does not
cover goes through tf2onnx with a warning naming the layer, or exits 2 with
``--onnx-route native``; weights past the protobuf limit land in external
data beside the model, which check and inspect read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from convkit.convert import convert as engine_convert
from tests.convert.conftest import assert_same_predictions

runner = CliRunner()
BLOCKED = ("tensorflow", "keras", "tf_keras", "tensorflowjs", "tf2onnx")

CHILD = r"""
import json, sys
from typer.testing import CliRunner
from convkit.cli.main import app

results = []
for src, out in zip(sys.argv[1::2], sys.argv[2::2]):
    result = CliRunner().invoke(app, ["convert", src, "--to", "onnx", "-o", out, "--json"])
    results.append({"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr})
print(json.dumps({"results": results,
                  "loaded": sorted(m for m in sys.modules if m.split(".")[0] in %r)}))
""" % (BLOCKED,)


def test_native_route_never_imports_tensorflow(trained_k2: Path, zoo_k3: Path, zoo_k2: Path,
                                               tmp_path: Path) -> None:
    """``convert model.h5 --to onnx`` in a process where importing TensorFlow (or Keras, or tf2onnx) fails."""
    for name in BLOCKED:
        package = tmp_path / "blocked" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f"raise ImportError('{name} must not be imported by the native route')\n")
    sources = [trained_k2 / "my_model.h5", zoo_k2 / "cnn.h5", zoo_k3 / "cnn.keras", zoo_k3 / "two_io.keras"]
    outs = [tmp_path / f"{index}.onnx" for index in range(len(sources))]
    argv = [str(path) for pair in zip(sources, outs) for path in pair]
    child = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "blocked"), *sys.path])))
    assert child.returncode == 0, child.stderr[-3000:]
    document = json.loads(child.stdout)
    assert document["loaded"] == []
    for result in document["results"]:
        assert result["exit_code"] == 0, result["stderr"]
        assert json.loads(result["stdout"])["kind"] == "native-opset-17"
    for src, out in zip(sources, outs):
        assert_same_predictions(src, out)  # each copy in onnxruntime against its Keras source


@pytest.fixture(scope="module")
def masked_lstm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tf_keras model whose Embedding masks padding for its LSTM: the native writer refuses the mask."""
    import tf_keras

    L = tf_keras.layers
    model = tf_keras.Sequential([tf_keras.Input((6,), dtype="int32"), L.Embedding(12, 4, mask_zero=True, name="words"),
                                 L.LSTM(3, name="reader"), L.Dense(2, name="logits")])
    path = tmp_path_factory.mktemp("masked") / "masked.h5"
    model.save(path)
    return path


def test_uncovered_layer_goes_through_tf2onnx_with_a_warning(masked_lstm: Path, tmp_path: Path) -> None:
    out = tmp_path / "masked.onnx"
    result = runner.invoke(app, ["convert", str(masked_lstm), "--to", "onnx", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["kind"] == "tf2onnx-opset-17"
    (warning,) = [w for w in document["warnings"] if "native ONNX writer" in w]
    assert "layer 'words' (Embedding)" in warning and "mask_zero" in warning and "tf2onnx wrote" in warning
    assert_same_predictions(masked_lstm, out)


def test_native_route_on_an_uncovered_model_exits_2_naming_the_layer(masked_lstm: Path, tmp_path: Path) -> None:
    out = tmp_path / "masked.onnx"
    result = runner.invoke(app, ["convert", str(masked_lstm), "--to", "onnx", "--onnx-route", "native",
                                 "-o", str(out)])
    assert result.exit_code == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("Error: ") and "layer 'words' (Embedding)" in last and "--onnx-route tf2onnx" in last
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_tf2onnx_route_on_request(zoo_k2: Path, tmp_path: Path) -> None:
    out = tmp_path / "cnn.onnx"
    result = engine_convert(zoo_k2 / "cnn.h5", "onnx", out, onnx_route="tf2onnx")
    assert result.kind == "tf2onnx-opset-17" and not any("native" in w for w in result.warnings)
    assert_same_predictions(zoo_k2 / "cnn.h5", out)


def test_route_option_is_checked_before_writing(zoo_k2: Path, tmp_path: Path) -> None:
    cases = [(["--to", "tflite", "--onnx-route", "native"], "--onnx-route applies to --to onnx only"),
             (["--to", "onnx", "--onnx-route", "fast"], "not one of native, tf2onnx")]
    for args, message in cases:
        out = tmp_path / "out"
        result = runner.invoke(app, ["convert", str(zoo_k2 / "cnn.h5"), *args, "-o", str(out)])
        assert result.exit_code == 2, result.output
        assert message in result.stderr
        assert not out.exists()


def test_weights_past_the_limit_go_to_external_data(zoo_k3: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With the limit lowered, the route writes OUT.data beside OUT, verified and renamed into place."""
    from convkit.convert.writers.onnx_native import protobuf

    monkeypatch.setattr(protobuf, "EXTERNAL_DATA_BYTES", 1024)
    out = tmp_path / "models" / "cnn.onnx"
    result = engine_convert(zoo_k3 / "cnn.keras", "onnx", out)
    assert result.kind == "native-opset-17"
    assert sorted(p.name for p in out.parent.iterdir()) == ["cnn.onnx", "cnn.onnx.data"]
    assert (out.parent / "cnn.onnx.data").stat().st_size > 1024
    assert_same_predictions(zoo_k3 / "cnn.keras", out)
    from convkit.formats import onnx as onnx_format

    report = onnx_format.inspect(out, weights=True).to_dict()
    stored = {row["location"] for row in report["initializers"] if row["stored"] == "external"}
    assert stored == {"cnn.onnx.data"}
