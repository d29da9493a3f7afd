"""What a TensorFlow graph is, read from its nodes: structural checks and the facts ``inspect`` shows.

Checks (each a one-line ``ReadError``): node and function counts under the limits,
unique node names, every input naming a node of its graph or function, no cycle
except a while loop's (closed by a ``NextIteration``), no function that calls
itself, function calls nested no deeper than ``MAX_FUNCTION_NESTING``.

Facts: the op histogram (library functions counted apart), the constants
(parameters and bytes), and the inputs and outputs a graph without a signature
implies: ``Placeholder`` nodes that an output needs are inputs; nodes nobody
consumes are outputs, except constants, no-ops, asserts and prints, assignments,
saver plumbing (``SaveV2``/``RestoreV2`` and the saver's scope), variable and
control-flow plumbing, summaries, training updates and the backward pass (the
``gradients`` scope), and nodes that depend on no input at all. A training graph's
model output feeds its loss, so there the loss is what is inferred: name the
outputs with ``--outputs``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

from convkit.containers import limits as _limits
from convkit.errors import ReadError

# Nodes that are never a model's output even when nothing consumes them.
NOT_OUTPUTS = frozenset({
    "Const", "NoOp", "Assert", "Print", "PrintV2", "Placeholder", "PlaceholderWithDefault",
    "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
    "ScatterUpdate", "ScatterAdd", "ScatterSub",
    "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename",
    "StringJoin", "VariableV2", "Variable", "VarHandleOp", "VarIsInitializedOp", "IsVariableInitialized",
    "ReadVariableOp", "DestroyResourceOp", "Enter", "Exit", "Switch", "Merge", "NextIteration", "LoopCond",
    "RefEnter", "RefExit", "RefSwitch", "RefMerge", "RefNextIteration", "ControlTrigger", "Abort",
    "ScalarSummary", "HistogramSummary", "ImageSummary", "AudioSummary", "AudioSummaryV2", "TensorSummary",
    "TensorSummaryV2", "MergeSummary", "InitializeTable", "InitializeTableV2", "InitializeTableFromTextFile",
    "InitializeTableFromTextFileV2", "HashTable", "HashTableV2", "MutableHashTableV2", "CheckNumerics",
})
# Prefixes of training-update ops (ApplyAdam, ResourceApplyGradientDescent, ...).
_TRAINING_PREFIXES = ("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply")
# The scope tf.gradients (and every TF1 optimizer's minimize) writes the backward pass under.
GRADIENT_SCOPE = "gradients"
# Attributes naming the functions a node calls (While, If, PartitionedCall, MapDataset, ...).
_FUNCTION_ATTRS = ("f", "body", "cond", "then_branch", "else_branch", "branches", "func")


def node_of(reference: str) -> str:
    """The node a tensor reference names: ``a`` for ``a``, ``a:1``, ``^a`` and ``a:output:0``."""
    reference = reference[1:] if reference.startswith("^") else reference
    return reference.split(":", 1)[0]


def is_control(reference: str) -> bool:
    return reference.startswith("^")


def split_inputs(node: Any) -> tuple[list[str], list[str]]:
    """A GraphDef node's data inputs and its control inputs (``^name``), each in order."""
    return ([reference for reference in node.input if not is_control(reference)],
            [reference for reference in node.input if is_control(reference)])


def tensor_name(reference: str) -> str:
    """``a:0`` for ``a`` and ``a:0``; ``a:1`` stays; a function-internal ``a:z:0`` stays."""
    return reference if ":" in reference else f"{reference}:0"


def all_nodes(graph_def: Any) -> Iterator[tuple[str | None, Any]]:
    """``(function name or None, node)`` for every node of the graph and of its library functions."""
    for node in graph_def.node:
        yield None, node
    for function in graph_def.library.function:
        for node in function.node_def:
            yield function.signature.name, node


