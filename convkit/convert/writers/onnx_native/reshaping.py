"""Padding, cropping, upsampling, Reshape, Permute, Flatten, RepeatVector and TimeDistributed.

Padding, cropping and upsampling work on whichever ONNX axes hold the Keras
spatial axes, so they leave a channels-first tensor where it is. ``Permute``
changes the layout alone. ``Reshape`` and ``Flatten`` need Keras' own axis
order: a tensor the graph holds channels-first is transposed back first, so a
``Flatten`` after a convolution orders its features as Keras does (row, then
column, then channel), whatever reads them next.

``UpSampling`` with ``nearest`` repeats (``Resize`` with asymmetric
coordinates, rounding down); ``bilinear`` is TensorFlow's ``resize`` with
half-pixel centres, which both Keras generations call.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convkit.convert.writers.onnx_native.convolution import channels_first_format, spatial_rank
from convkit.convert.writers.onnx_native.converters import Call, as_tuple, converts
from convkit.convert.writers.onnx_native.graph import Dim, Tensor, identity

INT64_MAX = np.iinfo(np.int64).max


def _spatial_axes(call: Call, x: Tensor, n: int) -> list[int]:
    if x.rank != n + 2:
        raise call.refuse(f"inputs of rank {x.rank}")
    return list(range(2, x.rank)) if channels_first_format(call) else list(range(1, x.rank - 1))


def _pairs(value: Any, n: int) -> list[tuple[int, int]]:
    """Keras' padding/cropping argument: ``k``, ``(a, b, ...)`` per axis, or ``((before, after), ...)``."""
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        return [(int(pair[0]), int(pair[1])) for pair in value]
    if n == 1 and isinstance(value, (list, tuple)) and len(value) == 2:
        return [(int(value[0]), int(value[1]))]
    return [(v, v) for v in as_tuple(value, n)]


