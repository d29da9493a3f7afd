"""``convkit inspect PATH``: what a model file holds, without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convkit.cli._common import JsonOption, choice_option, handle_errors, print_json, stdout_console
from convkit.registry import format_names

FormatOption = Annotated[
    str | None,
    choice_option("--format", "-f", choices=format_names, help="Read as this format instead of detecting it.",
                  metavar="FORMAT"),
]
WeightsOption = Annotated[bool, typer.Option("--weights", help="Add per-tensor statistics (min, max, mean, std, NaN, Inf).")]
TreeOption = Annotated[bool, typer.Option("--tree", help="Draw the full trees (HDF5 groups, checkpoint object graph).")]
VerifyOption = Annotated[bool, typer.Option("--verify", help="Recompute every checkpoint tensor's CRC32C.")]
# How deep a folder of models is searched (demo-out/saved_model/my_model is two levels down).
FOLDER_DEPTH = 3


@handle_errors
def inspect_command(
    path: Annotated[Path, typer.Argument(help="Model file or directory (format detected from content); "
                                              "a folder of models lists them.", metavar="PATH")],
    format: FormatOption = None,
    json: JsonOption = False,
    weights: WeightsOption = False,
    tree: TreeOption = False,
    verify: VerifyOption = False,
) -> None:
    """Show what a model file holds: signatures, layers, tensors, shards (never runs the model)."""
    from convkit.errors import DetectionError, ReadError
    from convkit.formats import _api

    try:
        document = _api.inspect(path, format, weights=weights, verify_crc=verify).to_dict()
    except DetectionError:
        models = find_models(path) if format is None and path.is_dir() else []
        if not models:
            raise
        _print_folder(path, models, json)
        return
    if json:
        print_json(document)
    else:
        from convkit.formats import _render

        _render.render(document, stdout_console(), tree=tree)
    mismatches = _api.failed_checks(document)
    if mismatches:
        raise ReadError(f"{path}: {len(mismatches)} tensor(s) fail their CRC32C check, first {mismatches[0]!r} (corrupt data shard)")


def find_models(folder: Path, depth: int = FOLDER_DEPTH) -> list[tuple[Path, str]]:
    """``(path, format name)`` of every model under ``folder``, recognised by content, in name order.

    A model's own folder (a SavedModel, a checkpoint folder, a TF.js model) is listed once, not searched.
    """
    from convkit.registry import detect
    from convkit.errors import ConvkitError

    found: list[tuple[Path, str]] = []
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return found
    for child in children:
        if child.is_symlink() or child.name.startswith("."):
            continue
        try:
            found.append((child, detect(child).name))
            continue
        except ConvkitError:
            pass
        if child.is_dir() and depth > 1:
            found.extend(find_models(child, depth - 1))
    return found


def _print_folder(folder: Path, models: list[tuple[Path, str]], json: bool) -> None:
    from convkit.registry import get_format

    rows = [{"path": str(path.relative_to(folder)), "format": name, "description": get_format(name).description}
            for path, name in models]
    if json:
        print_json({"format": "folder", "path": str(folder), "models": rows})
        return
    from rich.markup import escape

    from convkit._table import NAME, TEXT, Column, print_table

    title = escape(f"{folder}: {len(rows)} model{'s' if len(rows) != 1 else ''} (inspect each by its path)")
    columns = [Column("path", NAME), Column("format", NAME), Column("what", TEXT)]
    cells = [[escape(row["path"]), row["format"], escape(row["description"])] for row in rows]
    print_table(stdout_console(), columns, cells, title=f"[bold]{title}[/]")


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect_command)
