"""Convolutions: Conv1D/2D/3D (``groups``), DepthwiseConv1D/2D, SeparableConv1D/2D, Conv1D/2D/3DTranspose.

Keras kernels are ``(*window, in, out)`` (transposed: ``(*window, out, in)``);
ONNX wants ``(out, in / group, *window)`` (transposed: ``(in, out, *window)``),
so both become ``transpose(kernel, (n + 1, n, 0, ..., n - 1))``. A depthwise
kernel ``(*window, in, multiplier)`` becomes ``(in * multiplier, 1, *window)``
with ``group = in``: output channel ``c * multiplier + m``, as TensorFlow
orders them.

``padding="same"`` is TensorFlow's SAME: ``out = ceil(in / stride)`` and the
padding that needs goes half before, the rest (the odd one) after. With the
input size known the pads are written out; otherwise ``auto_pad=SAME_UPPER``,
which ONNX defines the same way. A transposed convolution crops its full
result the same way TensorFlow does (half of the excess before), and pads
the end (``output_padding``) where Keras asks for a longer output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convkit.convert.writers.onnx_native.activations import activate
from convkit.convert.writers.onnx_native.converters import Call, as_tuple, converts
from convkit.convert.writers.onnx_native.graph import Dim, Tensor, channels_first, identity

SPATIAL_RANK = {"1D": 1, "2D": 2, "3D": 3}


def spatial_rank(class_name: str) -> int:
    """1, 2 or 3, from the class name (``Conv2D``, ``Conv1DTranspose``, ``MaxPooling3D``)."""
    return SPATIAL_RANK[class_name.removesuffix("Transpose")[-2:]]


def channels_first_format(call: Call) -> bool:
    data_format = call.option("data_format", "channels_last")
    if data_format not in ("channels_last", "channels_first"):
        raise call.refuse(f"data_format={data_format!r}")
    return data_format == "channels_first"


def onnx_input(call: Call, x: Tensor) -> Tensor:
    """``x`` laid out as ONNX convolutions and pools take it: channels at axis 1."""
    g = call.builder
    if x.dtype != "float32":
        raise call.refuse(f"{x.dtype} inputs")
    return g.plain(x) if channels_first_format(call) else g.channels_first(x)


def keras_shape(call: Call, batch: Dim, channels: Dim, spatial: tuple[Dim, ...]) -> tuple[Dim, ...]:
    return (batch, channels, *spatial) if channels_first_format(call) else (batch, *spatial, channels)


def output_layout(call: Call, rank: int) -> tuple[int, ...]:
    return identity(rank) if channels_first_format(call) else channels_first(rank)


def same_pads(size: Dim, window: int, stride: int, dilation: int = 1) -> tuple[int, int] | None:
    """TensorFlow's SAME padding of one axis (before, after), or None when the size is open."""
    if size is None:
        return None
    out = -(-size // stride)
    total = max((out - 1) * stride + (window - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def window_attributes(call: Call, spatial: tuple[Dim, ...], window: tuple[int, ...], strides: tuple[int, ...],
                      dilations: tuple[int, ...], padding: str) -> tuple[dict[str, Any], tuple[Dim, ...]]:
    """``pads``/``auto_pad`` of a convolution or pool, and its output's spatial size."""
    effective = [(k - 1) * d + 1 for k, d in zip(window, dilations)]
    if padding == "valid":
        out = tuple(None if n is None else (n - e) // s + 1 for n, e, s in zip(spatial, effective, strides))
        return {"pads": [0] * (2 * len(window))}, out
    if padding == "causal":
        if len(window) != 1:
            raise call.refuse("causal padding beyond one dimension")
        out = tuple(None if n is None else (n - 1) // s + 1 for n, s in zip(spatial, strides))
        return {"pads": [effective[0] - 1, 0]}, out
    if padding != "same":
        raise call.refuse(f"padding={padding!r}")
    out = tuple(None if n is None else -(-n // s) for n, s in zip(spatial, strides))
    pads = [same_pads(n, k, s, d) for n, k, s, d in zip(spatial, window, strides, dilations)]
    if any(pad is None for pad in pads):
        return {"auto_pad": "SAME_UPPER"}, out
    return {"pads": [p[0] for p in pads if p] + [p[1] for p in pads if p]}, out


def _conv_kernel(kernel: np.ndarray) -> np.ndarray:
    n = kernel.ndim - 2
    return np.transpose(kernel, (n + 1, n, *range(n)))


def _depthwise_kernel(kernel: np.ndarray) -> np.ndarray:
    n = kernel.ndim - 2
    window = kernel.shape[:n]
    channels = kernel.shape[n] * kernel.shape[n + 1]
    flat = kernel.reshape(*window, channels)
    return np.transpose(flat, (n, *range(n))).reshape(channels, 1, *window)


def _setting(call: Call, n: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], str]:
    window = as_tuple(call.option("kernel_size"), n)
    strides = as_tuple(call.option("strides", 1), n)
    dilations = as_tuple(call.option("dilation_rate", 1), n)
    if any(s > 1 for s in strides) and any(d > 1 for d in dilations):
        raise call.refuse("strides and dilation_rate both above 1")
    return window, strides, dilations, str(call.option("padding", "valid")).lower()


def _split(x: Tensor, call: Call, n: int) -> tuple[Dim, Dim, tuple[Dim, ...]]:
    if x.rank != n + 2:
        raise call.refuse(f"inputs of rank {x.rank}")
    if channels_first_format(call):
        return x.shape[0], x.shape[1], x.shape[2:]
    return x.shape[0], x.shape[-1], x.shape[1:-1]


def _bias(call: Call) -> list[str]:
    if not call.option("use_bias", True):
        return []
    bias = call.weight("bias")
    assert bias is not None
    return [call.stored(bias)]


@converts("Conv1D", "Conv2D", "Conv3D")
def convolution(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    n = spatial_rank(call.class_name)
    x = inputs[0]
    batch, channels, spatial = _split(x, call, n)
    window, strides, dilations, padding = _setting(call, n)
    kernel = call.weight("kernel")
    assert kernel is not None
    groups = int(call.option("groups", 1))
    if len(kernel.shape) != n + 2 or (channels is not None and kernel.shape[n] * groups != channels):
        raise call.refuse(f"a kernel of shape {list(kernel.shape)} for {channels} input channels")
    attributes, out_spatial = window_attributes(call, spatial, window, strides, dilations, padding)
    filters = int(kernel.shape[-1])
    weight = call.stored(kernel, _conv_kernel, tuple(int(d) for d in _conv_kernel_shape(kernel.shape)), tag="conv")
    out = call.builder.op("Conv", [onnx_input(call, x).name, weight, *_bias(call)], call.hint(),
                          kernel_shape=list(window), strides=list(strides), dilations=list(dilations),
                          group=groups, **attributes)
    y = Tensor(out, keras_shape(call, batch, filters, out_spatial), "float32", output_layout(call, x.rank))
    return [activate(call, y, call.config.get("activation"))]


def _conv_kernel_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    n = len(shape) - 2
    return (shape[n + 1], shape[n], *shape[:n])


def depthwise(call: Call, x: Tensor, n: int, stored: Any, bias: list[str], hint: str
              ) -> tuple[str, Dim, tuple[Dim, ...]]:
    """The depthwise part (DepthwiseConv and SeparableConv): one ``Conv`` with ``group`` = input channels."""
    batch, channels, spatial = _split(x, call, n)
    window, strides, dilations, padding = _setting(call, n)
    if len(stored.shape) != n + 2 or (channels is not None and stored.shape[n] != channels):
        raise call.refuse(f"a depthwise kernel of shape {list(stored.shape)} for {channels} input channels")
    in_channels, multiplier = int(stored.shape[n]), int(stored.shape[n + 1])
    attributes, out_spatial = window_attributes(call, spatial, window, strides, dilations, padding)
    weight = call.stored(stored, _depthwise_kernel, (in_channels * multiplier, 1, *window), tag="depthwise")
    out = call.builder.op("Conv", [onnx_input(call, x).name, weight, *bias], hint, kernel_shape=list(window),
                          strides=list(strides), dilations=list(dilations), group=in_channels, **attributes)
    return str(out), in_channels * multiplier, out_spatial


@converts("DepthwiseConv1D", "DepthwiseConv2D")
def depthwise_convolution(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    n = spatial_rank(call.class_name)
    x = inputs[0]
    stored = call.weight("depthwise_kernel", "kernel")
    out, channels, spatial = depthwise(call, x, n, stored, _bias(call), call.hint())
    y = Tensor(out, keras_shape(call, x.shape[0], channels, spatial), "float32", output_layout(call, x.rank))
    return [activate(call, y, call.config.get("activation"))]


@converts("SeparableConv1D", "SeparableConv2D")
def separable_convolution(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    n = spatial_rank(call.class_name)
    x = inputs[0]
    stored = call.weight("depthwise_kernel")
    pointwise = call.weight("pointwise_kernel")
    assert pointwise is not None
    middle, channels, spatial = depthwise(call, x, n, stored, [], call.hint("depthwise"))
    if tuple(pointwise.shape[:n]) != (1,) * n or pointwise.shape[n] != channels:
        raise call.refuse(f"a pointwise kernel of shape {list(pointwise.shape)}")
    filters = int(pointwise.shape[-1])
    weight = call.stored(pointwise, _conv_kernel, _conv_kernel_shape(tuple(int(d) for d in pointwise.shape)),
                         tag="conv")
    out = call.builder.op("Conv", [middle, weight, *_bias(call)], call.hint(), kernel_shape=[1] * n)
    y = Tensor(out, keras_shape(call, x.shape[0], filters, spatial), "float32", output_layout(call, x.rank))
    return [activate(call, y, call.config.get("activation"))]


def transposed_length(size: int, window: int, stride: int, dilation: int, padding: str,
                      output_padding: int | None) -> int:
    """Keras' ``deconv_output_length``."""
    window = window + (window - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return size * stride + max(window - stride, 0)
        if padding == "full":
            return size * stride - (stride + window - 2)
        return size * stride
    pad = {"same": window // 2, "valid": 0, "full": window - 1}[padding]
    return (size - 1) * stride + window - 2 * pad + output_padding


@converts("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def transposed_convolution(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    n = spatial_rank(call.class_name)
    x = inputs[0]
    batch, channels, spatial = _split(x, call, n)
    window, strides, dilations, padding = _setting(call, n)
    if padding not in ("valid", "same"):
        raise call.refuse(f"padding={padding!r}")
    if any(size is None for size in spatial):
        raise call.refuse("inputs of open spatial size")
    requested = call.config.get("output_padding")
    output_paddings: tuple[int | None, ...] = (None,) * n if requested is None else as_tuple(requested, n)
    kernel = call.weight("kernel")
    assert kernel is not None
    if len(kernel.shape) != n + 2 or (channels is not None and kernel.shape[-1] != channels):
        raise call.refuse(f"a kernel of shape {list(kernel.shape)} for {channels} input channels")
    pads_before, pads_after, extra, out_spatial = [], [], [], []
    for size, k, s, d, op in zip(spatial, window, strides, dilations, output_paddings):
        assert size is not None
        length = transposed_length(size, k, s, d, padding, op)
        full = (size - 1) * s + (k - 1) * d + 1
        excess = full - length
        # TensorFlow crops the full result as SAME pads a forward convolution: half before, the rest after
        before = max(excess, 0) // 2
        pads_before.append(before)
        pads_after.append(max(excess, 0) - before)
        extra.append(max(-excess, 0))
        out_spatial.append(length)
    filters = int(kernel.shape[n])
    weight = call.stored(kernel, _conv_kernel, _conv_kernel_shape(tuple(int(d) for d in kernel.shape)), tag="conv")
    out = call.builder.op("ConvTranspose", [onnx_input(call, x).name, weight, *_bias(call)], call.hint(),
                          kernel_shape=list(window), strides=list(strides), dilations=list(dilations),
                          pads=pads_before + pads_after, output_padding=extra if any(extra) else None)
    y = Tensor(out, keras_shape(call, batch, filters, tuple(out_spatial)), "float32", output_layout(call, x.rank))
    return [activate(call, y, call.config.get("activation"))]
