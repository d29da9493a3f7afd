"""TF.js inspection on tensorflowjs_converter output, and broken manifests/shards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from convkit.errors import ReadError
from convkit.formats import tfjs


def test_layers_model(tfjs_models: dict[str, Path]) -> None:
    report = tfjs.inspect(tfjs_models["layers"]).to_dict()
    assert report["format"] == "tfjs" and report["kind"] == "layers-model"
    assert report["generated_by"].startswith("keras v2")
    assert report["converted_by"].startswith("TensorFlow.js Converter")
    assert report["topology"]["class_name"] == "Sequential"
    assert report["summary"]["parameters"] == 407050
    assert report["bytes_check"] == {"manifest_bytes": 407050 * 4, "shard_bytes": 407050 * 4, "match": True}
    assert [row["parameters"] for row in report["layers"] if row["class_name"] == "Dense"] == [401920, 5130]
    assert {w["name"] for w in report["weights"]} == {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"}


def test_graph_model(tfjs_models: dict[str, Path]) -> None:
    report = tfjs.inspect(tfjs_models["graph"] / "model.json").to_dict()
    assert report["kind"] == "graph-model"
    assert report["topology"]["nodes"] > 0
    assert {"MatMul", "_FusedMatMul"} & set(report["topology"]["ops"])
    assert report["signature"]["inputs"][0]["shape"] == [-1, 784]
    assert report["bytes_check"]["match"] is True
    assert report["summary"]["parameters"] == 407050


def test_weights_equal_the_source_h5(tfjs_models: dict[str, Path], trained_k2: Path) -> None:
    import h5py

    weights = dict(tfjs.iter_weights(tfjs_models["layers"]))
    quantized = dict(tfjs.iter_weights(tfjs_models["layers_uint8"]))
    with h5py.File(trained_k2 / "my_model.h5") as h5:
        for name, value in weights.items():
            layer = name.split("/")[0]
            expected = h5["model_weights"][layer][f"{name}:0"][()]
            np.testing.assert_array_equal(value, expected)
            assert quantized[name].dtype == np.float32
            step = (expected.max() - expected.min()) / 255
            np.testing.assert_allclose(quantized[name], expected, atol=step * 0.51 + 1e-7)


def test_quantization_is_shown(tfjs_models: dict[str, Path]) -> None:
    report = tfjs.inspect(tfjs_models["layers_uint8"], weights=True).to_dict()
    assert {w["quantization"] for w in report["weights"]} == {"uint8"}
    assert report["bytes_check"]["manifest_bytes"] == 407050
    assert all(w["stats"]["nan"] == 0 for w in report["weights"])


def _copy(tfjs_models: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(tfjs_models["layers"], tmp_path / "m"))


def _edit_manifest(model: Path, change) -> None:
    document = json.loads((model / "model.json").read_text())
    change(document)
    (model / "model.json").write_text(json.dumps(document))


def test_missing_shard_is_named(tfjs_models: dict[str, Path], tmp_path: Path) -> None:
    model = _copy(tfjs_models, tmp_path)
    (model / "group1-shard1of1.bin").unlink()
    with pytest.raises(ReadError, match="group1-shard1of1.bin: weight shard named in model.json is missing"):
        tfjs.inspect(model)


def test_truncated_shard(tfjs_models: dict[str, Path], tmp_path: Path) -> None:
    model = _copy(tfjs_models, tmp_path)
    shard = model / "group1-shard1of1.bin"
    shard.write_bytes(shard.read_bytes()[:-4])
    with pytest.raises(ReadError, match=r"needs 1628200 bytes but its shards hold 1628196"):
        tfjs.inspect(model)


@pytest.mark.parametrize("shard", ["../outside.bin", "/etc/passwd", "a/../../b.bin", "C:\\x.bin"])
def test_shard_paths_must_stay_inside(tfjs_models: dict[str, Path], tmp_path: Path, shard: str) -> None:
    model = _copy(tfjs_models, tmp_path)
    _edit_manifest(model, lambda d: d["weightsManifest"][0].__setitem__("paths", [shard]))
    with pytest.raises(ReadError, match="shard path .* (absolute|climbs out)"):
        tfjs.read_model_json(model)


def test_invalid_json(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"format": "layers-model", "modelTopology": ')
    with pytest.raises(ReadError, match="model.json: TF.js model.json is not valid JSON"):
        tfjs.inspect(tmp_path)


def test_bad_weight_entry(tfjs_models: dict[str, Path], tmp_path: Path) -> None:
    model = _copy(tfjs_models, tmp_path)
    _edit_manifest(model, lambda d: d["weightsManifest"][0]["weights"][0].__setitem__("shape", [-5, 2]))
    with pytest.raises(ReadError, match="negative dimension"):
        tfjs.inspect(model)


def test_extra_shard_bytes_are_reported(tfjs_models: dict[str, Path], tmp_path: Path) -> None:
    model = _copy(tfjs_models, tmp_path)
    with (model / "group1-shard1of1.bin").open("ab") as shard:
        shard.write(b"\x00" * 8)
    check = tfjs.inspect(model).to_dict()["bytes_check"]
    assert check == {"manifest_bytes": 1628200, "shard_bytes": 1628208, "match": False}
