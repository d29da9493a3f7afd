"""BatchNormalization and LayerNormalization.

Batch normalisation on the axis the graph holds at ONNX axis 1 (the channels
of a convolution's output) is ONNX's ``BatchNormalization``, which
onnxruntime folds into the convolution before it; on any other axis it is
folded into one ``Mul`` and one ``Add`` (``scale = gamma / sqrt(variance +
epsilon)``, ``shift = beta - mean * scale``). Layer normalisation over the
trailing axes is ONNX's ``LayerNormalization`` (opset 17 on); over others,
or before opset 17, it is written out with ``ReduceMean``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from convkit.convert.writers.onnx_native.converters import Call, converts
from convkit.convert.writers.onnx_native.graph import Tensor
from convkit.keras_model.data import Weight


def _axes(call: Call, x: Tensor, default: Any) -> list[int]:
    axis = call.config.get("axis", default)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return sorted(x.keras_axis(int(a)) for a in axes)


def _values(weight: Weight | None, default: float, size: int) -> Callable[[], np.ndarray]:
    if weight is None:
        return lambda: np.full(size, default, dtype="float64")
    return lambda: np.asarray(weight.read(), dtype="float64").reshape(-1)


@converts("BatchNormalization")
def batch_normalization(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    x = inputs[0]
    axes = _axes(call, x, -1)
    if len(axes) != 1:
        raise call.refuse(f"normalisation over several axes {axes}")
    (axis,) = axes
    channels = x.shape[axis]
    mean = call.weight("moving_mean")
    variance = call.weight("moving_variance")
    assert mean is not None and variance is not None
    size = int(mean.shape[0]) if len(mean.shape) == 1 else -1
    if size < 0 or (channels is not None and channels != size):
        raise call.refuse(f"statistics of shape {list(mean.shape)} for {channels} channels")
    gamma = call.weight("gamma") if call.option("scale", True) else None
    beta = call.weight("beta") if call.option("center", True) else None
    epsilon = float(call.option("epsilon", 1e-3))
    read_gamma, read_beta = _values(gamma, 1.0, size), _values(beta, 0.0, size)
    key = (id(mean), "batchnorm")
    if x.rank >= 2 and x.onnx_axis(axis) == 1:
        def vector(read: Callable[[], np.ndarray], weight: Weight | None, what: str) -> str:
            return g.weight((key, what), call.hint(what), (size,), "float32",
                            lambda: read().astype("float32"), source=weight if weight is not None
                            and weight.dtype == "float32" and len(weight.shape) == 1 else None)

        names = [vector(read_gamma, gamma, "gamma"), vector(read_beta, beta, "beta"),
                 vector(_values(mean, 0.0, size), mean, "moving_mean"),
                 vector(_values(variance, 1.0, size), variance, "moving_variance")]
        out = g.op("BatchNormalization", [x.name, *names], call.hint(), epsilon=epsilon)
        return [Tensor(out, x.shape, x.dtype, x.layout)]

    def scale() -> np.ndarray:
        return read_gamma() / np.sqrt(np.asarray(variance.read(), dtype="float64").reshape(-1) + epsilon)

    def shift() -> np.ndarray:
        return read_beta() - np.asarray(mean.read(), dtype="float64").reshape(-1) * scale()

    broadcast = tuple(size if index == axis else 1 for index in range(x.rank))
    scale_name = g.broadcastable_weight((key, "scale"), call.hint("scale"), broadcast, x,
                                        lambda: scale().astype("float32"))
    shift_name = g.broadcastable_weight((key, "shift"), call.hint("shift"), broadcast, x,
                                        lambda: shift().astype("float32"))
    scaled = g.op("Mul", [x.name, scale_name], call.hint("scaled"))
    return [Tensor(g.op("Add", [scaled, shift_name], call.hint()), x.shape, x.dtype, x.layout)]


@converts("LayerNormalization")
def layer_normalization(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    x = inputs[0]
    axes = _axes(call, x, -1)
    if any(x.shape[axis] is None for axis in axes):
        raise call.refuse("normalisation over an axis of open size")
    normalized = tuple(int(x.shape[axis]) for axis in axes)  # type: ignore[arg-type]
    rms = bool(call.config.get("rms_scaling", False))  # Keras 3: x / sqrt(variance + epsilon) * gamma, no beta
    gamma = call.weight("gamma") if call.option("scale", True) or rms else None
    beta = call.weight("beta") if call.option("center", True) and not rms else None
    epsilon = float(call.option("epsilon", 1e-3))
    for weight in (gamma, beta):
        if weight is not None and int(np.prod(weight.shape)) != int(np.prod(normalized)):
            raise call.refuse(f"a {attribute_of(weight)} of shape {list(weight.shape)} over axes of {list(normalized)}")
    positions = [x.onnx_axis(axis) for axis in axes]
    trailing = positions == list(range(x.rank - len(axes), x.rank))
    if trailing and not rms and g.opset >= 17:
        def vector(weight: Weight | None, default: float, what: str) -> str:
            if weight is None:
                return g.constant(np.full(normalized, default, dtype="float32"), call.hint(what))
            return call.stored(weight, lambda v: v.reshape(normalized), normalized, tag="layernorm")

        names = [vector(gamma, 1.0, "gamma"), *([vector(beta, 0.0, "beta")] if beta is not None else [])]
        out = g.op("LayerNormalization", [x.name, *names], call.hint(), axis=positions[0], epsilon=epsilon)
        return [Tensor(out, x.shape, x.dtype, x.layout)]
    broadcast = tuple(int(x.shape[i]) if i in axes else 1 for i in range(x.rank))  # type: ignore[arg-type]
    mean = g.reduce("ReduceMean", x.name, positions, call.hint("mean"))
    centred = g.op("Sub", [x.name, mean], call.hint("centred"))
    variance = g.reduce("ReduceMean", g.op("Mul", [centred, centred], call.hint("squared")), positions,
                        call.hint("variance"))
    root = g.op("Sqrt", [g.op("Add", [variance, g.scalar(epsilon)], call.hint("plus_epsilon"))], call.hint("std"))
    out = g.op("Div", [x.name if rms else centred, root], call.hint("normalized"))
    if gamma is not None:
        gamma_name = g.broadcastable_weight((id(gamma), "layernorm"), call.hint("gamma"), broadcast, x,
                                            lambda: np.asarray(gamma.read(), dtype="float32"))
        out = g.op("Mul", [out, gamma_name], call.hint("scaled"))
    if beta is not None and not rms:
        beta_name = g.broadcastable_weight((id(beta), "layernorm"), call.hint("beta"), broadcast, x,
                                           lambda: np.asarray(beta.read(), dtype="float32"))
        out = g.op("Add", [out, beta_name], call.hint())
    return [Tensor(out, x.shape, x.dtype, x.layout)]


def attribute_of(weight: Weight) -> str:
    return weight.name.rsplit("/", 1)[-1]
