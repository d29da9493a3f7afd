"""Operations on tensors in functional models across Keras generations.

``x + 3.0`` or ``tf.math.multiply(x, y)`` in a functional model is a tf_keras
``TFOpLambda`` layer naming the TensorFlow function, or a Keras 3 operation
object (``keras.src.ops.numpy.Add``) with the constant among the node's call
arguments. Each is rewritten as the other where the function computes exactly
what the operation computes.
"""

from __future__ import annotations

from typing import Any

from convkit.keras_model.config import iter_layers
from convkit.keras_model.references import is_tensor_reference, keras_tensor, tensor_histories
from convkit.policy.graph_ops import DTYPE_ATTRS, PURE_OPS, tf_op_layer_op

# ---------------------------------------------------------------- tf_keras TFOpLambda <-> Keras 3 operations
# What ``x + 3.0`` or ``tf.math.multiply(x, y)`` becomes in a functional model: a tf_keras
# ``TFOpLambda`` layer naming the TensorFlow function, or a Keras 3 operation object
# (``keras.src.ops.numpy.Add``) with the constant among the node's call arguments. Only
# functions that compute exactly what the operation computes are listed: TensorFlow
# function -> (Keras 3 ops module, class, the function's argument names in call order).
_TF_FUNCTION_OPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    **{name: ("numpy", "Add", ("x", "y")) for name in ("__operators__.add", "math.add", "add")},
    **{name: ("numpy", "Subtract", ("x", "y")) for name in ("math.subtract", "subtract")},
    **{name: ("numpy", "Multiply", ("x", "y")) for name in ("math.multiply", "multiply")},
    **{name: ("numpy", "TrueDivide", ("x", "y")) for name in ("math.truediv", "truediv")},
    **{name: ("numpy", "Divide", ("x", "y")) for name in ("math.divide", "divide")},
    **{name: ("numpy", "Maximum", ("x", "y")) for name in ("math.maximum", "maximum")},
    **{name: ("numpy", "Minimum", ("x", "y")) for name in ("math.minimum", "minimum")},
    **{name: ("numpy", "Power", ("x", "y")) for name in ("math.pow", "pow")},
    **{name: ("numpy", "Negative", ("x",)) for name in ("math.negative", "negative")},
    **{name: ("numpy", "Absolute", ("x",)) for name in ("math.abs", "abs")},
    **{name: ("numpy", "Square", ("x",)) for name in ("math.square", "square")},
    **{name: ("numpy", "Sqrt", ("x",)) for name in ("math.sqrt", "sqrt")},
    **{name: ("numpy", "Exp", ("x",)) for name in ("math.exp", "exp")},
    **{name: ("numpy", "Tanh", ("x",)) for name in ("math.tanh", "nn.tanh", "tanh")},
    **{name: ("nn", "Sigmoid", ("x",)) for name in ("math.sigmoid", "nn.sigmoid", "sigmoid")},
    "nn.relu": ("nn", "Relu", ("features",)),
    "nn.relu6": ("nn", "Relu6", ("features",)),
}


# The reverse: Keras 3 operation (module, class) -> the TensorFlow function a TFOpLambda calls.
_OP_TF_FUNCTIONS: dict[tuple[str, str], str] = {}
for _function, (_module, _class_name, _arguments) in _TF_FUNCTION_OPS.items():
    _OP_TF_FUNCTIONS.setdefault((f"keras.src.ops.{_module}", _class_name), _function)
_OP_TF_FUNCTIONS[("keras.src.ops.numpy", "Add")] = "math.add"
# tf_keras' marker for a constant standing where a TFOpLambda's first (tensor) argument goes.
CONSTANT_INPUT = "_CONSTANT_VALUE"


def tf_function_name(name: Any) -> str:
    """A TFOpLambda's ``function`` without the ``tf.`` and ``compat.v1.``/``compat.v2.`` prefixes."""
    name = str(name).removeprefix("tf.")
    for prefix in ("compat.v1.", "compat.v2."):
        name = name.removeprefix(prefix)
    return name


def keras3_op_of(layer: dict[str, Any]) -> dict[str, Any]:
    """The Keras 3 operation record of a tf_keras ``TFOpLambda`` layer record (Keras 2 dialect).

    Raises:
        ValueError: the TensorFlow function has no exact Keras 3 operation, or the
            layer's call cannot be written as one (the message names layer and function).
    """
    config = layer.get("config") or {}
    name = str(config.get("name", layer.get("name")))
    function = tf_function_name(config.get("function"))
    found = _TF_FUNCTION_OPS.get(function) if layer.get("class_name") == "TFOpLambda" else None
    if found is None:
        raise ValueError(f"layer {name!r} ({layer.get('class_name')}) calls tf.{function}, which has no "
                         "Keras 3 operation counterpart")
    module, class_name, arguments = found
    nodes = []
    for node in layer.get("inbound_nodes") or []:
        call = _op_call(node, arguments)
        if call is None:
            raise ValueError(f"layer {name!r} calls tf.{function} with arguments convkit cannot write for "
                             f"Keras 3 ({_json_text(node)})")
        nodes.append({"args": call, "kwargs": {}})
    return {"module": f"keras.src.ops.{module}", "class_name": class_name, "config": {"name": name},
            "registered_name": class_name, "name": name, "inbound_nodes": nodes}


