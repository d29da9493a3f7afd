"""A MetaGraph and its checkpoint frozen into one graph: every variable a constant, without TensorFlow.

TF1 checkpoints carry their graph in ``PREFIX.meta`` (a ``MetaGraphDef``: the
graph, the saver's settings, collections, perhaps signatures); TF1 SavedModels
carry one ``MetaGraphDef`` per tag set and their variables in ``variables/``.
Freezing reads the graph as data and the variables with convkit's own
checkpoint reader; the saver's restore ops are read (``RestoreV2``'s tensor
names, the ``Assign`` each result feeds) to learn which checkpoint key holds
which variable, never run. Only what the outputs need is kept, so the saver,
initialisers and training ops drop out:

- ``VariableV2``/``VarHandleOp`` -> ``Const`` holding the checkpoint's value;
- ``ReadVariableOp`` of a resource -> ``Identity``; ``ResourceGather`` -> ``GatherV2``;
- anything else that writes a variable on the way to an output is refused by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from convkit.containers import limits as _limits
from convkit.errors import ReadError, UsageError
from convkit.graph_model import analysis, messages
from convkit.graph_model.model import GraphModel, TensorInfo, choose_io

META_SUFFIX = ".meta"
_DT_INT32 = 3
_VARIABLE_OPS = frozenset({"VariableV2", "Variable", "VarHandleOp"})
# Control inputs from these nodes do not carry a model's computation (initialisers, assignments, savers).
_PLUMBING_OPS = frozenset({"NoOp", "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
                           "AssignSubVariableOp", "VarIsInitializedOp", "IsVariableInitialized", "SaveV2",
                           "RestoreV2", "MergeV2Checkpoints", "InitializeTableV2", "InitializeTable"})
_WRITES = frozenset({"Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
                     "AssignSubVariableOp", "ScatterUpdate", "ScatterAdd", "ScatterSub", "ResourceScatterUpdate",
                     "ResourceScatterAdd"})


def read_meta_graph(meta: Path) -> Any:
    """The ``MetaGraphDef`` in ``meta`` (binary, the way TF1 savers write it).

    Raises:
        ReadError: missing, over ``MAX_PROTO_BYTES``, or not a MetaGraphDef.
    """
    data = _limits.read_capped(meta, _limits.MAX_PROTO_BYTES, "MetaGraph")
    message = messages.parse(messages.meta_graph_class(), data, meta, "MetaGraphDef")
    if not message.graph_def.node:
        raise ReadError(f"{meta}: the MetaGraph holds an empty graph (truncated or not a .meta file)")
    return message


def saver_scope(meta_graph: Any) -> tuple[str, ...]:
    """The name scope of the MetaGraph's saver (``save/``), whose nodes are never inputs or outputs."""
    if not meta_graph.HasField("saver_def"):
        return ()
    names = [meta_graph.saver_def.filename_tensor_name, meta_graph.saver_def.save_tensor_name,
             meta_graph.saver_def.restore_op_name]
    scopes = {name.split("/")[0] for name in names if "/" in name}
    return tuple(f"{scope}/" for scope in sorted(scopes))


def checkpoint_keys(graph_def: Any, path: Path) -> dict[str, str]:
    """Variable node -> checkpoint key, read from the saver's restore ops; a variable they do not name keeps
    TensorFlow's default key (its node name, or a resource's ``shared_name``)."""
    by_name = {node.name: node for node in graph_def.node}
    keys: dict[str, str] = {}
    for node in graph_def.node:
        if node.op in ("VariableV2", "Variable"):
            keys[node.name] = node.name
        elif node.op == "VarHandleOp":
            shared = node.attr["shared_name"].s.decode("utf-8", "replace") if "shared_name" in node.attr else ""
            keys[node.name] = shared or node.name
    restored: dict[str, str] = {}  # "save/RestoreV2:3" -> key
    for node in graph_def.node:
        if node.op != "RestoreV2" or len(node.input) < 2:
            continue
        names_node = by_name.get(analysis.node_of(node.input[1]))
        if names_node is None or names_node.op != "Const":
            continue
        names = messages.to_array(names_node.attr["value"].tensor, path, f"constant {names_node.name!r}")
        for index, name in enumerate(names.reshape(-1)):
            key = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
            restored[f"{node.name}:{index}"] = key
            if index == 0:
                restored[node.name] = key
    for node in graph_def.node:
        if node.op not in ("Assign", "AssignVariableOp") or len(node.input) < 2:
            continue
        source = _through_identity(node.input[1], by_name)
        if source in restored:
            keys[analysis.node_of(node.input[0])] = restored[source]
    return keys


