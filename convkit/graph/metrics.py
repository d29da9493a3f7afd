"""Per-layer/op metrics of a model graph: output shapes, parameters, MACs, and weight statistics.

``measure(graph)`` gives the table ``inspect --metrics`` shows and puts under
``metrics`` in ``--json``; with ``stats`` (from the format's own
``inspect --weights`` rows) each row and the model get Netron's weight
statistics: min, max, mean, std, sparsity (share of zeros), NaN and Inf counts.
Which operations count MACs is written once, in :mod:`convkit.graph.macs`.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from convkit.graph.model import Graph, Node, Weight, shape_text


def measure(graph: Graph, stats: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The metrics document of ``graph``.

    Args:
        graph: a format's graph.
        stats: per-tensor statistics by report name (``Weight.key``); None: no statistics.
    """
    nodes = graph.op_nodes
    rows = []
    unknown: Counter[str] = Counter()
    no_shape: Counter[str] = Counter()
    by_op: dict[str, dict[str, Any]] = {}
    for node in nodes:
        row: dict[str, Any] = {
            "name": node.name,
            "op": node.op,
            "output": ", ".join(shape_text(shape) for shape in node.outputs) or "?",
            "parameters": node.parameters,
            "macs": node.macs,
            "macs_status": node.macs_status,
        }
        if stats is not None:
            row["stats"] = combine([stats.get(weight.key or "") for weight in node.weights], node.weights)
        rows.append(row)
        if node.macs_status == "unknown":
            unknown[node.op] += 1
        elif node.macs_status == "no-shape":
            no_shape[node.op] += 1
        entry = by_op.setdefault(node.op, {"op": node.op, "count": 0, "macs": 0, "parameters": 0})
        entry["count"] += 1
        entry["macs"] += node.macs or 0
        entry["parameters"] += node.parameters
    document: dict[str, Any] = {
        "level": graph.level,
        "summary": {
            "nodes": len(nodes),
            "parameters": sum(node.parameters for node in nodes),
            "macs": sum(node.macs or 0 for node in nodes),
            "macs_per": "one example (an open batch dimension counts as 1)",
            "counted_nodes": sum(1 for node in nodes if node.macs_status == "counted"),
            "unknown_ops": dict(unknown.most_common()),
            "no_shape_ops": dict(no_shape.most_common()),
        },
        "by_op": sorted(by_op.values(), key=lambda entry: (-entry["macs"], -entry["count"], entry["op"])),
        "nodes": rows,
        "notes": list(graph.notes),
    }
    if stats is not None:
        weights = [weight for node in nodes for weight in node.weights]
        document["summary"]["stats"] = combine([stats.get(weight.key or "") for weight in weights], weights)
        missing = sum(1 for weight in weights if not stats.get(weight.key or ""))
        if missing:
            document["notes"].append(f"{missing} weight(s) have no statistics in the format's report")
    return document


def combine(parts: list[dict[str, Any] | None], weights: list[Weight]) -> dict[str, Any] | None:
    """The statistics of several tensors taken together, from each one's (``tensor_stats``) and its size."""
    total = finite = zeros = nan = inf = 0
    low: float | None = None
    high: float | None = None
    mean: float | None
    std: float | None
    moment1 = moment2 = 0.0
    seen = False
    for part, weight in zip(parts, weights):
        if not part:
            continue
        seen = True
        size = weight.size
        count = max(size - int(part.get("nan") or 0) - int(part.get("inf") or 0), 0)
        total += size
        nan += int(part.get("nan") or 0)
        inf += int(part.get("inf") or 0)
        zeros += int(part.get("zeros") or 0)
        if part.get("mean") is None or count == 0:
            continue
        finite += count
        part_mean, part_std = float(part["mean"]), float(part.get("std") or 0.0)
        moment1 += count * part_mean
        moment2 += count * (part_std * part_std + part_mean * part_mean)
        low = float(part["min"]) if low is None else min(low, float(part["min"]))
        high = float(part["max"]) if high is None else max(high, float(part["max"]))
    if not seen:
        return None
    mean = moment1 / finite if finite else None
    std = math.sqrt(max(moment2 / finite - (mean or 0.0) ** 2, 0.0)) if finite else None
    return {"min": low, "max": high, "mean": mean, "std": std,
            "sparsity": zeros / total if total else None, "nan": nan, "inf": inf}


