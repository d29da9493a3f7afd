"""A graph-level model: a GraphDef whose weights are constants, with named inputs and outputs.

Every graph-level source is read into a :class:`GraphModel`. Its inputs and
outputs come, in this order, from what the user gives (``--inputs NAME[:SHAPE],...``
and ``--outputs NAME,...``, tensor names such as ``x:0`` accepted), from the
file's signature, or from the graph itself (:mod:`convkit.graph_model.analysis`).
Each carries the name a target shows (the signature key, else the node name)
and the graph tensor it stands for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

from convkit.errors import ConvkitError, ReadError, UsageError
from convkit.graph_model import analysis

INPUTS_FLAG = "--inputs"
OUTPUTS_FLAG = "--outputs"


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of a graph.

    Attributes:
        name: the name targets give it: the signature key, else the node name
            (``image``, ``Identity``), with ``:N`` for a node's output N > 0.
        tensor: the graph tensor it is (``image:0``, ``StatefulPartitionedCall:1``).
        dtype: numpy dtype name, or None when the graph does not say.
        shape: dimensions, None where open; None for an unknown rank.
        shape_given: the user gave the shape (``--inputs x:1x28x28``), open dimensions and all.
    """

    name: str
    tensor: str
    dtype: str | None
    shape: tuple[int | None, ...] | None
    shape_given: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tensor": self.tensor, "dtype": self.dtype,
                "shape": list(self.shape) if self.shape is not None else None}


@dataclass
class GraphModel:
    """A graph-level model, rebuilt without TensorFlow.

    Attributes:
        graph_def: a ``GraphDef`` message (tensorboard's classes; TensorFlow's wire format) in which
            every weight is a ``Const``.
        inputs, outputs: what the model takes and gives, in order.
        source: the file it came from.
        origin: what the source is, in words (``TF.js graph model``, ``frozen GraphDef``).
        io_from: where inputs and outputs came from: ``signature``, ``inferred``, ``given``, or
            ``outputs from the signature, inputs inferred``.
        notes: what the rebuild changed (TF.js-only ops undone, weights dequantized).
    """

    graph_def: Any
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    source: Path
    origin: str
    io_from: str = "signature"
    notes: list[str] = field(default_factory=list)

    def pruned(self) -> Any:
        """The graph cut down to the nodes the outputs need (the library kept whole)."""
        needed = analysis.upstream(self.graph_def, [info.tensor for info in self.outputs])
        pruned = type(self.graph_def)()
        pruned.versions.CopyFrom(self.graph_def.versions)
        pruned.library.CopyFrom(self.graph_def.library)
        pruned.node.extend(node for node in self.graph_def.node if node.name in needed)
        return pruned

    def open_inputs(self) -> list[TensorInfo]:
        """Inputs whose shape the graph leaves open beyond the batch (or whose rank is unknown), unless given."""
        return [info for info in self.inputs if not info.shape_given
                and (info.shape is None or any(dim is None for dim in info.shape[1:]))]

    def require_shapes(self) -> None:
        """Raises ``UsageError`` naming ``--inputs`` when an input's shape is open beyond the batch."""
        for info in self.open_inputs():
            shape = "an unknown rank" if info.shape is None else \
                f"open dimensions {['?' if d is None else d for d in info.shape]}"
            example = "1x224x224x3" if info.shape is None else \
                "x".join("?" if i == 0 else ("N" if d is None else str(d)) for i, d in enumerate(info.shape))
            raise UsageError(
                f"{self.source}: input {info.name!r} ({info.tensor}) has {shape} beyond the batch; give its shape "
                f"with {INPUTS_FLAG} {info.name}:{example} (N the size it takes; '?' keeps a dimension open)"
            )


@dataclass(frozen=True)
class GraphSource:
    """A conversion source that converts as a TensorFlow graph: a format record's ``inference_graph``.

    Attributes:
        path: the source.
        reader: ``"module:function"`` giving ``read(path, *, inputs, outputs, signature, tag) -> GraphModel``
            (the format's reader, which rebuilds the graph without TensorFlow where the format allows).
        what: the source in words, for messages (``a TF.js graph model``).
    """

    path: Path
    reader: str
    what: str

    @property
    def folder(self) -> Path:
        """The folder of the source (a file's parent), for copies of folder formats."""
        return self.path if self.path.is_dir() else self.path.parent

    def read(self, *, inputs: str | Sequence[str] | None = None, outputs: str | Sequence[str] | None = None,
             signature: str | None = None, tag: str | None = None) -> GraphModel:
        """The source as a ``GraphModel``, with the user's ``--inputs``/``--outputs`` (as given on the command line),
        ``--signature`` and ``--tag``.

        Raises:
            ReadError: the graph cannot be read or rebuilt; UsageError: the options do not fit it.
        """
        from importlib import import_module

        module, _, function = self.reader.partition(":")
        model: GraphModel = getattr(import_module(module), function)(
            self.path, inputs=parse_requests(inputs, INPUTS_FLAG), outputs=parse_requests(outputs, OUTPUTS_FLAG),
            signature=signature, tag=tag)
        return model

    def refusal(self, target: str) -> str:
        """Why it cannot become a ``target`` file: a graph holds TensorFlow ops, not the Keras layers it stores."""
        from convkit.registry import formats

        able = [fmt.name for fmt in formats() if fmt.write_options.graphs]
        return (f"{self.path}: is {self.what}, a TensorFlow graph without Keras layers, so convkit cannot write it as "
                f"{target}, a format for Keras models; convert it to {', '.join(able[:-1])} or {able[-1]}")