def _through_identity(reference: str, by_name: dict[str, Any]) -> str:
    """The tensor ``reference`` passes on unchanged through a chain of ``Identity`` nodes."""
    for _ in range(100):
        node = by_name.get(analysis.node_of(reference))
        if node is None or node.op != "Identity" or not node.input:
            break
        reference = node.input[0]
    return reference


def variables(graph_def: Any, path: Path) -> list[dict[str, Any]]:
    """One row per variable of the graph: node, op, dtype, shape and its checkpoint key."""
    keys = checkpoint_keys(graph_def, path)
    rows = []
    for node in graph_def.node:
        if node.op not in _VARIABLE_OPS:
            continue
        shape = messages.shape_of(node.attr["shape"].shape) if "shape" in node.attr else None
        rows.append({"name": node.name, "op": node.op,
                     "dtype": messages.dtype_name(node.attr["dtype"].type) if "dtype" in node.attr else None,
                     "shape": shape, "checkpoint_key": keys.get(node.name, node.name)})
    return rows


def _plumbing(graph_def: Any) -> set[str]:
    """Nodes that only initialise, assign or save: assignments and savers, and no-ops grouping nothing else
    (``init``, ``save/restore_all``); a no-op inside a while loop, which holds nodes in its frame, is not one."""
    by_name = {node.name: node for node in graph_def.node}
    found: dict[str, bool] = {}
    visiting: set[str] = set()
    for start in by_name:
        stack = [start]
        while stack:
            current = stack[-1]
            if current in found:
                stack.pop()
                continue
            node = by_name.get(current)
            if node is None or node.op != "NoOp":
                found[current] = node is not None and node.op in _PLUMBING_OPS
                stack.pop()
                continue
            sources = [analysis.node_of(reference) for reference in node.input]
            pending = [source for source in sources if source not in found and source not in visiting]
            if pending and current not in visiting:
                visiting.add(current)
                stack.extend(pending)
                continue
            found[current] = all(found.get(source, False) for source in sources)
            visiting.discard(current)
            stack.pop()
    return {name for name, plumbing in found.items() if plumbing}


def needed_nodes(graph_def: Any, outputs: list[str], fed: set[str] = frozenset()) -> set[str]:  # type: ignore[assignment]
    """Nodes the ``outputs`` need: their data inputs, and control inputs other than initialisers and savers."""
    by_name = {node.name: node for node in graph_def.node}
    plumbing = _plumbing(graph_def)
    seen: set[str] = set()
    stack = [analysis.node_of(name) for name in outputs]
    while stack:
        name = stack.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        if name in fed:
            continue
        for reference in by_name[name].input:
            if analysis.is_control(reference) and analysis.node_of(reference) in plumbing:
                continue
            stack.append(analysis.node_of(reference))
    return seen


