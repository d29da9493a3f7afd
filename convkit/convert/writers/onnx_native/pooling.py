"""Pooling: Max/AveragePooling1D/2D/3D and the global pools.

TensorFlow's average pooling with ``padding="same"`` divides by the number
of real inputs under the window, not the window's size: ``AveragePool`` with
``count_include_pad=0``. Max pooling never sees its padding.

A pool states its padding with ``auto_pad`` (``VALID`` or ``SAME_UPPER``,
which is TensorFlow's SAME for a pool), never with a ``pads`` attribute:
onnxruntime's ``PadFusion`` (on by default) moves a zero ``Pad`` before a
pool that has ``pads`` into that attribute, and there a ``MaxPool`` pads with
-inf and an ``AveragePool`` with ``count_include_pad=0`` leaves the padding
out, so a ``ZeroPadding2D`` before a pool (ResNetV2's stem) would lose its
zeros. The fusion leaves a pool with ``auto_pad`` alone.
"""

from __future__ import annotations

from typing import Any

from convkit.convert.writers.onnx_native.convolution import (
    channels_first_format,
    keras_shape,
    onnx_input,
    output_layout,
    spatial_rank,
    window_attributes,
)
from convkit.convert.writers.onnx_native.converters import Call, as_tuple, converts
from convkit.convert.writers.onnx_native.graph import Tensor, channels_first, identity


@converts("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
          "AveragePooling3D")
def pooling(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    n = spatial_rank(call.class_name)
    x = inputs[0]
    if x.rank != n + 2:
        raise call.refuse(f"inputs of rank {x.rank}")
    window = as_tuple(call.option("pool_size", 2), n)
    strides = as_tuple(call.option("strides", window), n)
    padding = str(call.option("padding", "valid")).lower()
    if padding not in ("valid", "same"):
        raise call.refuse(f"padding={padding!r}")
    first = channels_first_format(call)
    spatial = x.shape[2:] if first else x.shape[1:-1]
    channels = x.shape[1] if first else x.shape[-1]
    _, out_spatial = window_attributes(call, spatial, window, strides, (1,) * n, padding)
    attributes: dict[str, Any] = {"auto_pad": "VALID" if padding == "valid" else "SAME_UPPER"}
    average = call.class_name.startswith("Average")
    op_type = "AveragePool" if average else "MaxPool"
    if average:
        attributes["count_include_pad"] = 0
    out = call.builder.op(op_type, [onnx_input(call, x).name], call.hint(), kernel_shape=list(window),
                          strides=list(strides), **attributes)
    return [Tensor(out, keras_shape(call, x.shape[0], channels, out_spatial), "float32", output_layout(call, x.rank))]


@converts("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D",
          "GlobalMaxPooling2D", "GlobalMaxPooling3D")
def global_pooling(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    x = inputs[0]
    n = spatial_rank(call.class_name)
    if x.rank != n + 2:
        raise call.refuse(f"inputs of rank {x.rank}")
    first = channels_first_format(call)
    keep = bool(call.config.get("keepdims", False))
    average = "Average" in call.class_name
    spatial_axes = list(range(2, x.rank)) if first else list(range(1, x.rank - 1))
    pooled_shape = tuple(1 if axis in spatial_axes else d for axis, d in enumerate(x.shape))
    natural = identity(x.rank) if first else channels_first(x.rank)
    if x.layout == natural:
        # the graph holds it channels-first already: ONNX's own global pool, then drop the ones
        pooled = g.op("GlobalAveragePool" if average else "GlobalMaxPool", [x.name], call.hint("pooled") if not keep
                      else call.hint())
        if keep:
            return [Tensor(pooled, pooled_shape, x.dtype, x.layout)]
        out = g.op("Flatten", [pooled], call.hint(), axis=1)
        shape = (x.shape[0], x.shape[1] if first else x.shape[-1])
        return [Tensor(out, shape, x.dtype, identity(2))]
    axes = [x.onnx_axis(axis) for axis in spatial_axes]
    out = g.reduce("ReduceMean" if average else "ReduceMax", x.name, axes, call.hint(), keepdims=keep)
    if keep:
        return [Tensor(out, pooled_shape, x.dtype, x.layout)]
    remaining = [axis for axis in x.layout if axis not in spatial_axes]
    renumbered = tuple(sorted(remaining).index(axis) for axis in remaining)
    remaining_shape = tuple(d for axis, d in enumerate(x.shape) if axis not in spatial_axes)
    return [Tensor(out, remaining_shape, x.dtype, renumbered)]
