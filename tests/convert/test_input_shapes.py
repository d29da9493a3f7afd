"""convert --input-shape: the shapes a SavedModel, ONNX, TFLite or TF.js graph output records, open by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._cli import check_json, convert_json, failure




def _recorded_shape(path: Path) -> list:
    """The first input's shape as the file records it (``None`` for an open dimension)."""
    from convkit.formats import _api

    document = _api.inspect(path).to_dict()
    if document["format"] == "onnx":
        return [dim if isinstance(dim, int) else None for dim in document["inputs"][0]["shape"]]
    if document["format"] == "tflite":
        (signature,) = document["signatures"]
        tensors = {row["name"]: row for row in document["tensors"]}
        row = tensors[signature["inputs"][0]] if signature["inputs"][0] in tensors else None
        if row is None:
            row = next(row for row in document["tensors"] if row["name"].startswith("serving_default_"))
        return [None if dim < 0 else dim for dim in row.get("shape_signature") or row["shape"]]
    if document["format"] == "savedmodel":
        (signature,) = [s for s in document["meta_graphs"][0]["signatures"] if s["key"] == "serving_default"]
        return signature["inputs"][0]["shape"]
    model_json = json.loads((path / "model.json").read_text())
    dims = next(iter(model_json["signature"]["inputs"].values()))["tensorShape"]["dim"]
    return [None if int(dim["size"]) < 0 else int(dim["size"]) for dim in dims]


@pytest.mark.node
def test_a_fixed_batch_is_recorded_by_every_target_and_each_copy_passescheck_json(digits_cnn: Path, tmp_path: Path) -> None:
    copies = []
    for target, name in (("savedmodel", "sm"), ("onnx", "m.onnx"), ("tflite", "m.tflite"), ("tfjs", "web")):
        out = tmp_path / name
        result = convert_json(str(digits_cnn), "--to", target, "--input-shape", "image=1x28x28x1", "-o", str(out))
        assert _recorded_shape(out) == [1, 28, 28, 1], target
        if target == "tfjs":
            assert result["kind"] == "graph" and any("TF.js graph model" in w for w in result["warnings"])
        copies.append(str(out))
    report = check_json(digits_cnn, *copies, "--mnist", "30")
    assert report["passed"] and len(report["pairs"]) == 4


def test_the_batch_stays_open_by_default_and_open_dimensions_can_be_fixed(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, None, 3), name="photo"), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    source = tmp_path / "fcn.keras"
    model.save(source)
    convert_json(str(source), "--to", "onnx", "-o", str(tmp_path / "open.onnx"))
    assert _recorded_shape(tmp_path / "open.onnx") == [None, None, None, 3]
    convert_json(str(source), "--to", "onnx", "--input-shape", "photo=-1,32,24,3", "-o", str(tmp_path / "fixed.onnx"))
    assert _recorded_shape(tmp_path / "fixed.onnx") == [None, 32, 24, 3]
    convert_json(str(source), "--to", "tflite", "--input-shape", "?x16x16x3", "-o", str(tmp_path / "fixed.tflite"))
    assert _recorded_shape(tmp_path / "fixed.tflite") == [None, 16, 16, 3]
    assert check_json(source, tmp_path / "fixed.tflite", "--random", "4")["passed"]


def test_shapes_that_do_not_fit_are_refused_before_writing(digits_cnn: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cases = [
        (["--to", "onnx", "--input-shape", "pixels=1x28x28x1"], "--input-shape names 'pixels', which is not an input "
                                                                 "of the model (inputs: image)"),
        (["--to", "onnx", "--input-shape", "image=1x784"], "has rank 2, but input 'image' has rank 4 (?x28x28x1)"),
        (["--to", "onnx", "--input-shape", "image=1x32x32x1"], "dimension 1 of input 'image' is 28 in the model"),
        (["--to", "onnx", "--input-shape", "image=0x28x28x1"], "dimension 0 must be at least 1"),
        (["--to", "onnx", "--input-shape", "image=one"], "--input-shape takes NAME=DIMS"),
        (["--to", "h5", "--input-shape", "image=1x28x28x1"], "--input-shape applies to targets that record input "
                                                              "shapes (--to savedmodel, --to tfjs, --to onnx, --to "
                                                              "tflite), not --to h5"),
        (["--to", "tfjs", "--tfjs-kind", "layers", "--input-shape", "image=1x28x28x1"], "--input-shape applies to "
                                                                                        "--tfjs-kind graph"),
    ]
    for args, message in cases:
        assert message in failure("convert", digits_cnn, *args, "-o", out)
        assert not out.exists()
