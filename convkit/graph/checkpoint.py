"""The object graph of a TensorFlow checkpoint: which object holds which object and variable.

Object-based checkpoints (``tf.train.Checkpoint``, Keras ``save_weights``)
store a ``TrackableObjectGraph``: each object is a node, each named
reference an edge (an object reached twice is drawn once, with both edges);
variables are folded into the object that owns them, as its weights.
Name-based (TF1) checkpoints have no object graph: their variable scopes are
drawn instead. A checkpoint holds no operations, so it counts no MACs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.graph.model import Edge, Graph, Node, Weight

_VARIABLE = "VARIABLE_VALUE"


def from_checkpoint(path: Path, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """The object graph of the checkpoint at ``path`` (``level`` ``auto`` or ``objects``)."""
    from convkit.containers.tensor_bundle import OBJECT_GRAPH_KEY
    from convkit.errors import ReadError
    from convkit.formats import checkpoint

    if level in ("layers", "ops"):
        raise ReadError(f"{path}: a checkpoint holds objects and variables, not {level}; draw it without --level")
    index = checkpoint.read_index(Path(path))
    entries = {entry.key: entry for entry in index.entries}
    graph = Graph(name=index.prefix.name, format="ckpt", level="objects")
    object_graph = checkpoint.read_object_graph(index.prefix)
    if object_graph is None:
        _scopes(graph, [entry for entry in index.entries if entry.key != OBJECT_GRAPH_KEY])
        return graph
    nodes = object_graph.nodes
    is_variable = [len(node.attributes) == 1 and node.attributes[0].name == _VARIABLE and not node.children
                   for node in nodes]
    names: dict[int, str] = {0: "(root)"}
    queue = [0]
    while queue:  # breadth first: each object is named by its shortest path
        node_id = queue.pop(0)
        for child in nodes[node_id].children:
            if 0 <= child.node_id < len(nodes) and child.node_id not in names:
                names[child.node_id] = child.local_name if node_id == 0 else f"{names[node_id]}/{child.local_name}"
                queue.append(child.node_id)
    drawn: dict[int, Node] = {}
    for node_id, node in enumerate(nodes):
        if is_variable[node_id] or node_id not in names:
            continue
        item = Node(id=f"object:{node_id}", name=names[node_id], op="Object" if node_id else "Root", kind="object",
                    macs=0, macs_status="none", attributes={"node": node_id})
        if node.slot_variables:
            item.attributes["slot_variables"] = len(node.slot_variables)
        for attribute in node.attributes:
            entry = entries.get(attribute.checkpoint_key)
            if entry is not None:
                item.weights.append(Weight(attribute.name, list(entry.shape), entry.dtype, key=attribute.checkpoint_key))
        drawn[node_id] = item
        graph.nodes.append(item)
    for node_id, node in enumerate(nodes):
        if node_id not in drawn:
            continue
        for child in node.children:
            if not 0 <= child.node_id < len(nodes):
                continue
            if is_variable[child.node_id]:
                attribute = nodes[child.node_id].attributes[0]
                entry = entries.get(attribute.checkpoint_key)
                if entry is not None:
                    drawn[node_id].weights.append(Weight(child.local_name, list(entry.shape), entry.dtype,
                                                         key=attribute.checkpoint_key))
            elif child.node_id in drawn:
                graph.edges.append(Edge(drawn[node_id].id, drawn[child.node_id].id, label=child.local_name))
    return graph


def _scopes(graph: Graph, entries: list[Any]) -> None:
    scopes: dict[str, Node] = {}

    def scope(name: str) -> Node:
        if name not in scopes:
            parent = name.rsplit("/", 1)[0] if "/" in name else ""
            node = Node(id=f"scope:{name}", name=name or "(root)", op="Scope", kind="object", macs=0, macs_status="none")
            scopes[name] = node
            graph.nodes.append(node)
            if name:
                graph.edges.append(Edge(scope(parent).id, node.id, label=name.rsplit("/", 1)[-1]))
        return scopes[name]

    for entry in entries:
        owner, _, variable = entry.key.rpartition("/")
        scope(owner).weights.append(Weight(variable, list(entry.shape), entry.dtype, key=entry.key))
