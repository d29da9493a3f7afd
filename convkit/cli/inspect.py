"""``convkit inspect PATH``: what a model file holds, without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

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
GraphOption = Annotated[Path | None, typer.Option(
    "--graph", metavar="FILE", show_default=False,
    help="Draw the model's graph into FILE: .svg, .html (one page: pan, zoom, search, click for details) or .png "
         "(needs Chromium: make setup-browser).")]
MetricsOption = Annotated[bool, typer.Option(
    "--metrics", help="Add per-layer/op output shapes, parameters and MACs (multiply-accumulates, one example).")]
StatsOption = Annotated[bool, typer.Option(
    "--stats", help="With the metrics, weight statistics per layer/op and for the model (min, max, mean, std, "
                    "sparsity, NaN, Inf).")]
LevelOption = Annotated[str, choice_option(
    "--level", choices=("auto", "layers", "ops"),
    help="Draw and measure Keras layers or ops (auto: layers where the file holds a Keras config).")]
ExpandOption = Annotated[list[str] | None, typer.Option(
    "--expand", metavar="GROUP", show_default=False,
    help="Draw this group (nested model, function, scope) open in a big graph; 'all' opens every group. Repeatable.")]
MaxNodesOption = Annotated[int, typer.Option(
    "--max-nodes", min=1, help="Graphs with more nodes are drawn with groups closed, within this many boxes.")]
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
    graph: GraphOption = None,
    metrics: MetricsOption = False,
    stats: StatsOption = False,
    level: LevelOption = "auto",
    expand: ExpandOption = None,
    max_nodes: MaxNodesOption = 1000,
) -> None:
    """Show what a model file holds: signatures, layers, tensors, shards (never runs the model).

    With --graph, draw its layer or op graph; with --metrics, measure each layer or op.
    """
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
    if graph is not None or metrics or stats:
        _graph_and_metrics(path, format, document, graph=graph, metrics=metrics or stats, stats=stats, level=level,
                           expand=expand or [], max_nodes=max_nodes)
    if json:
        print_json(document)
    else:
        from convkit.formats import _render

        if graph is None and not (metrics or stats):
            _render.render(document, stdout_console(), tree=tree)
        if "metrics" in document:  # asked for the metrics (or a picture): those alone, not the whole report
            from convkit.graph.metrics import render

            render(document["metrics"], stdout_console())
    mismatches = _api.failed_checks(document)
    if mismatches:
        raise ReadError(f"{path}: {len(mismatches)} tensor(s) fail their CRC32C check, first {mismatches[0]!r} (corrupt data shard)")


def _graph_and_metrics(path: Path, format: str | None, document: dict[str, Any], *, graph: Path | None, metrics: bool,
                       stats: bool, level: str, expand: list[str], max_nodes: int) -> None:
    """Draws the graph into ``graph`` and/or adds ``metrics`` to ``document``."""
    from convkit import graph as model_graph
    from convkit.cli._common import stderr_console

    extracted = model_graph.extract(path, document.get("format") or format, level=level, report=document)
    if metrics:
        from convkit.formats import _api
        from convkit.graph.metrics import measure, report_stats

        tensors = None
        if stats:
            weighed = document if _has_stats(document) else _api.inspect(path, document["format"], weights=True).to_dict()
            tensors = report_stats(weighed)
        document["metrics"] = measure(extracted, tensors)
    if graph is not None:
        from convkit.graph import draw

        drawing = draw.write(extracted, graph, max_nodes=max_nodes, expand=expand)
        document["graph"] = {"path": str(drawing.path), "nodes": drawing.nodes, "boxes": drawing.boxes,
                             "collapsed_groups": drawing.collapsed}
        stderr_console().print(f"wrote {drawing.message()}", markup=False, highlight=False)


def _has_stats(document: dict[str, Any]) -> bool:
    from convkit.graph.metrics import report_stats

    return bool(report_stats(document))


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