@dataclass(frozen=True)
class TensorRequest:
    """One item of ``--inputs``/``--outputs``: a tensor and, for inputs, perhaps its shape."""

    tensor: str
    shape: tuple[int | None, ...] | None = None


_ITEM = re.compile(r"^(?P<node>[^:\[\]]+)(?::(?P<index>\d+))?(?::(?P<dims>[^\[\]]+)|(?P<bracket>\[[^\]]*\]))?$")


def parse_requests(text: str | Sequence[str] | None, flag: str) -> list[TensorRequest]:
    """``--inputs``/``--outputs`` items: ``NAME[:INDEX][:SHAPE]`` or ``NAME[:INDEX][SHAPE]``, comma-separated.

    A shape is ``1x224x224x3`` or ``[1,224,224,3]``, with ``?`` or ``-1`` for an open dimension;
    ``x:0`` is the tensor name form (output 0 of node ``x``).

    Raises:
        UsageError: an item that is not of that form.
    """
    if text is None:
        return []
    chunks = [text] if isinstance(text, str) else list(text)
    items: list[str] = []
    for chunk in chunks:
        depth = 0
        current = ""
        for char in chunk:
            depth += char == "["
            depth -= char == "]"
            if char == "," and depth == 0:
                items.append(current)
                current = ""
            else:
                current += char
        items.append(current)
    requests = []
    for item in (item.strip() for item in items):
        if not item:
            continue
        match = _ITEM.match(item)
        if match is None:
            raise UsageError(f"{flag} takes NAME[:SHAPE] items such as x:1x28x28x1 or x:0, not {item!r}")
        index = int(match["index"]) if match["index"] else 0
        dims_text = match["dims"] or (match["bracket"] or "")[1:-1]
        shape = None
        if match["dims"] or match["bracket"]:
            if flag == OUTPUTS_FLAG:
                raise UsageError(f"{flag} takes names only (a shape belongs to {INPUTS_FLAG}), not {item!r}")
            shape = _parse_shape(dims_text, item, flag)
        requests.append(TensorRequest(f"{match['node'].strip()}:{index}", shape))
    return requests


def _parse_shape(text: str, item: str, flag: str) -> tuple[int | None, ...]:
    parts = [part.strip() for part in re.split(r"[x,]", text) if part.strip()] if text.strip() else []
    dims: list[int | None] = []
    for part in parts:
        if part in ("?", "-1", "None"):
            dims.append(None)
        elif part.isdigit():
            dims.append(int(part))
        else:
            raise UsageError(f"{flag}: {item!r} has a dimension {part!r} that is not a number or '?'")
    return tuple(dims)


def display_name(tensor: str) -> str:
    """``x`` for ``x:0``; ``x:1`` for ``x:1``."""
    node, _, index = tensor.rpartition(":")
    return node if index == "0" else tensor