def called_functions(node: Any) -> set[str]:
    """Names of the library functions a node calls through its attributes."""
    names: set[str] = set()
    for key in _FUNCTION_ATTRS:
        if key not in node.attr:
            continue
        value = node.attr[key]
        if value.HasField("func"):
            names.add(value.func.name)
        names.update(item.name for item in value.list.func)
    return names


def check_structure(graph_def: Any, path: Path, what: str = "graph") -> None:
    """Refuses a graph that is too large, names missing nodes, loops outside a while loop, recurses, or holds
    a constant over ``MAX_CONST_BYTES``.

    Raises:
        ReadError: one sentence naming the node or function at fault.
    """
    functions = list(graph_def.library.function)
    if len(functions) > _limits.MAX_GRAPH_FUNCTIONS:
        raise ReadError(f"{path}: the {what} holds {len(functions)} functions, over convkit's limit of "
                        f"{_limits.MAX_GRAPH_FUNCTIONS}")
    total = len(graph_def.node) + sum(len(function.node_def) for function in functions)
    if total > _limits.MAX_GRAPH_NODES:
        raise ReadError(f"{path}: the {what} holds {total} nodes, over convkit's limit of {_limits.MAX_GRAPH_NODES}")
    names = {function.signature.name for function in functions}
    if len(names) != len(functions):
        raise ReadError(f"{path}: the {what}'s library defines a function twice")
    _check_nodes(graph_def.node, set(), path, f"the {what}")
    _check_cycles(graph_def.node, path, f"the {what}")
    for function in functions:
        arguments = {arg.name for arg in function.signature.input_arg}
        _check_nodes(function.node_def, arguments, path, f"function {function.signature.name!r}")
        _check_cycles(function.node_def, path, f"function {function.signature.name!r}")
    _check_calls(graph_def, names, path)
    from convkit.graph_model.messages import tensor_size

    for _, node in all_nodes(graph_def):  # a forged constant must fail here, before TensorFlow allocates it
        if node.op == "Const" and "value" in node.attr:
            tensor_size(node.attr["value"].tensor, path, f"constant {node.name!r}")


def _check_nodes(nodes: Iterable[Any], arguments: set[str], path: Path, where: str) -> None:
    seen: set[str] = set()
    nodes = list(nodes)
    for node in nodes:
        if not node.name:
            raise ReadError(f"{path}: {where} has a node without a name (op {node.op!r})")
        if not node.op:
            raise ReadError(f"{path}: {where} has a node {node.name!r} without an op")
        if node.name in seen:
            raise ReadError(f"{path}: {where} has two nodes named {node.name!r}")
        seen.add(node.name)
    for node in nodes:
        for reference in node.input:
            source = node_of(reference)
            if source not in seen and source not in arguments:
                raise ReadError(f"{path}: in {where}, node {node.name!r} reads {reference!r}, which is not there")


def _check_cycles(nodes: Iterable[Any], path: Path, where: str) -> None:
    """Kahn's algorithm over every edge except those leaving a ``NextIteration`` (the back edge of a while loop)."""
    by_name = {node.name: node for node in nodes}
    pending: dict[str, int] = {}
    consumers: dict[str, list[str]] = {}
    for node in by_name.values():
        sources = {node_of(reference) for reference in node.input}
        sources = {name for name in sources if name in by_name and by_name[name].op not in ("NextIteration",
                                                                                             "RefNextIteration")}
        pending[node.name] = len(sources)
        for source in sources:
            consumers.setdefault(source, []).append(node.name)
    ready = [name for name, count in pending.items() if count == 0]
    done = 0
    while ready:
        name = ready.pop()
        done += 1
        for consumer in consumers.get(name, ()):
            pending[consumer] -= 1
            if pending[consumer] == 0:
                ready.append(consumer)
    if done != len(by_name):
        stuck = next(name for name, count in pending.items() if count > 0)
        raise ReadError(f"{path}: {where} has a cycle through node {stuck!r} (only a while loop's NextIteration "
                        "may close one)")


