"""The format-neutral model graph every picture and metric is made from.

A ``Graph`` holds ``nodes`` (a Keras layer, a TensorFlow/ONNX/TFLite op, a
checkpoint object), ``edges`` (one per tensor a node consumes, with the shape
and dtype the file records or convkit infers), ``groups`` (nested models,
called functions, control-flow bodies, name scopes; a group may sit in
another) and the graph's inputs and outputs. Extractors under
``convkit/graph`` fill it from each format without TensorFlow; the metrics,
the collapsing of big graphs and the drawings read only this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Shape = list[int | str | None]


@dataclass
class Weight:
    """A tensor a node owns (kernel, bias, initializer, constant).

    Attributes:
        name: the weight's name as the node knows it (``kernel``, ``W``, the tensor name).
        shape: its dimensions.
        dtype: numpy-style dtype name.
        key: the name of the same tensor in the format's ``inspect --weights`` report,
            where ``--stats`` finds its statistics; ``None`` when the report does not list it.
    """

    name: str
    shape: list[int]
    dtype: str = "float32"
    key: str | None = None

    @property
    def size(self) -> int:
        total = 1
        for dim in self.shape:
            total *= int(dim)
        return total


@dataclass
class Node:
    """One layer, op or object.

    Attributes:
        id: unique within the graph (used in drawings and edges).
        name: the name in the file.
        op: the layer class or op type (``Conv2D``, ``DEPTHWISE_CONV_2D``, ``Conv``).
        group: the id of the innermost group holding the node, or ``None`` (top level).
        attributes: what the file says about the node, as JSON-ready values.
        weights: the tensors the node owns.
        outputs: shapes of the node's outputs (batch dimension ``None`` when open).
        output_dtypes: dtypes of the node's outputs, where known.
        macs: multiply-accumulates for one example; ``None`` when not counted (see ``macs_status``).
        macs_status: ``counted`` (a rule applied), ``none`` (an op convkit knows does no
            multiply-accumulate: elementwise, pooling, shape ops), ``unknown`` (an op convkit
            has no rule for) or ``no-shape`` (a rule exists but a shape it needs is not known).
        kind: ``op``, ``input``, ``output``, ``const`` or ``object``: how the node is drawn.
    """

    id: str
    name: str
    op: str
    group: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    weights: list[Weight] = field(default_factory=list)
    outputs: list[Shape | None] = field(default_factory=list)
    output_dtypes: list[str | None] = field(default_factory=list)
    macs: int | None = None
    macs_status: str = "unknown"
    kind: str = "op"

    @property
    def parameters(self) -> int:
        return sum(weight.size for weight in self.weights)


@dataclass
class Edge:
    """A tensor from ``source`` to ``target`` (node ids), with what is known of it."""

    source: str
    target: str
    shape: Shape | None = None
    dtype: str | None = None
    label: str | None = None


@dataclass
class Group:
    """A nested model, function, control-flow body or name scope.

    Attributes:
        id: unique within the graph.
        label: what the drawing shows (``head (Sequential)``, ``while body``).
        kind: ``model``, ``function``, ``body``, ``subgraph``, ``scope`` or ``chain``/``segment``
            (made by convkit to keep a big flat graph drawable).
        parent: the id of the group holding this one, or ``None``.
    """

    id: str
    label: str
    kind: str
    parent: str | None = None


@dataclass
class Graph:
    """A model's graph, as every format's extractor hands it to the metrics and the drawings.

    Attributes:
        name: the model's or graph's name.
        format: the registry name of the file's format.
        level: ``layers`` (Keras layers), ``ops`` (an op graph) or ``objects`` (a checkpoint's object graph).
        nodes, edges, groups: the graph.
        notes: what the extractor could not read or chose to leave out, for the user.
    """

    name: str
    format: str
    level: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def node(self, node_id: str) -> Node:
        return self._index()[node_id]

    def _index(self) -> dict[str, Node]:
        index = getattr(self, "_by_id", None)
        if index is None or len(index) != len(self.nodes):
            index = {node.id: node for node in self.nodes}
            object.__setattr__(self, "_by_id", index)
        return index

    def group_children(self) -> dict[str | None, list[str]]:
        """Group id (``None``: top level) -> ids of the groups directly inside it."""
        children: dict[str | None, list[str]] = {}
        for group in self.groups:
            children.setdefault(group.parent, []).append(group.id)
        return children

    @property
    def op_nodes(self) -> list[Node]:
        """The nodes that are layers, ops or objects of the file (not drawn inputs and outputs)."""
        return [node for node in self.nodes if node.kind in ("op", "object")]


def topological(ids: list[str], producers: dict[str, set[str]]) -> list[str]:
    """``ids`` with every node after the nodes it takes inputs from (``producers``, by id).

    A cycle (a TF1 loop's ``NextIteration``; no valid Keras config has one) is broken at the first id left.
    """
    pending = {node_id: {p for p in producers.get(node_id, ()) if p != node_id and p in producers} for node_id in ids}
    consumers: dict[str, list[str]] = {}
    for node_id, sources in pending.items():
        for source in sources:
            consumers.setdefault(source, []).append(node_id)
    ready = [node_id for node_id in ids if not pending[node_id]]
    result: list[str] = []
    done: set[str] = set()
    position = 0
    left = iter(ids)
    while len(result) < len(ids):
        if position >= len(ready):
            ready.append(next(node_id for node_id in left if node_id not in done))
        node_id = ready[position]
        position += 1
        if node_id in done:
            continue
        done.add(node_id)
        result.append(node_id)
        for consumer in consumers.get(node_id, []):
            pending[consumer].discard(node_id)
            if not pending[consumer] and consumer not in done:
                ready.append(consumer)
    return result


def shape_text(shape: Shape | None) -> str:
    """``1x56x56x64`` (open dimensions as ``?``), or ``?`` for an unknown shape."""
    if shape is None:
        return "?"
    if not shape:
        return "scalar"
    return "x".join("?" if dim is None else str(dim) for dim in shape)