def choose_io(
    graph_def: Any,
    path: Path,
    *,
    signature_inputs: Sequence[TensorInfo] = (),
    signature_outputs: Sequence[TensorInfo] = (),
    inputs: Sequence[TensorRequest] = (),
    outputs: Sequence[TensorRequest] = (),
    skip_scopes: tuple[str, ...] = (),
) -> tuple[list[TensorInfo], list[TensorInfo], str]:
    """The inputs and outputs of ``graph_def``: as requested, else the signature's, else inferred.

    Returns:
        ``(inputs, outputs, io_from)`` with ``io_from`` one of ``given``, ``signature``, ``inferred`` and
        ``outputs from the signature, inputs inferred`` (TF.js models made from frozen graphs).

    Raises:
        UsageError: a requested tensor is not in the graph, or an output needs a placeholder that is
            not among the inputs.
        ReadError: the graph implies no outputs.
    """
    nodes = {node.name: node for node in graph_def.node}
    by_key = {info.name: info for info in [*signature_inputs, *signature_outputs]}
    if inputs or outputs:
        io_from = "given"
    elif signature_outputs:
        io_from = "signature" if signature_inputs else "outputs from the signature, inputs inferred"
    else:
        io_from = "inferred"
    if outputs:
        chosen_outputs = [_requested(request, nodes, by_key, path, OUTPUTS_FLAG) for request in outputs]
    elif signature_outputs:
        chosen_outputs = [_checked(info, nodes, path) for info in signature_outputs]
    else:
        chosen_outputs = [_from_graph(name, nodes) for name in analysis.infer_outputs(graph_def, skip_scopes)]
        if not chosen_outputs:
            raise ReadError(f"{path}: the graph has no node that could be an output (every node is consumed or "
                            f"plumbing); name them with {OUTPUTS_FLAG}")
    if inputs:
        chosen_inputs = [_requested(request, nodes, by_key, path, INPUTS_FLAG) for request in inputs]
    elif signature_inputs and not outputs:
        chosen_inputs = [_checked(info, nodes, path) for info in signature_inputs]
    else:
        keyed = {info.tensor: info for info in signature_inputs}
        chosen_inputs = [keyed.get(name) or _from_graph(name, nodes)
                         for name in analysis.infer_inputs(graph_def, [info.tensor for info in chosen_outputs])]
    _check_fed(graph_def, chosen_inputs, chosen_outputs, path)
    return chosen_inputs, chosen_outputs, io_from



def described_io(graph_def: Any, path: Path, **chosen: Any) -> tuple[list[TensorInfo], list[TensorInfo], str]:
    """:func:`choose_io` for descriptions: a graph without a plausible output is still worth describing, so
    one where nothing can be chosen gets no inputs, no outputs and ``io_from`` ``none found``."""
    try:
        return choose_io(graph_def, path, **chosen)
    except ConvkitError:
        return [], [], "none found"


def describe_graph(graph_def: Any, path: Path, *, weights: bool = False, **chosen: Any) -> dict[str, Any]:
    """The sections every graph-level inspect report shares (:func:`convkit.graph_model.analysis.describe`),
    with the inputs and outputs :func:`described_io` chooses from ``chosen`` (signature tensors, skipped scopes)."""
    inputs, outputs, io_from = described_io(graph_def, path, **chosen)
    return analysis.describe(graph_def, path, inputs=inputs, outputs=outputs, io_from=io_from, weights=weights)


def _from_graph(tensor: str, nodes: dict[str, Any]) -> TensorInfo:
    node_name, _, index = tensor.rpartition(":")
    node = nodes[node_name]
    shape = analysis.output_shape(node, int(index))
    return TensorInfo(display_name(tensor), tensor, analysis.output_dtype(node),
                      tuple(shape) if shape is not None else None)


def _checked(info: TensorInfo, nodes: dict[str, Any], path: Path) -> TensorInfo:
    if analysis.node_of(info.tensor) not in nodes:
        raise ReadError(f"{path}: the signature names tensor {info.tensor!r}, which the graph lacks")
    if info.shape is None or info.dtype is None:
        found = _from_graph(analysis.tensor_name(info.tensor), nodes)
        return replace(info, dtype=info.dtype or found.dtype, shape=info.shape if info.shape is not None else found.shape)
    return info


def _requested(request: TensorRequest, nodes: dict[str, Any], by_key: dict[str, TensorInfo], path: Path,
               flag: str) -> TensorInfo:
    node_name = analysis.node_of(request.tensor)
    if node_name not in nodes:
        key = display_name(request.tensor)
        if key in by_key:  # a signature key (output_0) names the tensor
            info = by_key[key]
            return replace(info, shape=request.shape, shape_given=True) if request.shape is not None else info
        close = _close(node_name, nodes)
        raise UsageError(f"{path}: {flag} names {request.tensor!r}, but the graph has no node {node_name!r}{close}")
    info = _from_graph(request.tensor, nodes)
    if request.shape is not None:
        info = replace(info, shape=request.shape, shape_given=True)
    return info


def _close(name: str, nodes: dict[str, Any]) -> str:
    import difflib

    found = difflib.get_close_matches(name, list(nodes), n=1, cutoff=0.6)
    return f"; did you mean {found[0]!r}?" if found else ""


def _check_fed(graph_def: Any, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo], path: Path) -> None:
    """Every placeholder an output needs must be an input (or lie behind one)."""
    fed = {analysis.node_of(info.tensor) for info in inputs}
    by_name = {node.name: node for node in graph_def.node}
    seen: set[str] = set()
    stack = [analysis.node_of(info.tensor) for info in outputs]
    while stack:
        name = stack.pop()
        if name in seen or name in fed or name not in by_name:
            continue
        seen.add(name)
        node = by_name[name]
        if node.op == "Placeholder":
            raise UsageError(f"{path}: the outputs need placeholder {name!r}, which is not among the inputs; "
                             f"add it to {INPUTS_FLAG}")
        stack.extend(analysis.node_of(reference) for reference in node.input)
