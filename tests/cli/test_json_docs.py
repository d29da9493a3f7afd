"""Every `--json` document has exactly the keys docs/json.md lists, and `schema_version` first."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convkit.cli._common import SCHEMA_VERSION
from convkit.cli.main import app
from tests.formats import _artifacts

DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"
runner = CliRunner()


def documented_keys() -> dict[str, set[str]]:
    """``{"check pairs[]": {"model", "status", ...}}``: the keys of each table, by its ``<!-- keys: ... -->`` marker."""
    tables: dict[str, set[str]] = {}
    markers: list[str] = []
    in_table = False
    for line in DOC.read_text().splitlines():
        marker = re.fullmatch(r"<!-- keys: (.+) -->", line.strip())
        if marker:
            markers.append(marker.group(1).strip())
            in_table = False
            continue
        if markers and line.startswith("|"):
            first_cell = line.split("|")[1]
            keys = set(re.findall(r"`([^`]+)`", first_cell))
            if not in_table:  # the heading row
                in_table = True
                continue
            for name in markers:
                tables.setdefault(name, set()).update(keys)
        elif in_table:
            markers, in_table = [], False
    return tables


def resolve(document: dict[str, Any], locator: str) -> list[dict[str, Any]]:
    """The objects ``locator`` (``pairs[].outputs[]``, ``history.*[]``) names inside ``document``."""
    items: list[Any] = [document]
    for part in filter(None, locator.split(".")):
        if part == "*[]":
            items = [element for item in items for values in item.values() for element in values]
        elif part.endswith("[]"):
            items = [element for item in items for element in item[part[:-2]]]
        else:
            items = [item[part] for item in items if item[part] is not None]
    return items


def assert_documented(document: dict[str, Any], command: str) -> None:
    tables = documented_keys()
    prefix = command + " "
    checked = 0
    for name, keys in tables.items():
        if name != command and not name.startswith(prefix):
            continue
        locator = name[len(prefix):] if name.startswith(prefix) else ""
        for item in resolve(document, locator):
            assert set(item) == keys, f"{name}: undocumented {set(item) - keys}, missing {keys - set(item)}"
            checked += 1
    assert checked, f"docs/json.md has no table for {command}"


def _json(*args: object) -> dict[str, Any]:
    result = runner.invoke(app, [*map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert list(document)[0] == "schema_version" and document["schema_version"] == SCHEMA_VERSION
    return document


def test_the_doc_has_a_table_per_document() -> None:
    tables = documented_keys()
    for name in ("train", "convert", "check", "check pairs[].outputs[]", "inspect common", "inspect folder"):
        assert tables.get(name), name
    assert "max_abs" in tables["check pairs[].outputs[]"] and "atol" in tables["check pairs[].outputs[]"]


def test_train_document(trained_k3: Path) -> None:
    # train.json is the --json document without its schema_version (training again would add 20 s).
    document = {"schema_version": SCHEMA_VERSION, **json.loads((trained_k3 / "train.json").read_text())}
    assert_documented(document, "train")


def test_convert_document(trained_k3: Path, tmp_path: Path) -> None:
    document = _json("convert", trained_k3 / "my_model.h5", "--to", "tfjs", "-o", tmp_path / "tfjs")
    assert document["check"] is None
    assert_documented(document, "convert")


def test_check_document(trained_k3: Path) -> None:
    document = _json("check", trained_k3 / "my_model.h5", trained_k3 / "my_model.keras")
    assert_documented(document, "check")


@pytest.mark.parametrize("relative", ["training_1", "saved_model/my_model", "my_model.h5", "my_model.keras"])
def test_inspect_documents(trained_k3: Path, relative: str) -> None:
    _inspect_matches_doc(_json("inspect", trained_k3 / relative))


def test_inspect_tfjs_documents(trained_k2: Path, trained_k3: Path, tmp_path: Path) -> None:
    models = _artifacts.tfjs_models(trained_k2, trained_k3, tmp_path)
    for kind in ("layers", "graph"):
        if kind in models:
            _inspect_matches_doc(_json("inspect", models[kind]))


def test_inspect_onnx_and_tflite_documents(tmp_path: Path) -> None:
    from tests.formats.test_onnx import _model

    (tmp_path / "toy.onnx").write_bytes(_model().SerializeToString())
    tflite = tmp_path / "tiny.tflite"
    from tests.fuzz.targets import _make_tflite

    _make_tflite(tflite)
    for path in (tmp_path / "toy.onnx", tflite):
        _inspect_matches_doc(_json("inspect", path))


def test_inspect_graph_documents() -> None:
    good = Path(__file__).resolve().parents[2] / "fixtures" / "hostile" / "good"
    for relative in ("tiny_frozen.pb", "tiny_tf1/model.ckpt", "tiny_tfjs_pb", "tiny_tfjs_graph"):
        _inspect_matches_doc(_json("inspect", good / relative))


def test_inspect_folder_document(trained_k3: Path) -> None:
    document = _json("inspect", trained_k3)
    assert_documented(document, "inspect folder")
    assert {(m["path"], m["format"]) for m in document["models"]} >= {
        ("my_model.h5", "h5"), ("my_model.keras", "keras"), ("saved_model/my_model", "savedmodel"),
        ("training_1", "ckpt"), ("training_2", "ckpt"), ("checkpoints", "ckpt")}


def _inspect_matches_doc(document: dict[str, Any]) -> None:
    tables = documented_keys()
    expected = tables["inspect common"] | tables[f"inspect {document['format']}"]
    assert set(document) == expected, (f"{document['format']}: undocumented {set(document) - expected}, "
                                       f"missing {expected - set(document)}")