@converts("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    n = spatial_rank(call.class_name)
    x = inputs[0]
    axes = _spatial_axes(call, x, n)
    pairs = dict(zip(axes, _pairs(call.option("padding", 1), n)))
    before = [pairs.get(axis, (0, 0))[0] for axis in x.layout]
    after = [pairs.get(axis, (0, 0))[1] for axis in x.layout]
    g = call.builder
    out = g.op("Pad", [x.name, g.int64s(before + after, "pads")], call.hint(), mode="constant")
    shape = tuple(None if d is None else d + sum(pairs.get(axis, (0, 0))) for axis, d in enumerate(x.shape))
    return [Tensor(out, shape, x.dtype, x.layout)]


@converts("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    n = spatial_rank(call.class_name)
    x = inputs[0]
    axes = _spatial_axes(call, x, n)
    crops = _pairs(call.option("cropping", 1), n)
    starts, ends, onnx_axes = [], [], []
    shape = list(x.shape)
    for axis, (begin, end) in zip(axes, crops):
        size = x.shape[axis]
        starts.append(begin)
        ends.append(INT64_MAX if end == 0 else (size - end if size is not None else -end))
        onnx_axes.append(x.onnx_axis(axis))
        shape[axis] = None if size is None else size - begin - end
    out = call.builder.slice(x.name, starts, ends, onnx_axes, call.hint())
    return [Tensor(out, tuple(shape), x.dtype, x.layout)]


@converts("UpSampling1D", "UpSampling2D", "UpSampling3D")
def upsampling(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    n = spatial_rank(call.class_name)
    x = inputs[0]
    axes = [1] if n == 1 else _spatial_axes(call, x, n)
    if n == 1 and x.rank != 3:
        raise call.refuse(f"inputs of rank {x.rank}")
    sizes = dict(zip(axes, as_tuple(call.option("size", 2), n)))
    interpolation = str(call.option("interpolation", "nearest"))
    g = call.builder
    scales = np.asarray([float(sizes.get(axis, 1)) for axis in x.layout], dtype="float32")
    attributes: dict[str, Any]
    if interpolation == "nearest":
        attributes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    elif interpolation == "bilinear" and n == 2:
        attributes = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    else:
        raise call.refuse(f"interpolation={interpolation!r}")
    out = g.op("Resize", [x.name, "", g.constant(scales, "scales")], call.hint(), **attributes)
    shape = tuple(None if d is None else d * sizes.get(axis, 1) for axis, d in enumerate(x.shape))
    return [Tensor(out, shape, x.dtype, x.layout)]


def _known(shape: tuple[Dim, ...]) -> int | None:
    total = 1
    for d in shape:
        if d is None:
            return None
        total *= d
    return total


@converts("Reshape")
def reshape(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    x = g.plain(inputs[0])
    target = [int(d) for d in call.option("target_shape", [])]
    if target.count(-1) > 1 or any(d == 0 for d in target):
        raise call.refuse(f"target_shape={target}")
    shape: list[Dim] = [x.shape[0], *target]
    if -1 in target:
        total, rest = _known(x.shape[1:]), _known(tuple(d for d in target if d != -1))
        shape[1 + target.index(-1)] = total // rest if total is not None and rest else None
    out = g.reshape(x.name, [0, *target], call.hint())
    return [Tensor(out, tuple(shape), x.dtype, identity(len(shape)))]


@converts("Permute")
def permute(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    """No node: the permuted Keras axes are only a new layout of the same ONNX value."""
    x = inputs[0]
    order = (0, *(int(d) for d in call.option("dims", [])))
    if sorted(order) != list(range(x.rank)):
        raise call.refuse(f"dims={list(order[1:])} for inputs of rank {x.rank}")
    inverse = [order.index(axis) for axis in range(x.rank)]
    layout = tuple(inverse[axis] for axis in x.layout)
    return [Tensor(x.name, tuple(x.shape[axis] for axis in order), x.dtype, layout)]


@converts("Flatten")
def flatten(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    x = inputs[0]
    if x.rank <= 2:
        return [g.plain(x)]
    # Keras flattens a channels_first tensor in channels-last order (it moves the channels last first)
    order = (0, *range(2, x.rank), 1) if channels_first_format(call) else identity(x.rank)
    x = g.as_layout(x, order)
    out = g.op("Flatten", [x.name], call.hint(), axis=1)
    return [Tensor(out, (x.shape[0], _known(x.shape[1:])), x.dtype, identity(2))]


@converts("RepeatVector")
def repeat_vector(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    x = g.plain(inputs[0])
    if x.rank != 2:
        raise call.refuse(f"inputs of rank {x.rank}")
    times = int(call.option("n"))
    expanded = g.unsqueeze(x.name, [1], call.hint("expanded"))
    out = g.op("Tile", [expanded, g.int64s([1, times, 1], "repeats")], call.hint())
    return [Tensor(out, (x.shape[0], times, x.shape[1]), x.dtype, identity(3))]


@converts("TimeDistributed")
def time_distributed(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    """The inner layer on ``(batch * time, ...)``, folded back to ``(batch, time, ...)``."""
    g = call.builder
    inner = call.config.get("layer")
    if not isinstance(inner, dict) or call.apply is None:
        raise call.refuse("no inner layer")
    x = g.plain(inputs[0])
    if x.rank < 3:
        raise call.refuse(f"inputs of rank {x.rank}")
    shape_of_x = g.op("Shape", [x.name], call.hint("shape"))
    merged_shape = g.op("Concat", [g.int64s([-1], "minus_one"), g.slice(shape_of_x, [2], [INT64_MAX], [0],
                                                                         call.hint("step_shape"))],
                        call.hint("merged_shape"), axis=0)
    merged = Tensor(g.op("Reshape", [x.name, merged_shape], call.hint("merged")), (None, *x.shape[2:]), x.dtype,
                    identity(x.rank - 1))
    outputs = call.apply(inner, [merged], call.weights)
    if len(outputs) != 1:
        raise call.refuse("an inner layer with several outputs")
    y = g.plain(outputs[0])
    shape_of_y = g.op("Shape", [y.name], call.hint("inner_shape"))
    split_shape = g.op("Concat", [g.slice(shape_of_x, [0], [2], [0], call.hint("batch_time")),
                                  g.slice(shape_of_y, [1], [INT64_MAX], [0], call.hint("inner_step_shape"))],
                       call.hint("split_shape"), axis=0)
    out = g.op("Reshape", [y.name, split_shape], call.hint())
    shape = (x.shape[0], x.shape[1], *y.shape[1:])
    return [Tensor(out, shape, y.dtype, identity(len(shape)))]