def _check_calls(graph_def: Any, names: set[str], path: Path) -> None:
    calls: dict[str | None, set[str]] = {}
    for function, node in all_nodes(graph_def):
        called = called_functions(node)
        if node.op in names:
            called.add(node.op)
        for name in called:
            if name not in names:
                raise ReadError(f"{path}: node {node.name!r} calls function {name!r}, which the library lacks")
        calls.setdefault(function, set()).update(called)
    depth: dict[str, int] = {}
    for start in sorted(names):
        # Iterative depth-first walk: a function on the current path called again is recursion.
        path_stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(calls.get(start, ()))))]
        on_path = {start}
        while path_stack:
            current, children = path_stack[-1]
            child = next(children, None)
            if child is None:
                path_stack.pop()
                on_path.discard(current)
                depth[current] = 1 + max((depth.get(c, 0) for c in calls.get(current, ())), default=0)
                continue
            if child in on_path:
                through = "" if child == current else f" through {current!r}"
                raise ReadError(f"{path}: function {child!r} calls itself{through}; a graph's functions may not "
                                "recurse")
            if child in depth:
                continue
            if len(path_stack) >= _limits.MAX_FUNCTION_NESTING:
                raise ReadError(f"{path}: function calls nest deeper than convkit's limit of "
                                f"{_limits.MAX_FUNCTION_NESTING} (at {child!r})")
            on_path.add(child)
            path_stack.append((child, iter(sorted(calls.get(child, ())))))
        if depth.get(start, 0) > _limits.MAX_FUNCTION_NESTING:
            raise ReadError(f"{path}: function calls nest deeper than convkit's limit of {_limits.MAX_FUNCTION_NESTING}")


def op_histogram(graph_def: Any) -> dict[str, Any]:
    """Op counts of the graph and, apart, of its library functions (each function counted once)."""
    graph_ops = Counter(node.op for node in graph_def.node)
    function_ops = Counter(node.op for function in graph_def.library.function for node in function.node_def)
    return {"graph": dict(graph_ops.most_common()), "functions": dict(function_ops.most_common())}


def constants(graph_def: Any, path: Path, stats: bool = False) -> list[dict[str, Any]]:
    """One row per ``Const`` (graph and functions): name, dtype, shape, elements, bytes and where it sits.

    With ``stats``, each value is decoded and its min, max, mean, std and NaN/Inf counts added.
    """
    from convkit.graph_model.messages import dtype_name, stats as tensor_stats, tensor_size

    rows = []
    for function, node in all_nodes(graph_def):
        if node.op != "Const" or "value" not in node.attr:
            continue
        tensor = node.attr["value"].tensor
        elements, size = tensor_size(tensor, path, f"constant {node.name!r}")
        rows.append({
            "name": node.name,
            "dtype": dtype_name(tensor.dtype),
            "shape": [int(dim.size) for dim in tensor.tensor_shape.dim],
            "elements": elements,
            "bytes": size,
            "function": function,
        })
        if stats:
            rows[-1]["stats"] = tensor_stats(tensor, path, f"constant {node.name!r}")
    return rows


def _skipped(name: str, skip_scopes: tuple[str, ...]) -> bool:
    return any(name.startswith(scope) for scope in skip_scopes) or GRADIENT_SCOPE in name.split("/")


def infer_outputs(graph_def: Any, skip_scopes: tuple[str, ...] = ()) -> list[str]:
    """Tensor names (``node:0``) of the nodes nobody consumes that can be a model's outputs, by name."""
    consumed = {node_of(reference) for node in graph_def.node for reference in node.input}
    placeholders = [node.name for node in graph_def.node
                    if node.op == "Placeholder" and not _skipped(node.name, skip_scopes)]
    fed = _downstream(graph_def, placeholders) if placeholders else None
    outputs = []
    for node in graph_def.node:
        if node.name in consumed or node.op in NOT_OUTPUTS or node.op.startswith(_TRAINING_PREFIXES):
            continue
        if _skipped(node.name, skip_scopes) or (fed is not None and node.name not in fed):
            continue
        outputs.append(f"{node.name}:0")
    return sorted(outputs, key=natural_key)


