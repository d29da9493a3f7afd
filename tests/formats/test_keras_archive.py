"""`.keras` archive inspection, Lambda flagging and hostile zips."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from convkit.errors import ReadError
from convkit.formats import keras_archive


def test_archive_contents(trained: Path) -> None:
    report = keras_archive.inspect(trained / "my_model.keras").to_dict()
    assert report["format"] == "keras" and report["kind"] == "keras3-archive"
    names = {entry["name"] for entry in report["entries"]}
    assert {"metadata.json", "config.json", "model.weights.h5"} <= names
    assert report["keras_version"]  # tf_keras writes this archive format too (version 2.x)
    assert report["metadata"]["keras_version"] == report["keras_version"]
    assert report["model"]["class_name"] == "Sequential"
    dense = [row for row in report["layers"] if row["class_name"] == "Dense"]
    assert [row["parameters"] for row in dense] == [784 * 512 + 512, 512 * 10 + 10]
    assert report["summary"]["parameters"] == 407050
    assert report["weights_tree"]["children"]
    assert report["compile_config"] is None or "loss" in report["compile_config"]


def _rewrite(source: Path, target: Path, change) -> Path:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, change(info.filename, src.read(info.filename)))
    return target


def test_lambda_layer_is_flagged(trained_k3: Path, tmp_path: Path) -> None:
    def add_lambda(name: str, data: bytes) -> bytes:
        if name != "config.json":
            return data
        config = json.loads(data)
        config["config"]["layers"].append({
            "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": "lam", "function": {"class_name": "__lambda__", "config": {"code": "4wAAAA=="}}},
        })
        return json.dumps(config).encode()

    path = _rewrite(trained_k3 / "my_model.keras", tmp_path / "lambda.keras", add_lambda)
    report = keras_archive.inspect(path).to_dict()
    assert [c["layer"] for c in report["model"]["code_layers"]] == ["sequential/lam"]
    assert report["summary"]["code_layers"] == 1


def test_truncated_archive(trained_k3: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.keras"
    path.write_bytes((trained_k3 / "my_model.keras").read_bytes()[:3000])
    with pytest.raises(ReadError, match="cut.keras: not a readable zip archive"):
        keras_archive.inspect(path)


def test_zip_without_config_is_not_accepted(tmp_path: Path) -> None:
    path = tmp_path / "other.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hi")
    assert not keras_archive.accept(path)
    with pytest.raises(ReadError, match="no config.json"):
        keras_archive.inspect(path)


def test_zip_bomb_member_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", "{}")
        archive.writestr("model.weights.h5", b"\x00" * (8 * 1024 * 1024))
    with pytest.raises(ReadError, match="model.weights.h5.*zip bomb"):
        keras_archive.inspect(path)


def test_bad_config_json(trained_k3: Path, tmp_path: Path) -> None:
    path = _rewrite(trained_k3 / "my_model.keras", tmp_path / "bad.keras",
                    lambda name, data: b"{not json" if name == "config.json" else data)
    with pytest.raises(ReadError, match="config.json is not valid JSON"):
        keras_archive.inspect(path)
