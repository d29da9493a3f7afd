"""Tables keep every name whole at 60, 80 and 120 columns; numbers give way first."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from convkit._table import NAME, NUMBER, TEXT, Column, common_folder, print_table
from convkit.cli.main import app

runner = CliRunner()
WIDTHS = [60, 80, 120]


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def _table_width(text: str) -> int:
    """The widest line drawn as part of a table (titles holding long paths wrap in the terminal instead)."""
    return max(len(line) for line in _lines(text) if any(mark in line for mark in "│┃─━PASS"))


def _whole(name: str, text: str) -> bool:
    """``name`` appears unbroken on one line of ``text``."""
    return any(name in line for line in _lines(text))


@pytest.mark.parametrize("columns", WIDTHS)
def test_inspect_of_a_tf_keras_checkpoint_shows_every_tensor_name_whole(trained_k2: Path, columns: int) -> None:
    prefix = trained_k2 / "training_1"
    keys = [row["key"] for row in json.loads(runner.invoke(app, ["inspect", str(prefix), "--json"]).stdout)["tensors"]]
    assert any(len(key) > 50 for key in keys)  # layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE
    result = runner.invoke(app, ["inspect", str(prefix)], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    assert _table_width(result.stdout) <= columns
    for key in keys:
        assert _whole(key, result.stdout), f"{key} cut at {columns} columns:\n{result.stdout}"
    if columns < 120:
        assert "left out to fit" in result.stdout  # offsets and sizes gave way, not names


@pytest.mark.parametrize("columns", WIDTHS)
def test_check_table_keeps_model_paths_and_outputs_whole(trained_k2: Path, tmp_path: Path, columns: int) -> None:
    deep = tmp_path / "models_converted_for_the_web_release" / "candidate_builds"
    deep.mkdir(parents=True)
    copies = [deep / "tutorial_model_keras3_archive_copy.keras", deep / "tutorial_model_legacy_hdf5_copy.h5"]
    shutil.copyfile(trained_k2 / "my_model.keras", copies[0])
    shutil.copyfile(trained_k2 / "my_model.h5", copies[1])
    result = runner.invoke(app, ["check", str(trained_k2 / "my_model.h5"), *map(str, copies), "--mnist", "20"],
                           env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    table = result.stdout.split("\ninputs:")[0]
    for copy in copies:
        assert _whole(copy.name, table), f"{copy.name} cut at {columns} columns:\n{result.stdout}"
    assert _whole("dense_1", table) and table.count("PASS") == 2
    assert _table_width(table) <= columns
    if f"models under {deep}/" not in table:  # else the shared folder is said once, in the title
        assert all(_whole(str(copy), table) for copy in copies)
    if columns == 60:  # numbers left out, or one line per row when even the names alone fill the width
        assert "models under" in table
        assert "left out to fit 60 columns" in result.stdout or "runtime tf_keras 2.19.0, max abs" in table


def _render(columns: list[Column], rows: list[list[str]], width: int, **options: object) -> tuple[str, list[str]]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    dropped = print_table(console, columns, rows, title="t", **options)
    return buffer.getvalue(), dropped


def test_numbers_go_first_then_text_and_names_never() -> None:
    columns = [Column("name", NAME), Column("note", TEXT), Column("a", NUMBER, "right"), Column("b", NUMBER, "right")]
    rows = [["encoder/block_11/attention/query/kernel", "float32 weights", "123456789", "987654321"]]
    wide, dropped = _render(columns, rows, 120)
    assert dropped == [] and "987654321" in wide
    middle, dropped = _render(columns, rows, 64)
    assert dropped == ["a", "b"] and "encoder/block_11/attention/query/kernel" in middle and "float32" in middle
    narrow, dropped = _render(columns, rows, 44)
    assert dropped == ["note", "a", "b"] and "encoder/block_11/attention/query/kernel" in narrow


def test_names_wider_than_the_terminal_become_lines_of_their_own() -> None:
    name = "a/very/long/tensor/name/that/no/terminal/of/forty/columns/can/hold"
    text, _ = _render([Column("name", NAME), Column("size", NUMBER)], [[name, "7"]], 40)
    assert name in text.replace("\n", "")  # the terminal wraps it; convkit never cuts it
    assert "size 7" in text


def test_common_folder() -> None:
    assert common_folder(["out/a/x.h5", "out/a/y/z"]) == "out/a/"
    assert common_folder(["out/a/x.h5", "out/b.h5"]) == "out/"
    assert common_folder(["x.h5", "y.h5"]) == "" and common_folder(["out/x.h5"]) == ""
    assert common_folder(["out/x", "out/x"]) == "out/"  # never the whole path
