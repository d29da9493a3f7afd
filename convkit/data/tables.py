"""CSV files as model inputs, for tabular models: one row per sample, numbers only.

A first row holding any cell that is not a number is the header. The columns
go to the model's inputs by the header's names (Keras models made from a
table often take one input per column: ``age``, ``fare``), else all of them,
in order, to one input whose values per sample number as many as the columns.
Commas, semicolons or tabs separate the cells (the first line decides).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convkit.containers import limits
from convkit.errors import ReadError

DELIMITERS = ",;\t"


@dataclass(frozen=True)
class Table:
    """A CSV file's numbers.

    Attributes:
        path: the file.
        header: the column names, or None when the first row holds numbers.
        values: float64, one row per sample, one column per CSV column.
    """

    path: Path
    header: tuple[str, ...] | None
    values: np.ndarray

    def column(self, name: str) -> np.ndarray:
        """The values of the column ``name`` (of the header), one per row."""
        assert self.header is not None
        return self.values[:, self.header.index(name)]


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_table(path: Path, limit: int | None = None) -> Table:
    """The numbers of the CSV file at ``path``, the first ``limit`` rows (default all).

    Raises:
        ReadError: missing, a link, over ``MAX_INPUT_BYTES``, not UTF-8 text, no rows, rows of
            different lengths, or a cell that is not a number (named by line and column).
    """
    data = limits.read_capped(path, limits.MAX_INPUT_BYTES, "CSV file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReadError(f"{path}: not a CSV file (not UTF-8 text)") from None
    first_line = text.split("\n", 1)[0]
    delimiter = max(DELIMITERS, key=first_line.count) if any(d in first_line for d in DELIMITERS) else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header: tuple[str, ...] | None = None
    rows: list[list[float]] = []
    width = 0
    try:
        for line_number, cells in enumerate(reader, start=1):
            if not cells or all(not cell.strip() for cell in cells):
                continue
            cells = [cell.strip() for cell in cells]
            numbers = [_number(cell) for cell in cells]
            if header is None and not rows and any(number is None for number in numbers):
                header = tuple(cells)
                width = len(cells)
                continue
            if not width:
                width = len(cells)
            if len(cells) != width:
                what = "the header has" if header is not None else "the first row has"
                raise ReadError(f"{path}: line {line_number} has {len(cells)} cells, {what} {width}")
            for column, (cell, number) in enumerate(zip(cells, numbers)):
                if number is None:
                    named = f"column {header[column]!r}" if header is not None else f"column {column + 1}"
                    raise ReadError(f"{path}: line {line_number}, {named}: {cell!r} is not a number")
            rows.append(numbers)  # type: ignore[arg-type]
            if limit is not None and len(rows) >= limit:
                break
    except csv.Error as error:
        raise ReadError(f"{path}: not a readable CSV file ({error})") from None
    if not rows:
        raise ReadError(f"{path}: the CSV file holds no rows of numbers")
    if header is not None and len(set(header)) != len(header):
        twice = sorted({name for name in header if header.count(name) > 1})[0]
        raise ReadError(f"{path}: the header names column {twice!r} twice")
    return Table(path, header, np.asarray(rows, dtype=np.float64))