def _json_text(value: Any, limit: int = 200) -> str:
    import json

    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _op_call(node: Any, arguments: tuple[str, ...]) -> list[Any] | None:
    # tf_keras: [inbound layer, node, tensor, {other arguments by name}], the first argument
    # the inbound tensor (or a constant under _CONSTANT_VALUE); tensors among the others
    # are [layer, node, tensor] lists.
    entry = node[0] if isinstance(node, list) and len(node) == 1 and isinstance(node[0], list) else node
    if not (isinstance(entry, list) and len(entry) in (3, 4) and isinstance(entry[0], str)):
        return None
    kwargs = dict(entry[3]) if len(entry) == 4 and isinstance(entry[3], dict) else {}
    kwargs.pop("name", None)
    first = entry[2] if entry[0] == CONSTANT_INPUT else keras_tensor(entry[:3])
    call = [first]
    for argument in arguments[1:]:
        if argument not in kwargs:
            return None
        value = kwargs.pop(argument)
        call.append(keras_tensor(value) if is_tensor_reference(value) else value)
    if kwargs or not all(isinstance(value, (int, float, dict)) for value in call):
        return None
    return call


def is_operation_record(layer: dict[str, Any]) -> bool:
    """Whether a functional-model record is a Keras 3 operation (``keras.src.ops.numpy.Add``), not a layer."""
    return operation_module(layer) is not None


# Keras 3 operation classes convkit translates, by class name -> their ops module.
_OP_MODULES = {class_name: f"keras.src.ops.{module}" for module, class_name, _ in _TF_FUNCTION_OPS.values()}


def operation_module(layer: dict[str, Any]) -> str | None:
    """The ops module of a Keras 3 operation record, or ``None`` for a layer.

    Keras 3's legacy ``model.save('x.h5')`` drops the ``module`` of operation records,
    and Keras 3 then builds ``Add`` (``x + 3.0``) as the merge layer of that name and
    cannot load its own file. Such a record is still told apart from a layer: an
    operation's config holds its name only, and its calls pass tensors and constants
    as separate arguments, where a merge layer takes one list.
    """
    module = layer.get("module")
    if isinstance(module, str):
        return module if module.startswith("keras.src.ops.") else None
    found = _OP_MODULES.get(str(layer.get("class_name")))
    config = layer.get("config")
    nodes = layer.get("inbound_nodes") or []
    if found is None or not isinstance(config, dict) or set(config) - {"name"} or not nodes:
        return None
    for node in nodes:
        args = node.get("args") if isinstance(node, dict) else None
        if not isinstance(args, list) or (len(args) == 1 and isinstance(args[0], list)):
            return None
    return found


