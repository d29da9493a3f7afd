"""ONNX files as onnxruntime gets them: external data checked first, transposed tensors read from the metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from convkit.errors import ReadError
from convkit.formats.onnx import TRANSPOSED_KEY
from convkit.runtimes.onnxruntime import OnnxRunner

KERNEL = (np.arange(12, dtype=np.float32).reshape(4, 3) - 6) / 10.0
runner = CliRunner()


def affine(folder: Path, name: str = "affine.onnx", *, location: str | None = "affine.onnx.data",
           offset: int = 0, length: int | None = None) -> Path:
    """``y = x @ KERNEL`` with the kernel embedded (``location=None``) or in external data at ``location``."""
    from onnx import TensorProto, helper, numpy_helper

    if location is None:
        kernel = numpy_helper.from_array(KERNEL, "kernel")
    else:
        data = KERNEL.tobytes()
        if (folder / location).parent == folder and not (folder / location).exists():
            (folder / location).write_bytes(b"\0" * offset + data)
        kernel = TensorProto(name="kernel", data_type=TensorProto.FLOAT, dims=KERNEL.shape)
        kernel.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(length or len(data)))):
            entry = kernel.external_data.add()
            entry.key, entry.value = key, value
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "kernel"], ["y"])], "affine",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])], initializer=[kernel])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = folder / name
    path.write_bytes(model.SerializeToString())
    return path


def test_external_data_inside_the_folder_runs(tmp_path: Path) -> None:
    model = OnnxRunner(affine(tmp_path, offset=4096))
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(model.infer({"x": x})["y"], x @ KERNEL, rtol=1e-6)
    embedded = affine(tmp_path, "embedded.onnx", location=None)
    result = runner.invoke(app, ["check", str(embedded), str(tmp_path / "affine.onnx"), "--random", "5", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["passed"]


@pytest.mark.parametrize("case", ["outside", "absolute", "link", "folder link", "short", "missing"])
def test_external_data_outside_the_folder_through_a_link_or_short_is_refused(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(KERNEL.tobytes())
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "weights.bin").write_bytes(KERNEL.tobytes())
    if case == "outside":
        path, expected = affine(folder, location="../outside.bin"), "outside the model folder"
    elif case == "absolute":
        path, expected = affine(folder, location=str(tmp_path / "outside.bin")), "outside the model folder"
    elif case == "link":
        os.symlink(tmp_path / "outside.bin", folder / "linked.bin")
        path, expected = affine(folder, location="linked.bin"), "symbolic link"
    elif case == "folder link":
        os.symlink(tmp_path / "elsewhere", folder / "data")
        path, expected = affine(folder, location="data/weights.bin"), "symbolic link"
    elif case == "short":
        path, expected = affine(folder, length=4096), "which holds 48"
    else:
        path, expected = affine(folder, location="gone.bin"), "missing from the model folder"
        (folder / "gone.bin").unlink()
    with pytest.raises(ReadError, match=expected) as error:
        OnnxRunner(path).load()
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    embedded = affine(tmp_path, "embedded.onnx", location=None)
    result = runner.invoke(app, ["check", str(embedded), str(path), "--random", "3"])
    assert result.exit_code == 2
    assert f"Error: {path}: " in result.stderr and expected in result.stderr


def test_transposed_tensors_are_read_from_the_metadata_and_refused_when_forged(tmp_path: Path) -> None:
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "same",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 5, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, 5, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for value, expected in ((json.dumps({"x": [0, 3, 1, 2], "y": [0, 3, 1, 2]}), (0, 3, 1, 2)),
                            (json.dumps({"x": [0, 3, 1, 1]}), None), ("[1, 2]", None), ("{", None)):
        del model.metadata_props[:]
        helper.set_model_props(model, {TRANSPOSED_KEY: value})
        path = tmp_path / "same.onnx"
        path.write_bytes(model.SerializeToString())
        if expected is None:
            with pytest.raises(ReadError, match=TRANSPOSED_KEY):
                OnnxRunner(path).load()
            continue
        loaded = OnnxRunner(path)
        assert [spec.axes for spec in loaded.inputs + loaded.outputs] == [expected, expected]
