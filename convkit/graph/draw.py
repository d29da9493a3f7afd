"""Pictures of a model graph: SVG, one self-contained HTML page, PNG.

The layout is Graphviz's ``dot``, compiled to WebAssembly
(``@hpcc-js/wasm-graphviz``, pinned in package-lock.json), run by Node.js
through ``layout.mjs``. The DOT text comes from ``dot.js``, which the HTML
page embeds too, with the same Graphviz build: the page opens and closes
groups by laying the graph out again in the browser, with nothing fetched.
PNG is the SVG drawn by headless Chromium (``make setup-browser``).
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convkit.errors import UsageError, WriteError
from convkit.graph import collapse
from convkit.graph.metrics import node_summary
from convkit.graph.model import Graph, Node, shape_text
from convkit.runtimes.tfjs import install

SUFFIXES = (".svg", ".html", ".png")
_HERE = Path(__file__).resolve().parent
LAYOUT_TIMEOUT_SECONDS = 300
_CATEGORIES = (
    ("input", ("input", "placeholder")),
    ("output", ("output",)),
    ("sequence", ("lstm", "gru", "rnn", "attention", "einsum")),
    ("layer", ("conv", "dense", "matmul", "gemm", "fully_connected", "embedding")),
    ("norm", ("norm", "lrn")),
    ("activation", ("relu", "sigmoid", "tanh", "softmax", "activation", "clip", "swish", "gelu", "elu", "logistic",
                    "hard_swish", "softplus", "mish")),
    ("pool", ("pool", "mean", "reduce")),
    ("merge", ("add", "sub", "mul", "concat", "div", "maximum", "minimum", "average", "multiply")),
    ("shape", ("reshape", "flatten", "transpose", "squeeze", "pad", "slice", "gather", "shape", "identity", "cast",
               "dropout", "permute", "crop", "resize", "upsampling", "expand", "pack", "split", "tile")),
)


@dataclass(frozen=True)
class Drawing:
    """What ``write`` made: the file, how many nodes the graph has and how many boxes the picture shows."""

    path: Path
    nodes: int
    boxes: int
    collapsed: int

    def message(self) -> str:
        text = f"{self.path}: {self.nodes} node{'s' if self.nodes != 1 else ''}"
        if self.collapsed:
            text += (f", drawn as {self.boxes} boxes with {self.collapsed} group(s) collapsed "
                     "(--expand all draws every node, --expand NAME opens one group; the HTML page opens them on a click)")
        return text


def category(node: Node) -> str:
    """The colour family of a node in the drawing (layers, activations, pooling, ...)."""
    if node.kind in ("input", "output", "object"):
        return node.kind
    op = node.op.lower()
    for name, words in _CATEGORIES:
        if any(word in op for word in words):
            return name
    return "other"


def document(graph: Graph, collapsed: set[str]) -> dict[str, Any]:
    """The graph as the JSON ``dot.js`` reads (and the HTML page embeds)."""
    sizes = collapse.group_sizes(graph)
    nodes = []
    for node in graph.nodes:
        # Op names carry their scope (block3/conv1/Conv2D): the last two parts say which layer an op belongs to.
        parts = [part for part in node.name.split("/") if part]
        short = "/".join(parts[-2:] if graph.level == "ops" else parts[-1:]) or node.name
        short = short if len(short) <= 40 else "…" + short[-39:]
        label = node.op if short == node.op or node.kind in ("input", "output") and not short else f"{node.op}\n{short}"
        if node.kind in ("input", "output"):
            label = f"{node.op}: {short}\n{shape_text(node.outputs[0]) if node.outputs else ''}".rstrip()
        nodes.append({"id": node.id, "name": node.name, "label": label, "op": node.op, "kind": node.kind,
                      "category": category(node), "group": node.group})
    edges = []
    for edge in graph.edges:
        label = edge.label or (shape_text(edge.shape) if edge.shape is not None else "")
        tip = " ".join(part for part in (shape_text(edge.shape) if edge.shape is not None else "", edge.dtype or "") if part)
        edges.append({"s": edge.source, "t": edge.target, "label": label, "tip": tip or label})
    groups = [{"id": group.id, "label": group.label, "kind": group.kind, "parent": group.parent,
               "size": sizes.get(group.id, 0)} for group in graph.groups]
    return {
        "name": graph.name, "format": graph.format, "level": graph.level,
        "nodes": nodes, "edges": edges, "groups": groups,
        "groupIndex": {group.id: index for index, group in enumerate(graph.groups)},
        "fileNodes": len(graph.op_nodes), "collapsed": sorted(collapsed),
    }


def layout_svg(doc: dict[str, Any], collapsed: set[str]) -> tuple[str, int]:
    """(SVG, boxes drawn) of ``doc`` laid out by Graphviz under Node.js.

    Raises:
        UsageError: Node.js or the layout package is missing (the message says how to install them).
        WriteError: the layout failed.
    """
    node = shutil.which("node")
    if node is None:
        raise UsageError("drawing a graph lays it out under Node.js 20, and no 'node' is on PATH; install Node.js 20 first")
    root = install.find_node_root(install.LAYOUT_PACKAGE)
    request = json.dumps({"document": doc, "collapsed": sorted(collapsed)})
    try:
        done = subprocess.run([node, "--stack-size=65500", str(_HERE / "layout.mjs"), str(root)], input=request,
                              capture_output=True, text=True, timeout=LAYOUT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise WriteError(f"the graph layout took over {LAYOUT_TIMEOUT_SECONDS} s; draw fewer nodes with --max-nodes") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise WriteError(f"the graph layout failed ({lines[-1][:300] if lines else f'exit {done.returncode}'})")
    answer = json.loads(done.stdout)
    return str(answer["svg"]), int(answer["boxes"])


def write(graph: Graph, out: Path, *, max_nodes: int = collapse.DEFAULT_MAX_NODES, expand: list[str] = ()  # type: ignore[assignment]
          ) -> Drawing:
    """Draws ``graph`` into ``out`` (``.svg``, ``.html`` or ``.png``, by its suffix).

    The file appears whole or not at all (written beside ``out``, then renamed).

    Raises:
        UsageError: an unknown suffix, or Node.js, the layout package or (for PNG) Chromium is missing.
        WriteError: the layout, the browser or the file system failed.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(f"{out}: --graph writes {', '.join(SUFFIXES)} files; name the file with one of those")
    if suffix == ".png":
        from convkit.graph import screenshot

        screenshot.ensure_available()
    collapsed = collapse.plan(graph, max_nodes, list(expand))
    doc = document(graph, collapsed)
    svg, boxes = layout_svg(doc, collapsed)
    if suffix == ".svg":
        data = svg.encode("utf-8")
    elif suffix == ".html":
        data = page(graph, doc, svg).encode("utf-8")
    else:
        from convkit.graph import screenshot

        data = screenshot.png(svg)
    _write_atomically(out, data)
    return Drawing(out, len(graph.op_nodes), boxes, len(collapsed))


