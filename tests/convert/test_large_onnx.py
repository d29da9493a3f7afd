"""A Keras model over 2 GB to ONNX: a protobuf ends at 2 GiB, so the weights go to external data beside the
``.onnx``, which ``inspect`` reads and ``check`` runs in onnxruntime against the Keras model, through both
ONNX writers (slow: 2.26 GB built, written three times and run; bench/large_onnx_bench.py measures the same
steps)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> Any:
    """bench/large_onnx_bench.py, whose model (``BUILD``, ``INPUTS``, ``UNITS``) this test converts too."""
    spec = importlib.util.spec_from_file_location("large_onnx_bench", ROOT / "bench" / "large_onnx_bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _convkit(*args: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    return subprocess.run([sys.executable, "-m", "convkit", *map(str, args)], capture_output=True, text=True,
                          env=env, check=False)


@pytest.mark.slow
def test_a_dense_stack_over_2_gb_goes_to_onnx_with_external_data_and_passes_check(tmp_path: Path) -> None:
    bench = _bench()
    source = tmp_path / "big.keras"
    subprocess.run([sys.executable, "-c", bench.BUILD, str(source)], check=True)  # in a child: its memory goes back
    weights = sum(a * b + b for a, b in zip((bench.INPUTS, *bench.UNITS), bench.UNITS))
    assert weights * 4 > 2 * 1024**3

    out = tmp_path / "onnx" / "big.onnx"
    converted = _convkit("convert", source, "--to", "onnx", "-o", out, "--json")
    assert converted.returncode == 0, converted.stderr[-2000:]
    assert any("external data to big.onnx.data" in warning for warning in json.loads(converted.stdout)["warnings"])
    assert sorted(path.name for path in out.parent.iterdir()) == ["big.onnx", "big.onnx.data"]
    assert out.stat().st_size < 1024**2
    assert (out.parent / "big.onnx.data").stat().st_size >= weights * 4

    inspected = _convkit("inspect", out, "--json")
    assert inspected.returncode == 0, inspected.stderr[-2000:]
    report = json.loads(inspected.stdout)
    assert report["kind"] == "external-data"
    assert report["summary"]["external_initializers"] >= 4

    # The same through tf2onnx, which converts the graph with the weights lifted out (convkit writes them).
    other = tmp_path / "tf2onnx" / "big.onnx"
    converted = _convkit("convert", source, "--to", "onnx", "--onnx-route", "tf2onnx", "-o", other, "--json")
    assert converted.returncode == 0, converted.stderr[-2000:]
    assert json.loads(converted.stdout)["kind"].startswith("tf2onnx-")
    assert (other.parent / "big.onnx.data").stat().st_size >= weights * 4

    checked = _convkit("check", source, out, other, "--random", "16", "--json")
    assert checked.returncode == 0, checked.stderr[-2000:]
    document = json.loads(checked.stdout)
    assert document["passed"], document["failures"]
    for pair in document["pairs"]:
        assert pair["outputs"][0]["shape"] == [16, 10]
        assert pair["outputs"][0]["top1_agreement"] == 1.0


def test_every_variable_read_becomes_an_input_so_tf2onnx_holds_no_weights(tmp_path: Path) -> None:
    """A Keras model's serving function: each variable read once, as a Placeholder; no weights in the graph."""
    import keras

    from convkit.convert.serving import from_live
    from convkit.convert.writers.onnx import lift_variables

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,), name="features"), keras.layers.Dense(5, name="hidden"),
                              keras.layers.Dense(3, name="scores")])
    lifted = lift_variables(from_live(model, "Keras 3").function())
    assert lifted is not None
    assert sorted(tuple(variable.shape) for variable in lifted.variables.values()) == sorted(
        tuple(weight.shape) for weight in model.weights)
    ops = {node.op for node in lifted.graph_def.node}
    assert "ReadVariableOp" not in ops and "VarHandleOp" not in ops
    assert all(node.op != "Const" or node.attr["value"].tensor.ByteSize() < 64 for node in lifted.graph_def.node)
    assert lifted.renames[lifted.input_names[0]] == "features"


def test_a_graph_reading_variables_inside_called_functions_takes_tf2onnx_s_own_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restored SavedModel's signature calls its functions: not lifted, still written with external data
    and checked."""
    from convkit.convert.serving import from_saved_model
    from convkit.convert.writers import onnx as onnx_writer
    from convkit.convert.writers.onnx_native import protobuf
    from tests._cli import check_json, convert_json
    from tests._signatures import build_two_signatures

    paths = build_two_signatures(tmp_path)
    assert onnx_writer.lift_variables(from_saved_model(paths["one"]).function()) is None
    monkeypatch.setattr(protobuf, "EXTERNAL_DATA_BYTES", 16)
    out = tmp_path / "onnx" / "scores.onnx"
    result = convert_json(paths["one"], "--to", "onnx", "-o", out)
    assert result["kind"].startswith("tf2onnx-")
    assert any("external data to scores.onnx.data" in warning for warning in result["warnings"])
    checked = check_json(paths["one"], out, "--random", "8")
    assert checked["passed"], checked["failures"]
