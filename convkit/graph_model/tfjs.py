"""A TF.js graph model rebuilt as a TensorFlow GraphDef, without TensorFlow.

What tensorflowjs' converter did, undone step by step:

- ``modelTopology`` is the optimised GraphDef as protobuf JSON with every
  ``Const`` value stripped into the weight shards; constants inside library
  functions (control flow v2) were renamed ``<function>/<name>``. Each ``Const``
  gets its value back from the manifest, dequantized (uint8/uint16 affine,
  float16) and cast to the dtype the ``Const`` declares (TF.js has no int64; a
  quantized integer weight is rounded).
- String attributes appear base64-encoded (protobuf JSON) or, in files written by
  other tools, as lists of character codes; both are read.
- TF.js-only ops become TensorFlow ops: ``FusedDepthwiseConv2dNative`` ->
  ``DepthwiseConv2dNative`` + bias + activation, ``Prelu(x, a)`` ->
  ``Relu(x) - a * Relu(-x)`` (Keras' own form, which the TFLite converter fuses back
  into PRELU), and the grappler-fused ``_FusedConv2D``/``_FusedMatMul`` (TensorFlow has
  them, but no converter reads them, and TF.js adds a ``Prelu`` activation and
  full-tensor "biases" TensorFlow lacks) are unfused the same way.

The pre-1.0 format (``tensorflowjs_model.pb`` + ``weights_manifest.json``) holds the
same stripped GraphDef in binary and the manifest alone; it is rebuilt the same way.
"""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from convkit.errors import ReadError, error_text
from convkit.graph_model import analysis, messages
from convkit.graph_model.model import GraphModel, TensorInfo, TensorRequest, choose_io

# The fused ops of TF.js graph models and the TensorFlow op each one's contraction is.
FUSED_CONTRACTIONS = {
    "_FusedConv2D": "Conv2D",
    "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
    "_FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
    "_FusedMatMul": "MatMul",
    "_FusedBatchMatMul": "BatchMatMulV2",
}
_CONTRACTION_ATTRS = {
    "Conv2D": ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations", "use_cudnn_on_gpu"),
    "DepthwiseConv2dNative": ("T", "strides", "padding", "explicit_paddings", "data_format", "dilations"),
    "MatMul": ("T", "transpose_a", "transpose_b"),
    "BatchMatMulV2": ("T", "adj_x", "adj_y"),
}
# Output argument names of the ops written here, for references inside library functions (``node:z:0``).
_OUTPUT_ARG = {
    "Conv2D": "output", "DepthwiseConv2dNative": "output", "MatMul": "product", "BatchMatMulV2": "output",
    "BiasAdd": "output", "AddV2": "z", "Sub": "z", "Mul": "z", "Neg": "y", "Relu": "activations",
    "Relu6": "activations", "Elu": "activations", "Selu": "activations", "LeakyRelu": "activations",
    "Sigmoid": "y", "Tanh": "y", "Rsqrt": "y", "Erf": "y", "Softplus": "activations", "Const": "output",
}
_UNARY_ACTIVATIONS = {"relu": "Relu", "relu6": "Relu6", "elu": "Elu", "selu": "Selu", "sigmoid": "Sigmoid",
                      "tanh": "Tanh"}
_DT_FLOAT = 1