def freeze(
    graph_def: Any,
    outputs: list[str],
    value_of: Callable[[str, str], Any],
    path: Path,
    *,
    fed: set[str] = frozenset(),  # type: ignore[assignment]
) -> tuple[Any, int]:
    """``graph_def`` cut down to what ``outputs`` need, every variable replaced by ``value_of(node, key)``.

    Returns:
        The frozen ``GraphDef`` and the number of variables frozen.

    Raises:
        ReadError: a variable is missing from the checkpoint or does not fit, or an output needs an op
            that writes a variable.
    """
    by_name = {node.name: node for node in graph_def.node}
    needed = needed_nodes(graph_def, outputs, fed)
    keys = checkpoint_keys(graph_def, path)
    frozen = messages.graph_def_class()()
    frozen.versions.CopyFrom(graph_def.versions)
    frozen.library.CopyFrom(graph_def.library)
    handles = {name for name in needed if by_name[name].op == "VarHandleOp"}
    count = 0
    for node in graph_def.node:
        if node.name not in needed:
            continue
        if node.op in _WRITES or node.op.startswith(("Apply", "ResourceApply")):
            raise ReadError(f"{path}: the outputs need node {node.name!r} ({node.op}), which writes a variable; "
                            "name the model's outputs with --outputs")
        copy = frozen.node.add()
        if node.op in _VARIABLE_OPS:
            key = keys.get(node.name, node.name)
            value = value_of(node.name, key)
            _check_fits(node, value, key, path)
            copy.name = node.name
            copy.op = "Const"
            copy.attr["dtype"].type = node.attr["dtype"].type
            copy.attr["value"].tensor.CopyFrom(messages.from_array(value, node.attr["dtype"].type, path,
                                                                   f"variable {node.name!r}"))
            count += 1
            continue
        copy.CopyFrom(node)
        if any(analysis.node_of(reference) in handles for reference in node.input):
            axis = _resource_read(copy, node, path)
            if axis is not None:
                frozen.node.add().CopyFrom(axis)
        kept = [reference for reference in copy.input if not analysis.is_control(reference)
                or analysis.node_of(reference) in needed]
        del copy.input[:]
        copy.input.extend(kept)
        if "_class" in copy.attr:  # colocation with a node that may be gone (a variable's initialiser)
            del copy.attr["_class"]
    return frozen, count


def _check_fits(node: Any, value: Any, key: str, path: Path) -> None:
    shape = messages.shape_of(node.attr["shape"].shape) if "shape" in node.attr else None
    if shape is not None and None not in shape and list(value.shape) != shape:
        raise ReadError(f"{path}: variable {node.name!r} has shape {shape} in the graph but {list(value.shape)} "
                        f"in the checkpoint (key {key!r})")


def _resource_read(copy: Any, node: Any, path: Path) -> Any:
    """A read of a frozen resource variable, as the op that reads the constant instead; returns a node to add."""
    if node.op == "ReadVariableOp":
        dtype = node.attr["dtype"].type
        copy.op = "Identity"
        copy.attr.clear()
        copy.attr["T"].type = dtype
        return None
    if node.op == "ResourceGather":
        from tensorboard.compat.proto import node_def_pb2

        batch_dims = node.attr["batch_dims"].i if "batch_dims" in node.attr else 0
        axis = node_def_pb2.NodeDef(name=f"{node.name}/convkit_axis", op="Const")
        axis.attr["dtype"].type = _DT_INT32
        axis.attr["value"].tensor.CopyFrom(messages.from_array(batch_dims, _DT_INT32))
        copy.op = "GatherV2"
        copy.attr.clear()
        copy.attr["Tparams"].type = node.attr["dtype"].type
        copy.attr["Tindices"].type = node.attr["Tindices"].type
        copy.attr["Taxis"].type = _DT_INT32
        copy.attr["batch_dims"].i = batch_dims
        data = [reference for reference in node.input if not analysis.is_control(reference)]
        control = [reference for reference in node.input if analysis.is_control(reference)]
        del copy.input[:]
        copy.input.extend([*data[:2], axis.name, *control])
        return axis
    raise ReadError(f"{path}: node {node.name!r} ({node.op}) uses a variable in a way convkit cannot freeze")


def checkpoint_values(prefix: Path) -> Callable[[str, str], Any]:
    """``value_of(node, key)`` reading the checkpoint at ``prefix`` (its index read at the first variable)."""
    from convkit.containers import tensor_bundle

    opened: list[Any] = []

    def value_of(node: str, key: str) -> Any:
        if not opened:
            index = tensor_bundle.read_index(prefix)
            opened.extend([index, {entry.key: entry for entry in index.entries}])
        index, entries = opened
        entry = entries.get(key)
        if entry is None:
            raise ReadError(f"{index.prefix}: the graph's variable {node!r} (checkpoint key {key!r}) is not in the "
                            "checkpoint")
        return tensor_bundle.tensor_value(index, entry)

    return value_of


