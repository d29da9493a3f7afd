"""Frozen TensorFlow graphs: one ``.pb`` file holding a ``GraphDef`` whose weights are constants.

What TF1 tutorials and exporters write (TF-for-Poets ``retrained_graph.pb``, the
object detection API's ``frozen_inference_graph.pb``, ``output_graph.pb`` from
Keras-to-TF scripts): the serialised ``GraphDef`` alone, no signature, no
variables. The protobuf text form (``node { ... }``) is read too. Recognised by
parsing the file's head: a ``GraphDef`` starts with a node whose name and op are
plain names, which neither ``saved_model.pb`` (a schema version first), an
ONNX model nor a ``.meta`` MetaGraph does.

Inputs are the ``Placeholder`` nodes the outputs need, outputs the nodes nobody
consumes (see :mod:`convkit.graph_model.analysis`); ``--inputs``/``--outputs``
override both. The graph runs in TensorFlow (:mod:`convkit.runtimes.graph`); convkit
writes it too (:mod:`convkit.convert.writers.pb`), from any source.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from convkit.containers.files import head_bytes
from convkit.containers.protobuf import read_varint
from convkit.errors import ReadError
from convkit.formats import _report
from convkit.graph_model.model import GraphSource
from convkit.policy.graph_ops import risky_ops
from convkit.registry import Format, WriteOptions, register_format

_SNIFF_BYTES = 4096
_OP_NAME = re.compile(rb"^[A-Za-z_][A-Za-z0-9_>.]*$")
# Files named by other formats' layouts, recognised there.
_OTHER_FORMATS_FILES = ("saved_model.pb", "tensorflowjs_model.pb", "keras_metadata.pb", "fingerprint.pb")


def looks_like_graph_def(head: bytes) -> bool:
    """Whether ``head`` starts a binary ``GraphDef``: field 1 (a node) whose name and op are plain names."""
    try:
        if head[:1] != b"\x0a":
            return False
        _length, pos = read_varint(head, 1)
        if head[pos : pos + 1] != b"\x0a":  # NodeDef.name
            return False
        name_length, pos = read_varint(head, pos + 1)
        name = head[pos : pos + name_length]
        pos += name_length
        if not name or len(name) != name_length or head[pos : pos + 1] != b"\x12":  # NodeDef.op
            return False
        op_length, pos = read_varint(head, pos + 1)
        op = head[pos : pos + op_length]
        return len(op) == op_length and bool(_OP_NAME.match(op)) and b"\x00" not in name
    except ValueError:
        return False


def accept(path: Path) -> bool:
    """A file (not a SavedModel's or a TF.js model's own ``.pb``) that starts like a GraphDef."""
    from convkit.graph_model.messages import looks_like_text_graph

    path = Path(path)
    try:
        if path.name in _OTHER_FORMATS_FILES or path.name.endswith(".meta") or not path.is_file():
            return False
        head = head_bytes(path, _SNIFF_BYTES)
    except (OSError, ValueError):
        return False
    return looks_like_graph_def(head) or looks_like_text_graph(head)


def read_graph_def(path: Path) -> Any:
    """The checked ``GraphDef`` of the frozen graph at ``path``.

    Raises:
        ReadError: not a GraphDef, over a limit, or structurally broken (a cycle, a missing node, recursion).
    """
    from convkit.graph_model import analysis, messages

    graph_def = messages.read_graph_def(Path(path), "frozen GraphDef")
    if not graph_def.node:
        raise ReadError(f"{path}: the GraphDef holds no nodes")
    analysis.check_structure(graph_def, Path(path), "graph")
    return graph_def


def read_graph(path: Path, *, inputs: Any = (), outputs: Any = (), **_options: Any) -> Any:
    """The frozen graph at ``path`` as a ``GraphModel`` (inputs and outputs inferred unless given)."""
    from convkit.graph_model.model import GraphModel, choose_io

    graph_def = read_graph_def(path)
    chosen_inputs, chosen_outputs, io_from = choose_io(graph_def, Path(path), inputs=inputs, outputs=outputs)
    return GraphModel(graph_def, chosen_inputs, chosen_outputs, Path(path), "frozen GraphDef", io_from)


def policy_graph(path: Path) -> Any:
    """The graph wrapped as the policy's op scan reads it."""
    from convkit.graph_model.messages import saved_model_wrapping

    return saved_model_wrapping(read_graph_def(path))


def inspect(path: Path, *, weights: bool = False, **_options: Any) -> _report.GraphReport:
    """Describes the frozen graph at ``path`` without TensorFlow.

    Args:
        path: the ``.pb`` (or ``.pbtxt``) file.
        weights: add per-constant statistics. Default False.
    """
    from convkit.graph_model.messages import saved_model_wrapping
    from convkit.graph_model.model import describe_graph

    graph_def = read_graph_def(path)
    described = describe_graph(graph_def, Path(path), weights=weights)
    return _report.GraphReport(format="pb", path=str(path), kind="frozen-graph",
                       risky_ops=[found.to_dict() for found in risky_ops(saved_model_wrapping(graph_def))],
                       **described)


def inference_graph(path: Path, like: Path | None) -> GraphSource:
    """The frozen graph as a conversion source: it converts as a graph, whatever ``like`` says."""
    return GraphSource(Path(path), "convkit.formats.frozen_graph:read_graph", "a frozen GraphDef")


register_format(Format(
    name="pb",
    description="frozen TensorFlow GraphDef (.pb)",
    accept=accept,
    inspect=inspect,
    extensions=(".pb",),
    title="frozen GraphDef",
    graph=policy_graph,
    no_reader="a frozen graph holds TensorFlow ops, no Keras layers",
    inference_graph=inference_graph,
    writer="convkit.convert.writers.pb:write",
    write_options=WriteOptions(graphs=True),
    runner="convkit.runtimes.graph:open_graph",
    runtime_title="TensorFlow",
    default_output=lambda parent, name: parent / f"{name}.pb",
    graph_extractor="convkit.graph.tf:from_frozen_graph",
))
