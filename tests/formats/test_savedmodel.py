"""SavedModel inspection on both Keras generations' SavedModels, and broken ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from convkit.errors import ReadError
from convkit.formats import savedmodel


def test_keras3_export_signatures(trained_k3: Path) -> None:
    report = savedmodel.inspect(trained_k3 / "saved_model" / "my_model").to_dict()
    assert report["format"] == "savedmodel" and report["kind"] == "saved-model"
    assert report["schema_version"] == 1
    graph = report["meta_graphs"][0]
    assert graph["tags"] == ["serve"]
    assert graph["tensorflow_version"].startswith("2.19")
    serving = next(s for s in graph["signatures"] if s["key"] == "serving_default")
    assert serving["method"] == "tensorflow/serving/predict"
    (only_input,) = serving["inputs"]
    assert only_input["dtype"] == "float32" and only_input["shape"] == [None, 784]
    assert only_input["name"].endswith(":0")
    (only_output,) = serving["outputs"]
    assert only_output["shape"] == [None, 10]
    assert graph["graph"]["ops"]["VarHandleOp"] >= 4
    assert graph["function_library"]["functions"] > 0
    assert sum(graph["function_library"]["ops"].values()) > 0
    assert graph["function_library"]["names"]
    assert graph["object_graph"]["variables"] >= 4
    assert report["summary"]["parameters"] == 407050
    assert report["fingerprint"]["saved_model_checksum"] > 0
    assert report["keras_metadata"] is None
    assert report["variables"]["summary"]["tensors"] >= 4  # the variables checkpoint, read like any other


def test_keras2_saved_model_carries_config(trained_k2: Path) -> None:
    report = savedmodel.inspect(trained_k2 / "saved_model" / "my_model").to_dict()
    assert report["kind"] == "keras2-saved-model"
    metadata = report["keras_metadata"]
    assert metadata["present"] and metadata["model"]["class_name"] == "Sequential"
    assert metadata["keras_version"].startswith("2.")
    assert [row["class_name"] for row in report["layers"]] == ["InputLayer", "Dense", "Dropout", "Dense"] or [
        row["class_name"] for row in report["layers"]
    ] == ["Dense", "Dropout", "Dense"]
    assert sum(row["parameters"] for row in report["layers"]) == 407050
    serving = next(s for s in report["meta_graphs"][0]["signatures"] if s["key"] == "serving_default")
    assert serving["inputs"][0]["shape"] == [None, 784]


def test_verify_reaches_the_variables(trained_k3: Path) -> None:
    report = savedmodel.inspect(trained_k3 / "saved_model" / "my_model", verify_crc=True).to_dict()
    assert report["variables"]["verify"]["ok"] is True


def _copy(trained: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained / "saved_model" / "my_model", tmp_path / "m"))


def test_truncated_protobuf(trained_k3: Path, tmp_path: Path) -> None:
    model = _copy(trained_k3, tmp_path)
    pb = model / "saved_model.pb"
    pb.write_bytes(pb.read_bytes()[:777])
    with pytest.raises(ReadError, match="saved_model.pb: not a SavedModel protobuf"):
        savedmodel.inspect(model)


def test_random_bytes_protobuf(tmp_path: Path) -> None:
    import random

    (tmp_path / "saved_model.pb").write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(ReadError, match="saved_model.pb"):
        savedmodel.inspect(tmp_path)


def test_missing_variables(trained_k2: Path, tmp_path: Path) -> None:
    model = _copy(trained_k2, tmp_path)
    (model / "variables" / "variables.data-00000-of-00001").unlink()
    with pytest.raises(ReadError, match="variables.data-00000-of-00001: checkpoint data shard is missing"):
        savedmodel.inspect(model)


def test_protobuf_over_the_size_limit(trained_k3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from convkit.containers import limits

    monkeypatch.setattr(limits, "MAX_PROTO_BYTES", 1000)
    with pytest.raises(ReadError, match="over convkit's limit of 1000 bytes"):
        savedmodel.inspect(trained_k3 / "saved_model" / "my_model")


def test_text_protobuf(trained_k3: Path, tmp_path: Path) -> None:
    from google.protobuf import text_format

    model = _copy(trained_k3, tmp_path)
    message = savedmodel.read_saved_model(model)
    (model / "saved_model.pb").unlink()
    (model / "saved_model.pbtxt").write_text(text_format.MessageToString(message))
    assert savedmodel.accept(model)
    report = savedmodel.inspect(model).to_dict()
    assert report["summary"]["parameters"] == 407050
    assert "serving_default" in report["summary"]["signatures"]
