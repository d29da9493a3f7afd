"""Inspecting ONNX models: detection by content, the report, weights statistics, hostile files.

The models are written with the ``onnx`` package's own helpers, so every
expected number (dims, bytes, statistics) is known exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from convkit.errors import ReadError
from convkit.formats import onnx as onnx_format
from convkit.registry import detect

runner = CliRunner()
KERNEL = np.arange(12, dtype=np.float32).reshape(4, 3) / 10.0
BIAS = np.array([1.0, -2.0, 0.5], dtype=np.float32)


def _model(external: Path | None = None, location: str = "weights.bin") -> object:
    from onnx import TensorProto, helper, numpy_helper

    kernel = numpy_helper.from_array(KERNEL, "kernel")
    bias = numpy_helper.from_array(BIAS, "bias")
    if external is not None:
        data = KERNEL.tobytes()
        (external / "weights.bin").write_bytes(data)
        kernel = TensorProto(name="kernel", data_type=TensorProto.FLOAT, dims=KERNEL.shape)
        kernel.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", str(len(data)))):
            entry = kernel.external_data.add()
            entry.key, entry.value = key, value
    then = helper.make_graph([helper.make_node("Relu", ["h"], ["t"])], "then",
                             [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, ["batch", 3])])
    otherwise = helper.make_graph([helper.make_node("Identity", ["h"], ["e"])], "else",
                                  [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, ["batch", 3])])
    nodes = [
        helper.make_node("MatMul", ["x", "kernel"], ["m"]),
        helper.make_node("Add", ["m", "bias"], ["h"]),
        helper.make_node("ReduceSum", ["h"], ["s"], keepdims=0),
        helper.make_node("Cast", ["s"], ["flag"], to=TensorProto.BOOL),
        helper.make_node("If", ["flag"], ["y"], then_branch=then, else_branch=otherwise),
        helper.make_node("FancyGate", ["y"], ["z"], domain="com.example"),
    ]
    graph = helper.make_graph(
        nodes, "toy", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 3])], initializer=[kernel, bias],
    )
    model = helper.make_model(graph, producer_name="convkit-tests", producer_version="1",
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    helper.set_model_props(model, {"author": "tests", "license": "Apache-2.0"})
    return model


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    path = tmp_path / "toy.onnx"
    path.write_bytes(_model().SerializeToString())
    return path


def test_detected_by_content_not_name(toy: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(toy.read_bytes())
    assert detect(renamed).name == "onnx"
    # A SavedModel protobuf starts like a ModelProto (field 1 varint) but has no graph or opsets.
    saved = tmp_path / "saved_model.pb"
    saved.write_bytes(b"\x08\x01\x12\x04abcd")
    assert not onnx_format.accept(saved)
    for junk in (b"", b"\x08", b"\x08\x07\x3a\xff\xff\xff\x0f", b"HDF5 not onnx"):
        (tmp_path / "junk.onnx").write_bytes(junk)
        assert not onnx_format.accept(tmp_path / "junk.onnx")


def test_report_lists_opsets_io_ops_and_initializers(toy: Path) -> None:
    report = onnx_format.inspect(toy).to_dict()
    assert report["format"] == "onnx" and report["ir_version"] == 8 and report["producer"] == "convkit-tests 1"
    assert report["opsets"] == [{"domain": "ai.onnx", "version": 17}, {"domain": "com.example", "version": 1}]
    assert report["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["batch", 4]}]
    assert report["outputs"] == [{"name": "z", "dtype": "float32", "shape": ["batch", 3]}]
    ops = {row["op"]: row for row in report["ops"]}
    # nodes inside the If's branches count too
    assert ops["Relu"]["count"] == 1 and ops["Identity"]["count"] == 1 and ops["If"]["count"] == 1
    assert ops["FancyGate"]["custom"] and not ops["MatMul"]["custom"]
    assert report["summary"]["custom_ops"] == ["com.example.FancyGate"]
    assert report["summary"]["nodes"] == 8
    assert report["initializers"] == [
        {"name": "kernel", "dtype": "float32", "shape": [4, 3], "bytes": 48, "stored": "embedded"},
        {"name": "bias", "dtype": "float32", "shape": [3], "bytes": 12, "stored": "embedded"},
    ]
    assert report["summary"]["parameters"] == 15 and report["summary"]["bytes"] == 60
    assert report["metadata"] == {"author": "tests", "license": "Apache-2.0"}


def test_weights_statistics_are_the_stored_values(toy: Path) -> None:
    rows = {row["name"]: row for row in onnx_format.inspect(toy, weights=True).to_dict()["initializers"]}
    assert rows["kernel"]["stats"]["min"] == 0.0 and rows["kernel"]["stats"]["max"] == pytest.approx(1.1)
    assert rows["bias"]["stats"]["mean"] == pytest.approx(BIAS.mean())


def test_external_data_is_listed_and_read_only_inside_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "ext.onnx"
    path.write_bytes(_model(external=tmp_path).SerializeToString())
    report = onnx_format.inspect(path).to_dict()
    kernel = report["initializers"][0]
    assert kernel["stored"] == "external" and kernel["location"] == "weights.bin"
    assert report["summary"]["external_initializers"] == 1
    stats = onnx_format.inspect(path, weights=True).to_dict()["initializers"][0]["stats"]
    assert stats["max"] == pytest.approx(1.1)
    escaping = tmp_path / "escape.onnx"
    escaping.write_bytes(_model(external=tmp_path, location="../../etc/passwd").SerializeToString())
    onnx_format.inspect(escaping)  # listing is harmless
    with pytest.raises(ReadError, match="outside the model folder"):
        onnx_format.inspect(escaping, weights=True)


def test_truncated_and_forged_files_fail_with_one_line(toy: Path, tmp_path: Path) -> None:
    data = toy.read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReadError, match="not an ONNX model protobuf|no graph"):
        onnx_format.inspect(truncated)
    model = _model()
    model.graph.initializer[0].dims[:] = [1 << 30, 1 << 30]
    forged = tmp_path / "forged.onnx"
    forged.write_bytes(model.SerializeToString())
    with pytest.raises(ReadError, match="over convkit's limit"):
        onnx_format.inspect(forged)
    result = runner.invoke(app, ["inspect", str(truncated), "--format", "onnx"])
    assert result.exit_code == 2 and result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_cli_json_and_table(toy: Path) -> None:
    result = runner.invoke(app, ["inspect", str(toy), "--json", "--weights"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["custom_ops"] == ["com.example.FancyGate"]
    table = runner.invoke(app, ["inspect", str(toy)])
    assert table.exit_code == 0 and "FancyGate" in table.stdout and "com.example" in table.stdout


def test_mutated_files_give_a_report_or_a_read_error(toy: Path, tmp_path: Path) -> None:
    """Random byte damage: every outcome is a report or a ReadError, never another exception."""
    rng = np.random.default_rng(7)
    seed = toy.read_bytes()
    path = tmp_path / "mutated.onnx"
    errors = 0
    for _ in range(300):
        data = bytearray(seed)
        for _ in range(int(rng.integers(1, 6))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data))
        onnx_format.accept(path)
        try:
            json.dumps(onnx_format.inspect(path, weights=True).to_dict())
        except ReadError:
            errors += 1
    assert 0 < errors < 300
