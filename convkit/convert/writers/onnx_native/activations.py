"""Keras activations (the ``activation`` argument of layers, and the activation layers) as ONNX nodes.

Every activation acts element by element, so it keeps its input's layout;
softmax takes the Keras axis to wherever the layout put it. Keras 2 and
Keras 3 define ``hard_sigmoid`` differently (tf_keras and TF.js:
``clip(0.2 x + 0.5, 0, 1)``; Keras 3: ``relu6(x + 3) / 6``), so the
generation that wrote the model decides. ``gelu`` is the exact (erf) GELU
in both generations.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from convkit.convert.writers.onnx_native.converters import Call, converts
from convkit.convert.writers.onnx_native.graph import GraphBuilder, Tensor, Uncovered

# Keras' SELU constants (keras.activations.selu), wider than ONNX's float defaults.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

Emit = Callable[[GraphBuilder, Tensor, str, int], str]


def _unary(op_type: str, **attributes: Any) -> Emit:
    def emit(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
        return str(g.op(op_type, [x.name], hint, **attributes))

    return emit


def _relu6(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
    return clip(g, x.name, 0.0, 6.0, hint)


def clip(g: GraphBuilder, name: str, low: float | None, high: float | None, hint: str) -> str:
    inputs = [name, g.scalar(low) if low is not None else "", g.scalar(high) if high is not None else ""]
    while inputs and inputs[-1] == "":
        inputs.pop()
    return str(g.op("Clip", inputs, hint))


def _swish(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
    return str(g.op("Mul", [x.name, g.op("Sigmoid", [x.name], f"{hint}/sigmoid")], hint))


def _hard_sigmoid(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
    alpha = 1.0 / 6.0 if generation >= 3 else 0.2
    return str(g.op("HardSigmoid", [x.name], hint, alpha=alpha, beta=0.5))


def _hard_swish(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
    if g.opset >= 14:
        return str(g.op("HardSwish", [x.name], hint))
    gate = g.op("HardSigmoid", [x.name], f"{hint}/gate", alpha=1.0 / 6.0, beta=0.5)
    return str(g.op("Mul", [x.name, gate], hint))


def gelu(g: GraphBuilder, x: Tensor, hint: str, generation: int, approximate: bool = False) -> str:
    """``0.5 x (1 + erf(x / sqrt 2))``, or the tanh approximation."""
    if approximate:
        cube = g.op("Mul", [x.name, g.op("Mul", [x.name, x.name], f"{hint}/square")], f"{hint}/cube")
        inner = g.op("Add", [x.name, g.op("Mul", [cube, g.scalar(0.044715)], f"{hint}/cubic")], f"{hint}/inner")
        curve = g.op("Tanh", [g.op("Mul", [inner, g.scalar(math.sqrt(2.0 / math.pi))], f"{hint}/scaled")],
                     f"{hint}/tanh")
    else:
        curve = g.op("Erf", [g.op("Mul", [x.name, g.scalar(1.0 / math.sqrt(2.0))], f"{hint}/scaled")],
                     f"{hint}/erf")
    half = g.op("Mul", [x.name, g.scalar(0.5)], f"{hint}/half")
    return str(g.op("Mul", [half, g.op("Add", [curve, g.scalar(1.0)], f"{hint}/one_plus")], hint))


def _mish(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
    soft = g.op("Softplus", [x.name], f"{hint}/softplus")
    return str(g.op("Mul", [x.name, g.op("Tanh", [soft], f"{hint}/tanh")], hint))


def _softmax(op_type: str) -> Emit:
    def emit(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
        return str(g.op(op_type, [x.name], hint, axis=x.onnx_axis(-1)))

    return emit


def _log_sigmoid(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
    negative = g.op("Neg", [x.name], f"{hint}/neg")
    return str(g.op("Neg", [g.op("Softplus", [negative], f"{hint}/softplus")], hint))


def _tanh_shrink(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
    return str(g.op("Sub", [x.name, g.op("Tanh", [x.name], f"{hint}/tanh")], hint))


def _hard_tanh(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
    return clip(g, x.name, -1.0, 1.0, hint)


def _squareplus(g: GraphBuilder, x: Tensor, hint: str, generation: int) -> str:
    root = g.op("Sqrt", [g.op("Add", [g.op("Mul", [x.name, x.name], f"{hint}/square"), g.scalar(4.0)],
                              f"{hint}/plus_b")], f"{hint}/sqrt")
    return str(g.op("Mul", [g.op("Add", [x.name, root], f"{hint}/sum"), g.scalar(0.5)], hint))


ACTIVATIONS: dict[str, Emit] = {
    "relu": _unary("Relu"),
    "relu6": _relu6,
    "leaky_relu": _unary("LeakyRelu", alpha=0.2),
    "elu": _unary("Elu", alpha=1.0),
    "selu": _unary("Selu", alpha=SELU_ALPHA, gamma=SELU_SCALE),
    "celu": _unary("Celu", alpha=1.0),
    "gelu": gelu,
    "swish": _swish,
    "silu": _swish,
    "hard_swish": _hard_swish,
    "hard_silu": _hard_swish,
    "hard_sigmoid": _hard_sigmoid,
    "softmax": _softmax("Softmax"),
    "log_softmax": _softmax("LogSoftmax"),
    "softplus": _unary("Softplus"),
    "softsign": _unary("Softsign"),
    "tanh": _unary("Tanh"),
    "sigmoid": _unary("Sigmoid"),
    "exponential": _unary("Exp"),
    "mish": _mish,
    "log_sigmoid": _log_sigmoid,
    "tanh_shrink": _tanh_shrink,
    "hard_tanh": _hard_tanh,
    "hard_shrink": _unary("Shrink", lambd=0.5, bias=0.0),
    "soft_shrink": _unary("Shrink", lambd=0.5, bias=0.5),
    "squareplus": _squareplus,
}
LINEAR = frozenset({"linear", None})


def activation_name(value: Any) -> str | None:
    """The activation a config names (``"relu"``, or Keras 3's ``{"class_name": "function", "config": "relu"}``)."""
    if isinstance(value, dict):
        inner = value.get("config")
        if value.get("class_name") == "function" and isinstance(inner, str):
            return inner
        if isinstance(value.get("class_name"), str) and not inner:
            return str(value["class_name"])
        raise Uncovered("", "", f"the configured activation {value.get('class_name')!r}")
    return None if value is None else str(value)


def activate(call: Call, x: Tensor, value: Any, hint: str | None = None) -> Tensor:
    """``x`` through the activation ``value`` names (a config's ``activation``)."""
    try:
        name = activation_name(value)
    except Uncovered as error:
        raise call.refuse(error.reason) from None
    if name in LINEAR:
        return x
    emit = ACTIVATIONS.get(str(name))
    if emit is None:
        raise call.refuse(f"the activation {name!r}")
    out = emit(call.builder, x, hint or call.hint(str(name)), call.generation)
    return Tensor(out, x.shape, x.dtype, x.layout)


@converts("Activation")
def activation_layer(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    return [activate(call, inputs[0], call.config.get("activation"), call.hint())]


def relu_general(call: Call, x: Tensor, negative_slope: float, max_value: float | None, threshold: float) -> Tensor:
    """Keras' ``relu(x, negative_slope, max_value, threshold)`` (the ReLU layer)."""
    g = call.builder
    hint = call.hint()
    if threshold == 0 and max_value is None:
        out = g.op("LeakyRelu", [x.name], hint, alpha=negative_slope) if negative_slope else g.op("Relu", [x.name], hint)
        return Tensor(out, x.shape, x.dtype, x.layout)
    if threshold == 0 and negative_slope == 0:
        return Tensor(clip(g, x.name, 0.0, float(max_value) if max_value is not None else None, hint),
                      x.shape, x.dtype, x.layout)
    if threshold != 0:
        above = g.op("Greater", [x.name, g.scalar(threshold)], f"{hint}/above")
        positive = g.op("Where", [above, x.name, g.scalar(0.0)], f"{hint}/positive")
    else:
        positive = g.op("Relu", [x.name], f"{hint}/positive")
    if max_value is not None:
        positive = clip(g, positive, 0.0, float(max_value), f"{hint}/clipped")
    if negative_slope:
        below = g.op("Relu", [g.op("Sub", [g.scalar(threshold), x.name], f"{hint}/below_threshold")],
                     f"{hint}/negative_part")
        positive = g.op("Sub", [positive, g.op("Mul", [below, g.scalar(negative_slope)], f"{hint}/slope")], hint)
    return Tensor(positive, x.shape, x.dtype, x.layout)


@converts("ReLU")
def relu_layer(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    max_value = call.config.get("max_value")
    return [relu_general(call, inputs[0], float(call.option("negative_slope", 0.0)),
                         None if max_value is None else float(max_value), float(call.option("threshold", 0.0)))]


@converts("LeakyReLU")
def leaky_relu_layer(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    x = inputs[0]
    alpha = float(call.option("alpha", call.option("negative_slope", 0.3)))
    return [Tensor(call.builder.op("LeakyRelu", [x.name], call.hint(), alpha=alpha), x.shape, x.dtype, x.layout)]


@converts("ELU")
def elu_layer(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    x = inputs[0]
    alpha = float(call.option("alpha", 1.0))
    return [Tensor(call.builder.op("Elu", [x.name], call.hint(), alpha=alpha), x.shape, x.dtype, x.layout)]


@converts("ThresholdedReLU")
def thresholded_relu_layer(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    x = inputs[0]
    theta = float(call.option("theta", 1.0))
    return [Tensor(call.builder.op("ThresholdedRelu", [x.name], call.hint(), alpha=theta), x.shape, x.dtype,
                   x.layout)]


@converts("Softmax")
def softmax_layer(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    x = inputs[0]
    axis = call.option("axis", -1)
    if isinstance(axis, list):
        if len(axis) != 1:
            raise call.refuse(f"softmax over several axes {axis}")
        axis = axis[0]
    out = call.builder.op("Softmax", [x.name], call.hint(), axis=x.onnx_axis(int(axis)))
    return [Tensor(out, x.shape, x.dtype, x.layout)]


@converts("PReLU")
def prelu_layer(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    x = inputs[0]
    alpha = call.weight("alpha")
    assert alpha is not None
    if len(alpha.shape) != x.rank - 1:
        raise call.refuse(f"an alpha of shape {list(alpha.shape)} for inputs of rank {x.rank}")
    slope = call.builder.broadcastable_weight(id(alpha), call.hint("alpha"), alpha.shape, x,
                                              lambda: alpha.read().astype("float32"))
    return [Tensor(call.builder.op("PRelu", [x.name, slope], call.hint()), x.shape, x.dtype, x.layout)]
