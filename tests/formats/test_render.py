"""The generic human renderer: tables, trees, escaping, JSON-only sections."""

from __future__ import annotations

import io

from rich.console import Console

from convkit.formats import _render


def _draw(report: dict, tree: bool = False) -> str:
    buffer = io.StringIO()
    _render.render(report, Console(file=buffer, width=160, color_system=None), tree=tree)
    return buffer.getvalue()


REPORT = {
    "format": "demo",
    "path": "/x/[bold]odd",
    "kind": "sample",
    "summary": {"parameters": 10, "bytes": 40},
    "tensors": [
        {"key": "[red]w", "shape": [2, None], "stats": {"min": 0.5, "max": 1.0}},
        {"key": "b", "shape": [], "stats": None},
    ],
    "model_config": {"class_name": "Sequential", "config": {"layers": []}},
    "object_graph": {"name": "(root)", "node": 0, "children": [{"name": "child", "node": 1, "slots": [{"slot": "m"}]}]},
    "empty": [],
    "missing": None,
}


def test_tables_show_records_and_escape_markup() -> None:
    text = _draw(REPORT)
    assert "demo: /x/[bold]odd" in text
    assert "[red]w" in text and "[2, None]" in text
    assert "stats.min" in text and "0.5" in text
    assert text.index("summary") < text.index("tensors")


def test_trees_only_with_tree_flag() -> None:
    assert "object_graph: 2 nodes (add --tree to draw)" in _draw(REPORT)
    drawn = _draw(REPORT, tree=True)
    assert "└── child" in drawn and "slots" in drawn


def test_large_configs_stay_in_json() -> None:
    assert "model_config: " in _draw(REPORT) and "characters of JSON (shown with --json)" in _draw(REPORT)
