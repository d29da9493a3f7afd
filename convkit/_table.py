"""Terminal tables that keep names whole.

A name (a tensor, layer, output or model path) is what a reader looks for, so
it is never cut or wrapped. When a table is wider than the terminal, paths
first lose the folder they all share (said once in the title), then number
columns are dropped from the right (said below the table: ``--json`` and a
wider terminal have them), then other columns; text columns may wrap at
spaces. When even the names alone do not fit, each row becomes a name line
followed by its values.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Literal, Sequence

NAME, NUMBER, TEXT = "name", "number", "text"


@dataclass(frozen=True)
class Column:
    """One column: its heading, what it holds (``name``, ``number`` or ``text``) and its justification."""

    heading: str
    kind: str = TEXT
    justify: Literal["left", "center", "right"] = "left"
    style: str | None = None
    path: bool = False  # names joined by "/", which may lose their shared folder


def common_folder(paths: Sequence[str]) -> str:
    """The folder every path in ``paths`` lies under, ending in ``/`` (``""`` when none, or one path)."""
    if len(paths) < 2:
        return ""
    split = [path.split("/") for path in paths]
    shared: list[str] = []
    for parts in zip(*(p[:-1] for p in split)):  # folders only: a path never shortens to nothing
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    return "/".join(shared) + "/" if shared else ""


def print_table(
    console: Any,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    caption: str | None = None,
    width: int | None = None,
    **table_options: Any,
) -> list[str]:
    """Prints ``rows`` (cells as rich markup strings) as a table at most ``width`` wide (default: the console's).

    Returns:
        The headings of the columns left out to fit.
    """
    width = width or console.width
    keep = list(range(len(columns)))
    widest = _widest_rows(columns, rows)
    narrowest = _minimum_width(console, columns, rows, widest, keep, title, caption, table_options)
    if narrowest > width:
        rows, title = _shorten_paths(columns, rows, title)
        widest = _widest_rows(columns, rows)
        narrowest = _minimum_width(console, columns, rows, widest, keep, title, caption, table_options)
    dropped: list[str] = []
    droppable = ([i for i in reversed(keep) if columns[i].kind == NUMBER]
                 + [i for i in reversed(keep) if columns[i].kind == TEXT])
    while narrowest > width and droppable:
        index = droppable.pop(0)
        keep.remove(index)
        dropped.append(columns[index].heading)
        narrowest = _minimum_width(console, columns, rows, widest, keep, title, caption, table_options)
    if narrowest > width:
        _print_stacked(console, columns, rows, title, caption)
        return []
    console.print(_table(columns, rows, keep, title, caption, table_options))
    if dropped:
        dropped.sort(key=[column.heading for column in columns].index)
        console.print(f"[dim](left out to fit {width} columns: {', '.join(dropped)}; "
                      "see --json or a wider terminal)[/]", soft_wrap=False, width=width)
    return dropped


def _shorten_paths(columns: Sequence[Column], rows: Sequence[Sequence[str]],
                   title: str | None) -> tuple[list[list[str]], str | None]:
    shortened = [list(row) for row in rows]
    for index, column in enumerate(columns):
        if not column.path:
            continue
        folder = common_folder([_plain(row[index]) for row in shortened])
        if not folder:
            continue
        for row in shortened:
            row[index] = _escape(_plain(row[index])[len(folder):])
        note = f"{column.heading}s under {_escape(folder)}"
        title = f"{title} ({note})" if title else note
    return shortened, title


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _table(columns: Sequence[Column], rows: Sequence[Sequence[str]], keep: list[int], title: str | None,
           caption: str | None, options: dict[str, Any]) -> Any:
    """The rich table of ``rows``' ``keep`` columns. Names and numbers get their natural width as a fixed width,
    which rich then takes as it is instead of measuring every cell (seconds for a model of 10,000 layers)."""
    from rich.table import Table

    table = Table(title=title, caption=caption, title_justify="left", caption_justify="left", **options)
    for index in keep:
        column = columns[index]
        if column.kind in (NAME, NUMBER):
            natural = max([_cell_width(row[index]) for row in rows] + [_cell_width(column.heading)])
            table.add_column(column.heading, justify=column.justify, style=column.style, no_wrap=True,
                             width=natural)
        else:
            table.add_column(column.heading, justify=column.justify, style=column.style, overflow="fold")
    for row in rows:
        table.add_row(*(row[index] for index in keep))
    return table


def _widest_rows(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> dict[int, int]:
    """Per column, the row whose cell sets the column's minimum width: names and numbers at their natural
    width, text wrapped down to its longest word."""
    widest: dict[int, int] = {}
    for index, column in enumerate(columns):
        fold = column.kind not in (NAME, NUMBER)
        sizes = [_longest_word(row[index]) if fold else _cell_width(row[index]) for row in rows]
        if sizes:
            widest[index] = max(range(len(rows)), key=sizes.__getitem__)
    return widest


def _minimum_width(console: Any, columns: Sequence[Column], rows: Sequence[Sequence[str]], widest: dict[int, int],
                   keep: list[int], title: str | None, caption: str | None, options: dict[str, Any]) -> int:
    """The narrowest the table of ``keep`` can be, measured by rich on the rows that set each kept column's minimum
    (``widest``): the same figure as on every row."""
    from rich.measure import Measurement

    setting = sorted({widest[index] for index in keep if index in widest})
    table = _table(columns, [rows[i] for i in setting], keep, title, caption, options)
    return Measurement.get(console, console.options.update(width=10_000), table).minimum


def _cell_width(cell: str) -> int:
    from rich.cells import cell_len

    return cell_len(_plain(cell))


def _longest_word(cell: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(word) for word in _plain(cell).split()), default=0)


def _print_stacked(console: Any, columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str | None,
                   caption: str | None) -> None:
    if title:
        console.print(f"[bold]{title}[/]")
    for row in rows:
        names = [cell for column, cell in zip(columns, row) if column.kind == NAME]
        values = [f"{column.heading} {cell}" for column, cell in zip(columns, row) if column.kind != NAME]
        console.print("  ".join(names), soft_wrap=True)
        if values:
            console.print("    " + ", ".join(values))
    if caption:
        console.print(caption)


@functools.lru_cache(maxsize=65_536)
def _plain(cell: str) -> str:
    from rich.text import Text

    return Text.from_markup(cell).plain
