"""The human view of any inspect report: rich tables and trees drawn from ``to_dict()``.

One generic renderer serves every format, so a new format's report shows up
without new drawing code: flat lists of records become tables, records with
``children`` become trees (drawn with ``tree=True``), small mappings become
key/value tables, anything else is nested sections.
"""

from __future__ import annotations

import json
from typing import Any

# Large JSON documents shown in full only in --json output.
_JSON_ONLY = {"model_config", "training_config", "compile_config"}
_MAX_CELL = 80
_FIRST = ("summary", "layers")
# Columns that hold names (tensor keys, layers, files): never cut, never wrapped.
_NAME_KEYS = {"name", "key", "path", "file", "object", "layer", "tensor", "weight", "prefix", "output", "input",
              "signature", "model", "node"}


def render(report: dict[str, Any], console: Any, *, tree: bool = False) -> None:
    """Draws ``report`` (a ``to_dict()`` result) on ``console``."""
    from rich.table import Table

    from rich.markup import escape

    title = escape(f"{report.get('format')}: {report.get('path')}")
    head = Table(title=title, show_header=False, title_justify="left", title_style="bold")
    head.add_column("key", style="cyan")
    head.add_column("value")
    for key, value in report.items():
        if _is_scalar(value) and key not in ("format", "path"):
            head.add_row(key, _cell(value))
    if head.row_count:
        console.print(head)
    # The overview first (what a user reads before the details), then everything else in report order.
    keys = [k for k in _FIRST if k in report] + [k for k in report if k not in _FIRST]
    for key in keys:
        value = report[key]
        if value is None or _is_scalar(value) or value in ([], {}):
            continue
        _section(key, value, console, tree, depth=0)


def _section(title: str, value: Any, console: Any, tree: bool, depth: int) -> None:
    if title.rsplit(".", 1)[-1] in _JSON_ONLY:
        console.print(f"[bold]{title}[/]: {len(json.dumps(value))} characters of JSON (shown with --json)")
        return
    if _is_tree(value):
        if tree:
            console.print(_tree(title, value))
        else:
            console.print(f"[bold]{title}[/]: {_count_nodes(value)} nodes (add --tree to draw)")
        return
    if isinstance(value, list):
        if all(isinstance(item, dict) and _is_flat(item) for item in value):
            _records_table(title, value, console)
        elif all(_is_scalar(item) for item in value):
            console.print(f"[bold]{title}[/]: {', '.join(_cell(item) for item in value)}")
        else:
            for index, item in enumerate(value):
                _section(f"{title}[{index}]", item, console, tree, depth + 1)
        return
    if isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if _is_scalar(v) or _is_scalar_list(v)}
        if scalars:
            _mapping_table(title, scalars, console)
        for key, item in value.items():
            if key in scalars or item is None or item in ([], {}):
                continue
            _section(f"{title}.{key}", item, console, tree, depth + 1)
        return
    console.print(f"[bold]{title}[/]: {_cell(value)}")


def _records_table(title: str, rows: list[dict[str, Any]], console: Any) -> None:
    from convkit._table import NAME, NUMBER, TEXT, Column, print_table

    headings: list[str] = []
    flat_rows = []
    for row in rows:
        flat = _flatten(row)
        flat_rows.append(flat)
        for key in flat:
            if key not in headings:
                headings.append(key)
    columns = []
    for position, heading in enumerate(headings):
        values = [flat.get(heading) for flat in flat_rows]
        if position == 0 or heading.rsplit(".", 1)[-1] in _NAME_KEYS:
            kind = NAME
        elif all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
            kind = NUMBER
        else:
            kind = TEXT
        is_path = kind == NAME and all(isinstance(v, str) and "/" in v for v in values)
        columns.append(Column(heading, kind, justify="right" if kind == NUMBER else "left", path=is_path))
    cells = [[_cell(flat.get(c.heading), limit=None if c.kind == NAME else _MAX_CELL) for c in columns]
             for flat in flat_rows]
    print_table(console, columns, cells, title=f"[bold]{title}[/]")


def _mapping_table(title: str, mapping: dict[str, Any], console: Any) -> None:
    from convkit._table import NAME, TEXT, Column, print_table

    columns = [Column("key", NAME, style="cyan"), Column("value", TEXT)]
    print_table(console, columns, [[_cell(str(key), limit=None), _cell(value)] for key, value in mapping.items()],
                title=f"[bold]{title}[/]", show_header=False)


def _tree(title: str, node: dict[str, Any]) -> Any:
    from rich.tree import Tree

    def label(item: dict[str, Any]) -> str:
        details = [f"{k}={_cell(v)}" for k, v in item.items() if k not in ("name", "children") and _is_scalar(v)]
        extras = [k for k, v in item.items() if k not in ("name", "children") and not _is_scalar(v)]
        text = f"[bold]{_cell(item.get('name'), limit=200)}[/]"
        if details:
            text += " " + " ".join(details)
        for extra in extras:
            text += f"\n  {extra}: {_cell(item[extra], limit=400)}"
        return text

    root = Tree(f"[bold]{title}[/]")

    def add(parent: Any, item: dict[str, Any], depth: int) -> None:
        branch = parent.add(label(item))
        if depth > 64:
            return
        for child in item.get("children", []) or []:
            if isinstance(child, dict):
                add(branch, child, depth + 1)

    add(root, node, 0)
    return root


def _count_nodes(node: Any) -> int:
    if not isinstance(node, dict):
        return 0
    return 1 + sum(_count_nodes(child) for child in node.get("children", []) or [])


def _flatten(row: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict) and all(_is_scalar(v) for v in value.values()):
            for inner, inner_value in value.items():
                flat[f"{key}.{inner}"] = inner_value
        else:
            flat[key] = value
    return flat


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _is_scalar_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_scalar(v) for v in value)


def _is_flat(row: dict[str, Any]) -> bool:
    return all(
        _is_scalar(v) or _is_scalar_list(v) or (isinstance(v, dict) and all(_is_scalar(x) for x in v.values()))
        for v in row.values()
    )


def _is_tree(value: Any) -> bool:
    return isinstance(value, dict) and "name" in value and ("children" in value or "kind" in value or "node" in value)


def _cell(value: Any, limit: int | None = _MAX_CELL) -> str:
    from rich.markup import escape

    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    elif _is_scalar_list(value):
        text = "[" + ", ".join("None" if v is None else _cell(v) for v in value) + "]"
    else:
        text = json.dumps(value, default=str)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return escape(text)
