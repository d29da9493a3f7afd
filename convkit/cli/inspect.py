"""``convkit inspect PATH``: what a model file holds, without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convkit.cli._common import JsonOption, handle_errors, print_json, stdout_console
from convkit.registry import format_names


def _format_help() -> str:
    return f"Read as this format ({', '.join(format_names())}) instead of detecting it."


FormatOption = Annotated[str | None, typer.Option("--format", "-f", help=_format_help())]
WeightsOption = Annotated[bool, typer.Option("--weights", help="Add per-tensor statistics (min, max, mean, std, NaN, Inf).")]
TreeOption = Annotated[bool, typer.Option("--tree", help="Draw the full trees (HDF5 groups, checkpoint object graph).")]
VerifyOption = Annotated[bool, typer.Option("--verify", help="Recompute every checkpoint tensor's CRC32C.")]


@handle_errors
def inspect_command(
    path: Annotated[Path, typer.Argument(help="Model file or directory (format detected from content).")],
    format: FormatOption = None,
    json: JsonOption = False,
    weights: WeightsOption = False,
    tree: TreeOption = False,
    verify: VerifyOption = False,
) -> None:
    """Show what a model file holds: signatures, layers, tensors, shards (never runs the model)."""
    from convkit.errors import ReadError
    from convkit.formats import _api

    document = _api.inspect(path, format, weights=weights, verify=verify).to_dict()
    if json:
        print_json(document)
    else:
        from convkit.formats import _render

        _render.render(document, stdout_console(), tree=tree)
    mismatches = _api.failed_checks(document)
    if mismatches:
        raise ReadError(f"{path}: {len(mismatches)} tensor(s) fail their CRC32C check, first {mismatches[0]!r} (corrupt data shard)")


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect_command)
