"""Dense, Embedding, the layers that do nothing at inference, and the scaling layers.

A Dense layer acts on the last Keras axis. On a 2-D input it is one ``Gemm``;
on a channels-last tensor that the graph holds channels-first (after a
convolution) it is a 1x1 ``Conv``, so the tensor stays where it is; otherwise
``MatMul`` + ``Add`` on whichever axis order already ends in Keras' last axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convkit.convert.writers.onnx_native.activations import activate
from convkit.convert.writers.onnx_native.converters import Call, converts
from convkit.convert.writers.onnx_native.graph import ELEMENT_TYPES, Tensor, channels_first

EPSILON = 1e-7  # keras.backend.epsilon(), which Normalization divides by at least


def _float(call: Call, x: Tensor) -> Tensor:
    if x.dtype == "float32":
        return x
    out = call.builder.op("Cast", [x.name], call.hint("cast"), to=ELEMENT_TYPES["float32"])
    return Tensor(out, x.shape, "float32", x.layout)


@converts("Dense")
def dense(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    x = _float(call, inputs[0])
    kernel = call.weight("kernel")
    bias = call.weight("bias") if call.option("use_bias", True) else None
    assert kernel is not None
    if len(kernel.shape) != 2:
        raise call.refuse(f"a kernel of shape {list(kernel.shape)}")
    units_in, units = kernel.shape
    if x.shape[-1] is not None and x.shape[-1] != units_in:
        raise call.refuse(f"inputs of {x.shape[-1]} features for a kernel of {units_in}")
    shape = (*x.shape[:-1], units)
    if x.rank >= 3 and x.layout == channels_first(x.rank):
        spatial = (1,) * (x.rank - 2)
        weight = call.stored(kernel, lambda k: k.T.reshape(units, units_in, *spatial), (units, units_in, *spatial),
                             tag="conv1x1")
        out = g.op("Conv", [x.name, weight, *([call.stored(bias)] if bias is not None else [])], call.hint())
        return [activate(call, Tensor(out, shape, "float32", x.layout), call.config.get("activation"))]
    if x.rank == 2:
        inputs_ = [x.name, call.stored(kernel), *([call.stored(bias)] if bias is not None else [])]
        out = g.op("Gemm", inputs_, call.hint()) if bias is not None else g.op("MatMul", inputs_, call.hint())
        return [activate(call, Tensor(out, shape, "float32", x.layout), call.config.get("activation"))]
    if x.layout[-1] != x.rank - 1:
        x = g.plain(x)
    out = g.op("MatMul", [x.name, call.stored(kernel)], call.hint("matmul") if bias is not None else call.hint())
    if bias is not None:
        out = g.op("Add", [out, call.stored(bias)], call.hint())
    return [activate(call, Tensor(out, shape, "float32", x.layout), call.config.get("activation"))]


@converts("Embedding")
def embedding(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    if call.config.get("mask_zero"):
        raise call.refuse("mask_zero=True (the mask would change what later layers compute)")
    g = call.builder
    ids = g.plain(inputs[0])
    table = call.weight("embeddings")
    assert table is not None
    name = ids.name
    if ids.dtype not in ("int32", "int64"):
        name = g.op("Cast", [ids.name], call.hint("ids"), to=ELEMENT_TYPES["int64"])
    out = g.op("Gather", [call.stored(table), name], call.hint(), axis=0)
    shape = (*ids.shape, int(table.shape[1]))
    return [Tensor(out, shape, "float32", tuple(range(len(shape))))]


@converts("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
          "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Identity")
def inference_identity(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    """Layers that pass their input through at inference."""
    return [inputs[0]]


@converts("Rescaling")
def rescaling(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    x = _float(call, inputs[0])
    scale = np.asarray(call.option("scale", 1.0), dtype="float32")
    offset = np.asarray(call.option("offset", 0.0), dtype="float32")
    out = g.op("Mul", [x.name, g.broadcastable(scale, x, call.hint("scale"))], call.hint("scaled"))
    if np.any(offset != 0):
        out = g.op("Add", [out, g.broadcastable(offset, x, call.hint("offset"))], call.hint())
    return [Tensor(out, x.shape, x.dtype, x.layout)]


def _kept_axes(call: Call, rank: int) -> tuple[int, ...]:
    axis = call.config.get("axis", -1)
    if axis is None:
        return ()
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return tuple(sorted(int(a) + rank if int(a) < 0 else int(a) for a in axes))


@converts("Normalization")
def normalization(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    """``(x - mean) / max(sqrt(variance), epsilon)`` (``invert``: ``mean + x * ...``), as both Kerases compute it."""
    g = call.builder
    x = _float(call, inputs[0])
    keep = _kept_axes(call, x.rank)
    if any(x.shape[axis] is None for axis in keep):
        raise call.refuse("a kept axis of open size")
    broadcast = tuple(int(x.shape[d]) if d in keep else 1 for d in range(x.rank))  # type: ignore[arg-type]
    kept_shape = tuple(broadcast[d] for d in keep)

    def aligned(value: Any) -> np.ndarray:
        array = np.asarray(value, dtype="float64")
        expanded = [1] * x.rank
        for index in range(1, array.ndim + 1):
            expanded[keep[-index]] = array.shape[-index]
        return np.broadcast_to(array.reshape(expanded), broadcast)

    if call.config.get("mean") is not None:
        mean_value, variance_value = call.config["mean"], call.config.get("variance")
        stats = (aligned(mean_value), aligned(variance_value))

        def statistics() -> tuple[np.ndarray, np.ndarray]:
            return stats
    else:
        mean_weight = call.weight("mean")
        variance_weight = call.weight("variance")
        call.weight("count", required=False)  # how many samples adapt() saw; not used at inference
        assert mean_weight is not None and variance_weight is not None
        if tuple(mean_weight.shape) != kept_shape:
            raise call.refuse(f"a mean of shape {list(mean_weight.shape)} for kept axes of {list(kept_shape)}")

        def statistics() -> tuple[np.ndarray, np.ndarray]:
            return (np.reshape(mean_weight.read(), broadcast).astype("float64"),
                    np.reshape(variance_weight.read(), broadcast).astype("float64"))

    def mean() -> np.ndarray:
        return statistics()[0].astype("float32")

    def denominator() -> np.ndarray:
        return np.maximum(np.sqrt(statistics()[1].astype("float32")), np.float32(EPSILON))

    key = (call.name, id(call.layer))
    mean_name = g.broadcastable_weight((key, "mean"), call.hint("mean"), broadcast, x, mean)
    scale_name = g.broadcastable_weight((key, "std"), call.hint("std"), broadcast, x, denominator)
    if call.config.get("invert"):
        out = g.op("Add", [g.op("Mul", [x.name, scale_name], call.hint("scaled")), mean_name], call.hint())
    else:
        out = g.op("Div", [g.op("Sub", [x.name, mean_name], call.hint("centred")), scale_name], call.hint())
    return [Tensor(out, x.shape, x.dtype, x.layout)]


# ---------------------------------------------------------------- classes Keras ships in its applications


@converts("LayerScale")
def layer_scale(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    """ConvNeXt's ``x * gamma`` (Keras 3 leaves the variable unnamed, tf_keras calls it ``gamma``)."""
    x = inputs[0]
    stored = call.weights.all()
    if len(stored) != 1:
        raise call.refuse(f"{len(stored)} weights where LayerScale has one")
    (gamma,) = stored
    scale = call.builder.broadcastable_weight(id(gamma), call.hint("gamma"), gamma.shape, x,
                                              lambda: gamma.read().astype("float32"))
    return [Tensor(call.builder.op("Mul", [x.name, scale], call.hint()), x.shape, x.dtype, x.layout)]


@converts("CustomScaleLayer", "Custom>CustomScaleLayer")
def custom_scale_layer(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    """InceptionResNetV2's ``inputs[0] + inputs[1] * scale``."""
    if len(inputs) != 2:
        raise call.refuse(f"{len(inputs)} inputs where CustomScaleLayer takes two")
    g = call.builder
    first = inputs[0]
    second = g.as_layout(inputs[1], first.layout) if inputs[1].rank == first.rank else g.plain(inputs[1])
    if not first.is_plain and second.layout != first.layout:
        first = g.plain(first)
    scaled = g.op("Mul", [second.name, g.scalar(float(call.option("scale", 1.0)))], call.hint("scaled"))
    return [Tensor(g.op("Add", [first.name, scaled], call.hint()), first.shape, first.dtype, first.layout)]