def graph_def_from_json(topology: Any, path: Path) -> Any:
    """``modelTopology`` (a GraphDef as protobuf JSON) as a ``GraphDef`` message.

    Raises:
        ReadError: not a GraphDef, or more nodes than convkit's limit.
    """
    from google.protobuf import json_format

    from convkit.containers import limits as _limits

    if not isinstance(topology, dict):
        raise ReadError(f"{path}: the graph model's modelTopology is not a JSON object")
    nodes = topology["node"] if isinstance(topology.get("node"), list) else []
    library = topology["library"] if isinstance(topology.get("library"), dict) else {}
    functions = library["function"] if isinstance(library.get("function"), list) else []
    total = len(nodes) + sum(len(f["nodeDef"]) for f in functions if isinstance(f, dict)
                             and isinstance(f.get("nodeDef"), list))
    if total > _limits.MAX_GRAPH_NODES:
        raise ReadError(f"{path}: the graph model holds {total} nodes, over convkit's limit of {_limits.MAX_GRAPH_NODES}")
    graph_def = messages.graph_def_class()()
    try:
        json_format.ParseDict(_strings_as_base64(topology), graph_def, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        raise ReadError(f"{path}: the graph model's modelTopology is not a GraphDef ({error_text(error, limit=200)})") from None
    return graph_def


def _strings_as_base64(value: Any, key: str = "") -> Any:
    """The topology with string attributes given as character codes turned into protobuf JSON's base64."""
    if isinstance(value, dict):
        if key == "s" and value and all(str(k).isdigit() for k in value):  # {"0": 83, "1": 65, ...}
            return _codes(list(value[k] for k in sorted(value, key=int)))
        return {k: _strings_as_base64(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if key == "s" and value and all(isinstance(item, int) and not isinstance(item, bool) for item in value):
            return _codes(value)
        return [_strings_as_base64(item, key) for item in value]
    return value


def _codes(values: list[Any]) -> Any:
    try:
        return base64.b64encode(bytes(int(v) for v in values)).decode("ascii")
    except (TypeError, ValueError):
        return values  # not character codes after all; ParseDict says what is wrong


def signature_infos(signature: Any, side: str) -> list[TensorInfo]:
    """The ``inputs``/``outputs`` of a TF.js signature as ``TensorInfo`` records, ordered by key."""
    from tensorboard.compat.proto import types_pb2

    listed = signature.get(side) if isinstance(signature, dict) else None
    if not isinstance(listed, dict):
        return []
    infos = []
    for key in sorted(listed, key=analysis.natural_key):
        entry = listed[key]
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        dtype = None
        if isinstance(entry.get("dtype"), str):
            try:
                dtype = messages.dtype_name(types_pb2.DataType.Value(entry["dtype"]))
            except ValueError:
                dtype = None
        shape = None
        tensor_shape = entry.get("tensorShape")
        if isinstance(tensor_shape, dict) and not tensor_shape.get("unknownRank"):
            dims = tensor_shape.get("dim") or []
            try:
                shape = tuple(None if int(d.get("size", -1)) < 0 else int(d.get("size", -1)) for d in dims)
            except (TypeError, ValueError, AttributeError):
                shape = None
        infos.append(TensorInfo(str(key), analysis.tensor_name(entry["name"]), dtype, shape))
    return infos


def fill_constants(graph_def: Any, weights: dict[str, Any], path: Path) -> int:
    """Gives every stripped ``Const`` its value from ``weights`` (name -> array); returns how many.

    Raises:
        ReadError: a constant has no weight, or a weight does not fit its constant's shape.
    """
    filled = 0
    for function, node in analysis.all_nodes(graph_def):
        if node.op != "Const":
            continue
        tensor = node.attr["value"].tensor
        if _has_values(tensor):
            continue
        names = [node.name] + ([f"{function}/{node.name}"] if function else [])
        value = next((weights[name] for name in names if name in weights), None)
        shape = [int(dim.size) for dim in tensor.tensor_shape.dim]
        if value is None:
            if 0 in shape:
                continue
            raise ReadError(f"{path}: constant {node.name!r} has no weight in the manifest (a missing or renamed weight)")
        if list(value.shape) != shape:
            if value.size != analysis_count(shape):
                raise ReadError(f"{path}: weight {node.name!r} has shape {list(value.shape)}, but its constant "
                                f"declares {shape}")
            value = value.reshape(shape)
        dtype = node.attr["dtype"].type if "dtype" in node.attr else tensor.dtype
        node.attr["value"].tensor.CopyFrom(messages.from_array(value, int(dtype) or tensor.dtype or _DT_FLOAT, path,
                                                               f"constant {node.name!r}"))
        messages.tensor_size(node.attr["value"].tensor, path, f"constant {node.name!r}")
        filled += 1
    return filled


def analysis_count(shape: Iterable[int]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def _has_values(tensor: Any) -> bool:
    return bool(tensor.tensor_content) or any(len(getattr(tensor, field)) for field in (
        "float_val", "double_val", "int_val", "int64_val", "bool_val", "string_val", "half_val", "scomplex_val",
        "dcomplex_val", "uint32_val", "uint64_val"))


def restore_function_names(graph_def: Any) -> int:
    """Gives constants inside library functions their own names back; returns how many were renamed.

    The TF.js converter names them ``<function>/<name>``, which TensorFlow refuses inside a function
    (a node name may not start with ``__inference``), and it prefixes every input that merely *starts
    with* a constant's name (``add_1`` became ``fn/add_1`` when a constant ``add`` existed). Both are
    undone: every ``<function>/`` node and reference loses the prefix (a clash gets a ``_convkit`` suffix).
    """
    renamed = 0
    for function in graph_def.library.function:
        prefix = f"{function.signature.name}/"
        taken = {node.name for node in function.node_def} | {arg.name for arg in function.signature.input_arg}
        names: dict[str, str] = {}
        for node in function.node_def:
            if node.name.startswith(prefix):
                new = node.name[len(prefix):]
                while new in taken or new in names.values():
                    new += "_convkit"
                names[node.name] = new
                node.name = new
                renamed += 1
        existing = {node.name for node in function.node_def} | {arg.name for arg in function.signature.input_arg}
        for node in function.node_def:
            node.input[:] = [_unprefixed(reference, prefix, names, existing) for reference in node.input]
        for key in list(function.ret):
            function.ret[key] = _unprefixed(function.ret[key], prefix, names, existing)
        for key in list(function.control_ret):
            function.control_ret[key] = _unprefixed(function.control_ret[key], prefix, names, existing)
    return renamed


def _unprefixed(reference: str, prefix: str, names: dict[str, str], existing: set[str]) -> str:
    control = reference.startswith("^")
    bare = reference[1:] if control else reference
    source, _, rest = bare.partition(":")
    if source in names:
        source = names[source]
    elif source not in existing and source.startswith(prefix) and source[len(prefix):] in existing:
        source = source[len(prefix):]
    return ("^" if control else "") + source + (f":{rest}" if rest else "")


class _Emitter:
    """Builds TensorFlow nodes for a graph or a function body, naming references the way each wants."""

    def __init__(self, in_function: bool, dtype: int, path: Path) -> None:
        self.in_function = in_function
        self.dtype = dtype
        self.path = path
        self.created: list[Any] = []

    def ref(self, node: Any) -> str:
        return f"{node.name}:{_OUTPUT_ARG[node.op]}:0" if self.in_function else node.name

    def add(self, name: str, op: str, inputs: list[str], **attrs: Any) -> Any:
        from tensorboard.compat.proto import node_def_pb2

        node = node_def_pb2.NodeDef(name=name, op=op)
        node.input.extend(inputs)
        node.attr["T"].type = self.dtype
        for key, value in attrs.items():
            if isinstance(value, float):
                node.attr[key].f = value
            elif isinstance(value, bytes):
                node.attr[key].s = value
            else:
                node.attr[key].CopyFrom(value)
        self.created.append(node)
        return node

    def const(self, name: str, value: float) -> Any:
        from tensorboard.compat.proto import node_def_pb2

        node = node_def_pb2.NodeDef(name=name, op="Const")
        node.attr["dtype"].type = self.dtype
        node.attr["value"].tensor.CopyFrom(messages.from_array(value, self.dtype, self.path, f"constant {name!r}"))
        self.created.append(node)
        return node


def undo_tfjs_ops(graph_def: Any, path: Path) -> Counter[str]:
    """Replaces TF.js-only and fused ops by TensorFlow ops, in the graph and its functions; counts by op.

    Raises:
        ReadError: a fused op lists an operation TensorFlow has no counterpart for, or the wrong number
            of arguments.
    """
    undone: Counter[str] = Counter()
    undone.update(_undo_in(graph_def.node, None, path))
    for function in graph_def.library.function:
        undone.update(_undo_in(function.node_def, function, path))
    return undone


def _undo_in(nodes: Any, function: Any, path: Path) -> Counter[str]:
    undone: Counter[str] = Counter()
    targets = [node for node in nodes if node.op in FUSED_CONTRACTIONS or node.op == "Prelu"]
    if not targets:
        return undone
    consts = {node.name: node for node in nodes if node.op == "Const"}
    final_ops: dict[str, str] = {}
    added: list[Any] = []
    for node in targets:
        undone[node.op] += 1
        emitter = _Emitter(function is not None, node.attr["T"].type if "T" in node.attr else _DT_FLOAT, path)
        data, control = analysis.split_inputs(node)
        if node.op == "Prelu":
            if len(data) != 2:
                raise ReadError(f"{path}: Prelu node {node.name!r} takes {len(data)} inputs, not 2 (x, alpha)")
            final = _prelu(emitter, node.name, data[0], data[1])
        else:
            final = _unfuse(emitter, node, data, consts, path)
        emitter.created[0].input.extend(control)
        # The last node takes the fused node's name and place, so every consumer reads it unchanged.
        final_ops[node.name] = final.op
        node.CopyFrom(final)
        added.extend(created for created in emitter.created if created is not final)
    for created in added:
        nodes.add().CopyFrom(created)
    if function is not None:
        _rename_function_outputs(function, {name: _OUTPUT_ARG[op] for name, op in final_ops.items()})
    return undone


def _name(base: str, part: str) -> str:
    return f"{base}/convkit_{part}"


def _prelu(emitter: _Emitter, name: str, x: str, alpha: str) -> Any:
    """``Relu(x) - alpha * Relu(-x)``, the last node named ``name``."""
    positive = emitter.add(_name(name, "prelu_relu"), "Relu", [x])
    negated = emitter.add(_name(name, "prelu_neg"), "Neg", [x])
    negative = emitter.add(_name(name, "prelu_relu_neg"), "Relu", [emitter.ref(negated)])
    scaled = emitter.add(_name(name, "prelu_scaled"), "Mul", [alpha, emitter.ref(negative)])
    return emitter.add(name, "Sub", [emitter.ref(positive), emitter.ref(scaled)])


def _unfuse(emitter: _Emitter, node: Any, data: list[str], consts: dict[str, Any], path: Path) -> Any:
    contraction = FUSED_CONTRACTIONS[node.op]
    if len(data) < 2:
        raise ReadError(f"{path}: {node.op} node {node.name!r} has {len(data)} inputs, fewer than its two operands")
    operations = [item.decode("utf-8", "replace") for item in node.attr["fused_ops"].list.s] \
        if "fused_ops" in node.attr else []
    steps = [op for op in operations if op.lower() != "noop"]
    attrs = {key: node.attr[key] for key in _CONTRACTION_ATTRS[contraction] if key in node.attr and key != "T"}
    name = node.name if not steps else _name(node.name, contraction)
    current = emitter.add(name, contraction, data[:2], **attrs)
    arguments = list(data[2:])
    data_format = node.attr["data_format"].s if "data_format" in node.attr else b"NHWC"
    for position, operation in enumerate(steps):
        name = node.name if position == len(steps) - 1 else _name(node.name, operation.lower())
        current = _fused_step(emitter, node, operation, name, current, arguments, consts, data_format, path)
    if arguments:
        raise ReadError(f"{path}: {node.op} node {node.name!r} has {len(arguments)} inputs more than its fused ops "
                        f"{operations} take")
    return current


def _take(arguments: list[str], count: int, node: Any, operation: str, path: Path) -> list[str]:
    if len(arguments) < count:
        raise ReadError(f"{path}: {node.op} node {node.name!r} lacks the inputs its fused {operation} needs")
    taken = arguments[:count]
    del arguments[:count]
    return taken


def _fused_step(emitter: _Emitter, node: Any, operation: str, name: str, current: Any, arguments: list[str],
                consts: dict[str, Any], data_format: bytes, path: Path) -> Any:
    x = emitter.ref(current)
    kind = operation.lower()
    if kind == "biasadd":
        (bias,) = _take(arguments, 1, node, operation, path)
        if data_format == b"NCHW" or _rank_one(bias, consts):
            return emitter.add(name, "BiasAdd", [x, bias], data_format=data_format)
        # TF.js fuses a full tensor as a "bias" (an LSTM step's h @ U): an addition, not a BiasAdd.
        return emitter.add(name, "AddV2", [x, bias])
    if kind in ("add", "addv2"):
        (addend,) = _take(arguments, 1, node, operation, path)
        return emitter.add(name, "AddV2", [x, addend])
    if kind in ("fusedbatchnorm", "fusedbatchnormv3"):
        if data_format == b"NCHW":
            raise ReadError(f"{path}: {node.op} node {node.name!r} fuses a batch normalisation over NCHW data, "
                            "which convkit does not unfuse")
        scale, offset, mean, variance = _take(arguments, 4, node, operation, path)
        epsilon = emitter.const(_name(name, "bn_epsilon"),
                                node.attr["epsilon"].f if "epsilon" in node.attr else 1e-3)
        shifted = emitter.add(_name(name, "bn_variance"), "AddV2", [variance, emitter.ref(epsilon)])
        inverse = emitter.add(_name(name, "bn_rsqrt"), "Rsqrt", [emitter.ref(shifted)])
        multiplier = emitter.add(_name(name, "bn_multiplier"), "Mul", [emitter.ref(inverse), scale])
        moved = emitter.add(_name(name, "bn_moved_mean"), "Mul", [mean, emitter.ref(multiplier)])
        offset_node = emitter.add(_name(name, "bn_offset"), "Sub", [offset, emitter.ref(moved)])
        scaled = emitter.add(_name(name, "bn_scaled"), "Mul", [x, emitter.ref(multiplier)])
        return emitter.add(name, "AddV2", [emitter.ref(scaled), emitter.ref(offset_node)])
    if kind in _UNARY_ACTIVATIONS:
        return emitter.add(name, _UNARY_ACTIVATIONS[kind], [x])
    if kind == "leakyrelu":
        alpha = node.attr["leakyrelu_alpha"].f if "leakyrelu_alpha" in node.attr else 0.2
        return emitter.add(name, "LeakyRelu", [x], alpha=float(alpha))
    if kind == "prelu":
        (alpha,) = _take(arguments, 1, node, operation, path)
        return _prelu(emitter, name, x, alpha)
    if kind == "geluexact":
        root = emitter.const(_name(name, "inv_sqrt2"), 0.7071067811865476)
        half = emitter.const(_name(name, "half"), 0.5)
        one = emitter.const(_name(name, "one"), 1.0)
        scaled = emitter.add(_name(name, "scaled"), "Mul", [x, emitter.ref(root)])
        erf = emitter.add(_name(name, "erf"), "Erf", [emitter.ref(scaled)])
        plus = emitter.add(_name(name, "plus_one"), "AddV2", [emitter.ref(erf), emitter.ref(one)])
        halved = emitter.add(_name(name, "halved"), "Mul", [x, emitter.ref(half)])
        return emitter.add(name, "Mul", [emitter.ref(halved), emitter.ref(plus)])
    raise ReadError(f"{path}: {node.op} node {node.name!r} fuses {operation!r}, which convkit cannot express as "
                    "TensorFlow ops")


def _rank_one(reference: str, consts: dict[str, Any]) -> bool:
    const = consts.get(analysis.node_of(reference))
    return const is not None and len(const.attr["value"].tensor.tensor_shape.dim) == 1


def _rename_function_outputs(function: Any, renamed: dict[str, str]) -> None:
    """Inside a function a reference names the output argument (``node:output:0``); the rewritten node's differs."""

    def renamed_reference(reference: str) -> str:
        control = reference.startswith("^")
        parts = reference.lstrip("^").split(":")
        if control or len(parts) != 3 or parts[0] not in renamed:
            return reference
        return f"{parts[0]}:{renamed[parts[0]]}:{parts[2]}"

    for node in function.node_def:
        for index, reference in enumerate(node.input):
            node.input[index] = renamed_reference(reference)
    for key in list(function.ret):
        function.ret[key] = renamed_reference(function.ret[key])


def rebuild(
    graph_def: Any,
    weights: dict[str, Any],
    path: Path,
    *,
    signature: Any,
    origin: str,
    quantization: str | None,
    inputs: list[TensorRequest] | tuple[TensorRequest, ...] = (),
    outputs: list[TensorRequest] | tuple[TensorRequest, ...] = (),
) -> GraphModel:
    """A TF.js graph (stripped ``GraphDef`` + weights) as a ``GraphModel`` TensorFlow can import.

    Args:
        graph_def: the topology as a ``GraphDef`` message (changed in place).
        weights: every manifest weight, dequantized, by name.
        path: the file, for messages.
        signature: the model's ``signature`` (dict), or None.
        origin: the source in words.
        quantization: the manifest's weight quantization, for the notes.
        inputs, outputs: what the user asked for (``--inputs``/``--outputs``).
    """
    mended = restore_function_names(graph_def)
    analysis.check_structure(graph_def, path, "graph model")
    for _, node in analysis.all_nodes(graph_def):
        if "_input_shapes" in node.attr:  # grappler's annotation, which tf2onnx cannot carry into ONNX
            del node.attr["_input_shapes"]
    fill_constants(graph_def, weights, path)
    undone = undo_tfjs_ops(graph_def, path)
    analysis.check_structure(graph_def, path, "rebuilt graph")
    chosen_inputs, chosen_outputs, io_from = choose_io(
        graph_def, path, signature_inputs=signature_infos(signature, "inputs"),
        signature_outputs=signature_infos(signature, "outputs"), inputs=inputs, outputs=outputs)
    notes = []
    if undone:
        notes.append("TF.js-only and fused ops written as TensorFlow ops: "
                     + ", ".join(f"{count} {op}" for op, count in sorted(undone.items())))
    if quantization:
        notes.append(f"weights dequantized from {quantization}")
    if mended:
        notes.append(f"{mended} constants inside library functions given back the names the TF.js converter prefixed")
    return GraphModel(graph_def, chosen_inputs, chosen_outputs, path, origin, io_from, notes)