def report_stats(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every tensor's ``stats`` in an ``inspect --weights`` document, by its ``name`` (or checkpoint ``key``)."""
    found: dict[str, dict[str, Any]] = {}

    def visit(value: Any, depth: int) -> None:
        if depth > 8:
            return
        if isinstance(value, dict):
            if isinstance(value.get("stats"), dict):
                name = value.get("key") if "key" in value else value.get("name")
                if isinstance(name, str):
                    found.setdefault(name, value["stats"])
            for item in value.values():
                if isinstance(item, (dict, list)):
                    visit(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                visit(item, depth + 1)

    visit(report, 0)
    return found


def node_summary(node: Node) -> dict[str, Any]:
    """What a drawing shows when the node is clicked."""
    return {
        "name": node.name,
        "op": node.op,
        "attributes": node.attributes,
        "weights": [{"name": w.name, "shape": w.shape, "dtype": w.dtype} for w in node.weights],
        "outputs": [shape_text(shape) for shape in node.outputs],
        "dtypes": node.output_dtypes,
        "parameters": node.parameters,
        "macs": node.macs,
        "macs_status": node.macs_status,
    }


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value:,}"


def _si(value: int) -> str:
    for factor, unit in ((10**9, "G"), (10**6, "M"), (10**3, "K")):
        if value >= factor:
            return f"{value / factor:.2f} {unit}"
    return str(value)


def render(document: dict[str, Any], console: Any) -> None:
    """Draws a metrics document (``measure``) on ``console``: the totals, one row per layer/op, and per op type."""
    from rich.markup import escape

    from convkit._table import NAME, NUMBER, Column, print_table

    summary = document["summary"]
    unknown = ", ".join(f"{op} x{count}" for op, count in summary["unknown_ops"].items()) or "none"
    no_shape = ", ".join(f"{op} x{count}" for op, count in summary["no_shape_ops"].items())
    console.print(f"[bold]metrics[/] ({escape(document['level'])}): {_number(summary['macs'])} MACs "
                  f"({_si(summary['macs'])}) per example in {summary['counted_nodes']} of {summary['nodes']} nodes; "
                  f"{_number(summary['parameters'])} parameters; ops without a MAC rule: {escape(unknown)}"
                  + (f"; shapes unknown for: {escape(no_shape)}" if no_shape else ""))
    stats = "stats" in summary
    # On a narrow terminal columns go from the right: the output shapes first, then the statistics, MACs last.
    columns = [Column("name", NAME), Column("op", NAME), Column("MACs", NUMBER, "right"), Column("parameters", NUMBER, "right")]
    keys = ("min", "max", "mean", "std", "sparsity", "nan", "inf")
    if stats:
        columns += [Column(key, NUMBER, "right") for key in keys]
    columns.append(Column("output", NUMBER))
    rows = []
    for row in document["nodes"]:
        macs = _number(row["macs"]) if row["macs_status"] in ("counted", "none") else row["macs_status"]
        cells = [escape(row["name"]), escape(row["op"]), macs, _number(row["parameters"])]
        if stats:
            values = row.get("stats") or {}
            cells += [_number(values.get(key)) for key in keys]
        cells.append(escape(row["output"]))
        rows.append(cells)
    print_table(console, columns, rows, title="[bold]per node[/] (MACs for one example)")
    if stats and summary.get("stats"):
        model = summary["stats"]
        console.print("[bold]weights, whole model[/]: " + ", ".join(f"{key} {_number(model.get(key))}" for key in keys))
    by_op = [[escape(entry["op"]), _number(entry["count"]), _number(entry["macs"]), _number(entry["parameters"])]
             for entry in document["by_op"]]
    print_table(console, [Column("op", NAME), Column("count", NUMBER, "right"), Column("MACs", NUMBER, "right"),
                          Column("parameters", NUMBER, "right")], by_op, title="[bold]per op type[/]")
    for note in document.get("notes") or []:
        console.print(f"note: {escape(note)}")
