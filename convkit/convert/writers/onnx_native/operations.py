"""Operations on tensors in functional models: tf_keras ``TFOpLambda`` layers and Keras 3 operations.

``x + 3.0`` in a functional model is a ``TFOpLambda`` calling
``tf.__operators__.add`` in tf_keras and a ``keras.src.ops.numpy.Add``
operation in Keras 3. The TensorFlow functions convkit translates between the
two (:func:`convkit.keras_model.operations.keras3_op_of`) are the ones written
here, from their Keras 3 form: each is one ONNX operator on its tensors and
constants (a constant laid out as its tensor is).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convkit.convert.writers.onnx_native.activations import clip, gelu
from convkit.convert.writers.onnx_native.converters import Call, converts
from convkit.convert.writers.onnx_native.graph import Dim, Tensor
from convkit.convert.writers.onnx_native.merging import broadcast_shape, common_layout
from convkit.keras_model import operations as keras_operations

# Keras 3 operation class -> the ONNX operator computing it.
BINARY = {"Add": "Add", "Subtract": "Sub", "Multiply": "Mul", "TrueDivide": "Div", "Divide": "Div",
          "Maximum": "Max", "Minimum": "Min", "Power": "Pow"}
UNARY = {"Negative": "Neg", "Absolute": "Abs", "Sqrt": "Sqrt", "Exp": "Exp", "Tanh": "Tanh", "Sigmoid": "Sigmoid",
         "Relu": "Relu"}


def _record(call: Call) -> tuple[dict[str, Any], bool]:
    """The Keras 3 operation record of the layer, and whether its references count nodes as Keras 3 does."""
    if call.class_name == "TFOpLambda":
        try:
            return keras_operations.keras3_op_of(call.layer), False
        except ValueError as error:
            raise call.refuse(str(error).split(": ", 1)[-1] if ": " in str(error) else str(error)) from None
    return call.layer, True


def _operand(call: Call, value: Any, keras3: bool) -> Tensor | np.ndarray:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        assert call.resolve is not None
        return call.resolve(list(value["config"]["keras_history"]), keras3)
    if isinstance(value, dict) and isinstance(value.get("config"), dict) and "value" in value["config"]:
        value = value["config"]["value"]
    if isinstance(value, (bool, dict, str)) or value is None:
        raise call.refuse(f"an operand {value!r}")
    return np.asarray(value)


def _padded(shape: tuple[Any, ...], rank: int) -> tuple[Dim, ...]:
    return (1,) * (rank - len(shape)) + tuple(shape)


def _binary(call: Call, op_type: str, a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> Tensor:
    g = call.builder
    tensors = [operand for operand in (a, b) if isinstance(operand, Tensor)]
    if len(tensors) == 2:
        assert isinstance(a, Tensor) and isinstance(b, Tensor)
        if a.rank == b.rank:
            a, b = common_layout(g, [a, b])
        else:
            a, b = g.plain(a), g.plain(b)
        rank = max(a.rank, b.rank)
        shape = broadcast_shape([_padded(a.shape, rank), _padded(b.shape, rank)])
        like = a if a.rank == rank else b
        out = g.op(op_type, [a.name, b.name], call.hint())
        return Tensor(out, shape, like.dtype, like.layout if a.rank == b.rank else tuple(range(rank)))
    if not tensors:
        raise call.refuse("an operation on constants only")
    tensor = tensors[0]
    constant = b if isinstance(a, Tensor) else a
    assert isinstance(constant, np.ndarray)
    if constant.ndim > tensor.rank:
        raise call.refuse(f"a constant of rank {constant.ndim} on a tensor of rank {tensor.rank}")
    name = g.broadcastable(constant.astype(tensor.dtype), tensor, call.hint("operand"))
    inputs = [tensor.name, name] if isinstance(a, Tensor) else [name, tensor.name]
    shape = broadcast_shape([tensor.shape, _padded(constant.shape, tensor.rank)])
    return Tensor(g.op(op_type, inputs, call.hint()), shape, tensor.dtype, tensor.layout)


# Functions and operations beyond those the Keras generations translate, each with the keyword
# arguments it may take: (TensorFlow function or Keras 3 class) -> (what it computes, keywords).
EXTRA_TF_FUNCTIONS = {
    "nn.gelu": ("gelu", ("approximate",)), "nn.silu": ("swish", ()), "nn.swish": ("swish", ()),
    "nn.softmax": ("softmax", ("axis",)), "math.softmax": ("softmax", ("axis",)),
    "nn.log_softmax": ("log_softmax", ("axis",)), "math.erf": ("Erf", ()), "math.log": ("Log", ()),
    "math.rsqrt": ("rsqrt", ()),
}
EXTRA_KERAS3_OPERATIONS = {
    "Gelu": ("gelu", ("approximate",)), "Silu": ("swish", ()), "Softmax": ("softmax", ("axis",)),
    "LogSoftmax": ("log_softmax", ("axis",)), "Erf": ("Erf", ()), "Log": ("Log", ()), "Rsqrt": ("rsqrt", ()),
}


def _unary(call: Call, what: str, x: Tensor, options: dict[str, Any]) -> Tensor:
    g = call.builder
    if what == "gelu":
        out = gelu(g, x, call.hint(), call.generation, approximate=bool(options.get("approximate", False)))
    elif what == "swish":
        out = g.op("Mul", [x.name, g.op("Sigmoid", [x.name], call.hint("sigmoid"))], call.hint())
    elif what in ("softmax", "log_softmax"):
        axis = options.get("axis", -1)
        if not isinstance(axis, int):
            raise call.refuse(f"{what} over axis {axis!r}")
        out = g.op("Softmax" if what == "softmax" else "LogSoftmax", [x.name], call.hint(), axis=x.onnx_axis(axis))
    elif what == "rsqrt":
        out = g.op("Reciprocal", [g.op("Sqrt", [x.name], call.hint("sqrt"))], call.hint())
    else:
        out = g.op(what, [x.name], call.hint())
    return Tensor(out, x.shape, x.dtype, x.layout)


def _extra_tf_function(call: Call) -> list[Tensor] | None:
    """A TFOpLambda calling one of EXTRA_TF_FUNCTIONS on one tensor, or None for any other function."""
    found = EXTRA_TF_FUNCTIONS.get(keras_operations.tf_function_name(call.config.get("function")))
    if found is None:
        return None
    what, keywords = found
    nodes = call.layer.get("inbound_nodes") or []
    node = nodes[call.node_index] if call.node_index < len(nodes) else None
    entry = node if isinstance(node, list) and node and isinstance(node[0], str) else (
        node[0] if isinstance(node, list) and len(node) == 1 else None)
    if not isinstance(entry, list) or len(entry) < 3 or entry[0] == keras_operations.CONSTANT_INPUT:
        raise call.refuse("a call convkit cannot read")
    options = {k: v for k, v in (entry[3] if len(entry) > 3 and isinstance(entry[3], dict) else {}).items()
               if k != "name"}
    if set(options) - set(keywords):
        raise call.refuse(f"arguments {sorted(set(options) - set(keywords))}")
    assert call.resolve is not None
    return [_unary(call, what, call.resolve(entry[:3], False), options)]


@converts("TFOpLambda")
def operation(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    """One call of an operation (a ``TFOpLambda`` layer or a Keras 3 operation record): the node's operands
    are its tensors and constants, in call order."""
    if call.class_name == "TFOpLambda":
        extra = _extra_tf_function(call)
        if extra is not None:
            return extra
    record, keras3 = _record(call)
    class_name = str(record.get("class_name"))
    module = keras_operations.operation_module(record) if call.class_name != "TFOpLambda" else record.get("module")
    if module is None:
        raise call.refuse("a layer of an operation's name that is not a Keras operation")
    nodes = record.get("inbound_nodes") or []
    node = nodes[call.node_index] if call.node_index < len(nodes) else None
    if not isinstance(node, dict) or node.get("kwargs"):
        raise call.refuse("a call convkit cannot read")
    operands = [_operand(call, value, keras3) for value in node.get("args") or []]
    g = call.builder
    if class_name in BINARY and len(operands) == 2:
        return [_binary(call, BINARY[class_name], operands[0], operands[1])]
    if len(operands) != 1 or not isinstance(operands[0], Tensor):
        raise call.refuse(f"{class_name} on {len(operands)} operands")
    x = operands[0]
    if class_name in EXTRA_KERAS3_OPERATIONS and keras3:
        what, keywords = EXTRA_KERAS3_OPERATIONS[class_name]
        options = {key: value for key, value in (record.get("config") or {}).items() if key != "name"}
        if set(options) - set(keywords):
            raise call.refuse(f"arguments {sorted(set(options) - set(keywords))}")
        return [_unary(call, what, x, options)]
    if class_name in UNARY:
        out = g.op(UNARY[class_name], [x.name], call.hint())
    elif class_name == "Square":
        out = g.op("Mul", [x.name, x.name], call.hint())
    elif class_name == "Relu6":
        out = clip(g, x.name, 0.0, 6.0, call.hint())
    else:
        raise call.refuse(f"the operation {class_name}")
    return [Tensor(out, x.shape, x.dtype, x.layout)]