def page(graph: Graph, doc: dict[str, Any], svg: str) -> str:
    """One HTML page holding the drawing, the details of every node, the viewer and the layout engine."""
    root = install.find_node_root(install.LAYOUT_PACKAGE)
    engine = (root / "node_modules" / install.LAYOUT_PACKAGE / "dist" / "index.js").read_bytes()
    details = [node_summary(node) for node in graph.nodes]
    template = (_HERE / "page.html").read_text(encoding="utf-8")
    replacements = {
        "{{TITLE}}": html.escape(f"{graph.name} ({graph.format}, {graph.level})"),
        "{{SVG}}": _strip_xml_header(svg),
        "{{DOCUMENT}}": _script_json(doc),
        "{{DETAILS}}": _script_json(details),
        "{{DOT_JS}}": (_HERE / "dot.js").read_text(encoding="utf-8"),
        "{{VIEWER_JS}}": (_HERE / "viewer.js").read_text(encoding="utf-8"),
        "{{ENGINE}}": base64.b64encode(engine).decode("ascii"),
        "{{FILE_NODES}}": str(len(graph.op_nodes)),
    }
    # One pass, so that text inside one part (a node named "{{SVG}}") is never replaced again.
    return re.sub(r"\{\{[A-Z_]+\}\}", lambda match: replacements.get(match.group(0), match.group(0)), template)


def _script_json(value: Any) -> str:
    # Inside <script type="application/json">: only "</" could end the element early.
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


def _strip_xml_header(svg: str) -> str:
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _write_atomically(out: Path, data: bytes) -> None:
    temporary = out.with_name(f".{out.name}.convkit-partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        temporary.replace(out)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise WriteError(f"{out}: cannot write the picture ({error.strerror or error})") from None
