"""HDF5 inspection: legacy full models of both generations, both weights-only layouts, hostile files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from convkit.errors import ReadError
from convkit.formats import hdf5

MODEL_PARAMETERS = 784 * 512 + 512 + 512 * 10 + 10


def test_legacy_full_model(trained: Path) -> None:
    report = hdf5.inspect(trained / "my_model.h5").to_dict()
    assert report["format"] == "h5" and report["kind"] == "legacy-full-model"
    assert report["keras_version"] and report["backend"] == "tensorflow"
    assert report["model"]["class_name"] == "Sequential"
    assert report["model_config"]["class_name"] == "Sequential"
    assert "loss" in report["training_config"]
    dense = [row for row in report["layers"] if row["class_name"] == "Dense"]
    assert [row["parameters"] for row in dense] == [784 * 512 + 512, 512 * 10 + 10]
    assert report["summary"]["parameters"] == MODEL_PARAMETERS
    assert report["summary"]["bytes"] == MODEL_PARAMETERS * 4
    assert report["optimizer_weights"], "the tutorial saves the optimizer state too"
    names = [child["name"] for child in report["tree"]["children"]]
    assert "model_weights" in names and "optimizer_weights" in names
    assert report["tree"]["attrs"]["model_config"].startswith("<JSON")


def test_weights_statistics_match_h5py(trained_k2: Path) -> None:
    import h5py

    report = hdf5.inspect(trained_k2 / "my_model.h5", weights=True).to_dict()
    row = next(r for r in report["weights"] if r["shape"] == [784, 512])
    with h5py.File(trained_k2 / "my_model.h5") as h5:
        value = h5["model_weights"][row["layer"]][row["name"]][()]
    assert row["stats"]["max"] == pytest.approx(float(np.max(value)))
    assert row["stats"]["mean"] == pytest.approx(float(np.mean(value)), abs=1e-7)


def test_keras3_weights_only(k3_weights_h5: Path) -> None:
    report = hdf5.inspect(k3_weights_h5).to_dict()
    assert report["kind"] == "keras3-weights"
    assert report["model_config"] is None
    assert [row["layer"] for row in report["layers"]] == ["dense", "dense_1"]
    assert report["summary"]["parameters"] == MODEL_PARAMETERS
    assert report["summary"]["optimizer_weights"] > 0


def test_keras2_weights_only(k2_weights_h5: Path) -> None:
    report = hdf5.inspect(k2_weights_h5).to_dict()
    assert report["kind"] == "keras2-weights"
    assert report["summary"]["parameters"] == MODEL_PARAMETERS
    assert {row["name"] for row in report["weights"]} >= {"dense/kernel:0", "dense_1/bias:0"}


def test_lambda_layer_is_flagged_not_run(trained_k2: Path, tmp_path: Path) -> None:
    import h5py

    path = Path(shutil.copy(trained_k2 / "my_model.h5", tmp_path / "lambda.h5"))
    marker = tmp_path / "ran"
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        # A Lambda whose "code" would create a file if anything ever evaluated it.
        config["config"]["layers"].insert(2, {
            "class_name": "Lambda",
            "config": {"name": "evil", "function": [f"open({str(marker)!r}, 'w')", None, None], "function_type": "lambda"},
        })
        h5.attrs["model_config"] = json.dumps(config)
    report = hdf5.inspect(path).to_dict()
    (flagged,) = report["model"]["code_layers"]
    assert flagged["class_name"] == "Lambda" and "code" in flagged["reason"]
    row = next(r for r in report["layers"] if r["layer"] == "evil")
    assert row["code"]
    assert report["summary"]["code_layers"] == 1
    assert not marker.exists()


def test_truncated_file(trained_k3: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.h5"
    path.write_bytes((trained_k3 / "my_model.h5").read_bytes()[:5000])
    with pytest.raises(ReadError, match="cut.h5"):
        hdf5.inspect(path)


def test_magic_then_garbage(tmp_path: Path) -> None:
    path = tmp_path / "fake.h5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    with pytest.raises(ReadError, match="fake.h5: cannot open as HDF5"):
        hdf5.inspect(path)


def test_attribute_over_the_limit(trained_k3: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from convkit.containers import limits

    monkeypatch.setattr(limits, "MAX_JSON_BYTES", 100)
    with pytest.raises(ReadError, match="model_config.*over convkit's limit"):
        hdf5.inspect(trained_k3 / "my_model.h5")


def test_plain_hdf5_shows_tree(tmp_path: Path) -> None:
    import h5py

    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("group/x", data=np.arange(6, dtype="int16").reshape(2, 3))
        h5["group"].attrs["note"] = "hello"
    report = hdf5.inspect(path).to_dict()
    assert report["kind"] == "hdf5"
    (group,) = report["tree"]["children"]
    assert group["attrs"] == {"note": "hello"}
    assert group["children"][0] == {"name": "x", "kind": "dataset", "shape": [2, 3], "dtype": "int16"}