def natural_key(name: str) -> tuple[Any, ...]:
    """Sorts ``Identity_2`` before ``Identity_10``: graph order is the converter's, names are the model's."""
    import re

    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name))


def _downstream(graph_def: Any, starts: list[str]) -> set[str]:
    consumers: dict[str, list[str]] = {}
    for node in graph_def.node:
        for reference in node.input:
            consumers.setdefault(node_of(reference), []).append(node.name)
    seen = set(starts)
    stack = list(starts)
    while stack:
        for consumer in consumers.get(stack.pop(), ()):
            if consumer not in seen:
                seen.add(consumer)
                stack.append(consumer)
    return seen


def upstream(graph_def: Any, outputs: Iterable[str], follow_control: bool = True) -> set[str]:
    """Names of the nodes the tensors ``outputs`` depend on (themselves included)."""
    by_name = {node.name: node for node in graph_def.node}
    seen: set[str] = set()
    stack = [node_of(name) for name in outputs]
    while stack:
        name = stack.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        stack.extend(node_of(reference) for reference in by_name[name].input
                     if follow_control or not is_control(reference))
    return seen


def infer_inputs(graph_def: Any, outputs: Iterable[str]) -> list[str]:
    """Tensor names of the ``Placeholder`` nodes the ``outputs`` need, in graph order."""
    needed = upstream(graph_def, outputs)
    return [f"{node.name}:0" for node in graph_def.node if node.op == "Placeholder" and node.name in needed]


def output_dtype(node: Any) -> str | None:
    """The dtype a node's first output most likely has, read from its attributes (no op registry)."""
    from convkit.graph_model.messages import dtype_name

    for key in ("dtype", "DstT", "out_type", "output_type", "Tout", "T", "type"):
        if key in node.attr and node.attr[key].WhichOneof("value") == "type":
            return dtype_name(node.attr[key].type)
    return None


def output_shape(node: Any, index: int = 0) -> list[int | None] | None:
    """A node's output shape where the graph records it (``shape`` of a placeholder, ``_output_shapes``)."""
    from convkit.graph_model.messages import shape_of

    if node.op in ("Placeholder", "PlaceholderWithDefault") and "shape" in node.attr:
        return shape_of(node.attr["shape"].shape)
    if "_output_shapes" in node.attr and index < len(node.attr["_output_shapes"].list.shape):
        return shape_of(node.attr["_output_shapes"].list.shape[index])
    return None


def describe(graph_def: Any, path: Path, *, inputs: list[Any], outputs: list[Any], io_from: str,
             weights: bool = False) -> dict[str, Any]:
    """The sections every graph-level inspect report shares: summary, inputs, outputs, ops, functions, constants.

    Args:
        graph_def: the graph (checked with :func:`check_structure` first).
        path: the file, for messages.
        inputs, outputs: ``TensorInfo`` records.
        io_from: ``signature``, ``inferred`` or ``given``.
        weights: add per-constant statistics. Default False.
    """
    histogram = op_histogram(graph_def)
    rows = constants(graph_def, path, stats=weights)
    numeric = [row for row in rows if row["dtype"] not in ("string", "resource", "variant")]
    functions = [{
        "name": function.signature.name,
        "nodes": len(function.node_def),
        "inputs": [arg.name for arg in function.signature.input_arg],
        "outputs": [arg.name for arg in function.signature.output_arg],
    } for function in graph_def.library.function]
    return {
        "summary": {
            "nodes": len(graph_def.node),
            "function_nodes": sum(len(function.node_def) for function in graph_def.library.function),
            "functions": len(functions),
            "parameters": sum(row["elements"] for row in numeric),
            "bytes": sum(row["bytes"] for row in numeric),
            "producer": graph_def.versions.producer,
            "inputs": len(inputs),
            "outputs": len(outputs),
            "inputs_and_outputs": io_from,
        },
        "inputs": [info.to_dict() for info in inputs],
        "outputs": [info.to_dict() for info in outputs],
        "ops": histogram["graph"],
        "function_ops": histogram["functions"],
        "functions": functions,
        "constants": rows,
    }