def frozen_model(
    meta_graph: Any,
    prefix: Path,
    path: Path,
    *,
    origin: str,
    inputs: Any = (),
    outputs: Any = (),
    signature: str | None = None,
) -> GraphModel:
    """The ``GraphModel`` of a MetaGraph whose variables live in the checkpoint at ``prefix``."""
    graph_def = meta_graph.graph_def
    analysis.check_structure(graph_def, path, "MetaGraph")
    signature_inputs, signature_outputs = signature_infos(meta_graph, signature, path)
    chosen_inputs, chosen_outputs, io_from = choose_io(
        graph_def, path, signature_inputs=signature_inputs, signature_outputs=signature_outputs,
        inputs=inputs, outputs=outputs, skip_scopes=saver_scope(meta_graph))
    fed = {analysis.node_of(info.tensor) for info in chosen_inputs}
    frozen, count = freeze(graph_def, [info.tensor for info in chosen_outputs], checkpoint_values(prefix), path,
                           fed=fed)
    notes = [f"{count} variables frozen into constants"] if count else []
    return GraphModel(frozen, chosen_inputs, chosen_outputs, path, origin, io_from, notes)


def signature_infos(meta_graph: Any, key: str | None, path: Path) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """The inputs and outputs of the MetaGraph's signature ``key`` (default ``serving_default``, or the only one).

    Raises:
        UsageError: ``key`` names no signature, or several signatures and none is ``serving_default``.
    """
    signatures = meta_graph.signature_def
    if not signatures:
        if key is not None:
            raise UsageError(f"{path}: --signature {key!r}: the graph has no signatures")
        return [], []
    if key is None:
        if "serving_default" in signatures:
            key = "serving_default"
        elif len(signatures) == 1:
            key = next(iter(signatures))
        else:
            raise UsageError(f"{path}: the graph has several signatures ({', '.join(sorted(signatures))}); "
                             "choose one with --signature")
    if key not in signatures:
        raise UsageError(f"{path}: --signature {key!r} is not one of the graph's signatures "
                         f"({', '.join(sorted(signatures)) or 'none'})")
    chosen = signatures[key]

    def infos(side: Any) -> list[TensorInfo]:
        rows = []
        for name in sorted(side):
            info = side[name]
            if info.WhichOneof("encoding") != "name":
                raise ReadError(f"{path}: signature {key!r} passes {name!r} as a composite tensor, which convkit "
                                "cannot feed")
            shape = messages.shape_of(info.tensor_shape)
            rows.append(TensorInfo(name, analysis.tensor_name(info.name), messages.dtype_name(info.dtype),
                                   tuple(shape) if shape is not None else None))
        return rows

    return infos(chosen.inputs), infos(chosen.outputs)


def choose_meta_graph(saved_model: Any, tag: str | None, path: Path) -> Any:
    """The SavedModel's meta graph tagged ``tag`` (a comma-separated tag set); default: ``serve``, else the only one.

    Raises:
        UsageError: no meta graph has those tags, or several do and none is ``serve``.
    """
    meta_graphs = list(saved_model.meta_graphs)
    tag_sets = [",".join(sorted(meta.meta_info_def.tags)) or "(none)" for meta in meta_graphs]
    if tag is not None:
        wanted = {part.strip() for part in tag.split(",") if part.strip()}
        found = [meta for meta in meta_graphs if set(meta.meta_info_def.tags) == wanted]
        if not found:
            raise UsageError(f"{path}: --tag {tag!r} names no meta graph; its tag sets are {', '.join(tag_sets)}")
        return found[0]
    serving = [meta for meta in meta_graphs if "serve" in meta.meta_info_def.tags]
    if serving:
        return serving[0]
    if len(meta_graphs) == 1:
        return meta_graphs[0]
    raise UsageError(f"{path}: the SavedModel has several meta graphs ({', '.join(tag_sets)}) and none tagged "
                     "serve; choose one with --tag")


def is_tf1_meta_graph(meta_graph: Any) -> bool:
    """Whether a SavedModel meta graph is TF1-style: its variables are graph nodes, no object graph of functions."""
    return not meta_graph.object_graph_def.concrete_functions