def with_operation_modules(model_config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 model config whose operation records all name their module (see :func:`operation_module`)."""
    import copy

    config = copy.deepcopy(model_config)
    for inner in [config, *iter_layers(config)]:
        if inner.get("class_name") not in ("Functional", "Model"):
            continue
        for layer in (inner.get("config") or {}).get("layers") or []:
            module = operation_module(layer)
            if module is not None and "module" not in layer:
                layer["module"], layer["registered_name"] = module, layer.get("class_name")
    return config


def tf_op_lambda_of(layer: dict[str, Any], models: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The tf_keras ``TFOpLambda`` record (Keras 2 dialect) of a Keras 3 operation record.

    An operation without an exact TensorFlow function, or called in a way a
    TFOpLambda cannot record, stays a Keras 3 record (its ``module`` and
    ``{"args", "kwargs"}`` nodes kept): Keras 3 still builds it, tf_keras and
    TF.js layers do not.

    Args:
        layer: the Keras 3 record.
        models: names of nested models (Keras 2 counts their construction node).
    """
    name = (layer.get("config") or {}).get("name", layer.get("name"))
    module = operation_module(layer)
    function = _OP_TF_FUNCTIONS.get((str(module), str(layer.get("class_name"))))
    nodes = []
    for node in layer.get("inbound_nodes") or []:
        entry = _op_lambda_node(node, _TF_FUNCTION_OPS[function][2], models) if function else None
        if entry is None:
            kept = {key: layer[key] for key in ("class_name", "config", "name", "inbound_nodes") if key in layer}
            return {"module": module, "registered_name": layer.get("class_name"), **kept}
        nodes.append(entry)
    return {"class_name": "TFOpLambda",
            "config": {"name": name, "trainable": True, "dtype": "float32", "function": function},
            "name": name, "inbound_nodes": nodes}


def _op_lambda_node(node: Any, arguments: tuple[str, ...], models: frozenset[str] | set[str]) -> list[Any] | None:
    if not isinstance(node, dict) or node.get("kwargs") or len(node.get("args") or []) != len(arguments):
        return None
    references: list[Any] = []
    for value in node["args"]:
        histories = list(tensor_histories(value))
        if histories and isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            layer_name, node_index, tensor_index = histories[0]
            references.append([layer_name, node_index + (1 if layer_name in models else 0), tensor_index])
        elif isinstance(value, (int, float)) and not histories:
            references.append(value)
        else:
            return None
    first, rest = references[0], references[1:]
    kwargs = dict(zip(arguments[1:], rest))
    if isinstance(first, list):
        return [*first, kwargs]
    if not any(isinstance(value, list) for value in rest):
        return None  # an operation on constants only
    return [CONSTANT_INPUT, -1, first, kwargs]


def tf_op_lambda_of_op_layer(layer: dict[str, Any]) -> dict[str, Any] | None:
    """The ``TFOpLambda`` record of a tf.keras 2.2-2.3 ``TensorFlowOpLayer`` record, or ``None``.

    A ``TensorFlowOpLayer`` stores the NodeDef of the op it wraps (as JSON: ``{"op": "DepthToSpace",
    "attr": {"block_size": {"i": "2"}, ...}}``), its inputs as the node's edges and its constant
    inputs by index (``{"1": 0.5}``). An op of :data:`convkit.policy.graph_ops.PURE_OPS` becomes the
    TensorFlow function computing it, called as the op was: ``None`` for any other op, a NodeDef
    attribute the function takes no argument for, or inputs that do not add up.
    """
    config = layer.get("config") or {}
    op = PURE_OPS.get(str(tf_op_layer_op(config)))
    if op is None:
        return None
    attrs = config["node_def"].get("attr") or {}
    wanted = dict(op.attrs)
    if not isinstance(attrs, dict) or set(attrs) - set(wanted) - DTYPE_ATTRS:
        return None
    kwargs: dict[str, Any] = {}
    for attr, argument in wanted.items():
        if attr in attrs:
            value = _attr_value(attrs[attr])
            if value is None:
                return None
            kwargs[argument] = value
    constants = config.get("constants") or {}
    if not isinstance(constants, dict):
        return None
    name = layer.get("name") or config.get("name")
    nodes = []
    for node in layer.get("inbound_nodes") or []:
        edges = list(node) if isinstance(node, list) else []
        values: list[Any] = []
        for index in range(len(op.inputs)):
            if str(index) in constants:
                values.append(("constant", constants[str(index)]))
            elif edges and isinstance(edges[0], list) and len(edges[0]) >= 3 and isinstance(edges[0][0], str):
                values.append(("tensor", list(edges.pop(0)[:3])))
            else:
                return None
        if edges or not any(kind == "tensor" for kind, _ in values):  # edges left over, or constants only
            return None
        call = dict(kwargs)
        call.update({argument: value for argument, (_, value) in zip(op.inputs[1:], values[1:])})
        kind, first = values[0]
        nodes.append([*first, call] if kind == "tensor" else [CONSTANT_INPUT, -1, first, call])
    return {"class_name": "TFOpLambda",
            "config": {"name": name, "trainable": config.get("trainable", True),
                       "dtype": config.get("dtype") or "float32", "function": op.function},
            "name": name, "inbound_nodes": nodes}


def _attr_value(value: Any) -> Any:
    # An AttrValue as protobuf's JSON writes it: int64 as a string, bytes in base64.
    import base64
    import binascii

    if not isinstance(value, dict) or len(value) != 1:
        return None
    kind, item = next(iter(value.items()))
    try:
        if kind == "i":
            return int(item)
        if kind == "f":
            return float(item)
        if kind == "b":
            return bool(item)
        if kind == "s":
            return base64.b64decode(item, validate=True).decode("ascii")
        if kind == "list" and isinstance(item, dict) and set(item) <= {"i"}:
            return [int(entry) for entry in item.get("i", [])]
    except (TypeError, ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return None


def tf_ops_as_operations(model: dict[str, Any]) -> None:
    """Replaces each tf_keras ``TFOpLambda`` by its Keras 3 operation (see :func:`keras3_op_of`)."""
    for inner in [model, *iter_layers(model)]:
        if inner.get("class_name") not in ("Functional", "Model"):
            continue
        layers = (inner.get("config") or {}).get("layers") or []
        for index, layer in enumerate(layers):
            if layer.get("class_name") in ("TFOpLambda", "SlicingOpLambda"):
                layers[index] = keras3_op_of(layer)
