"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum.

The inputs are brought to one layout (the one most of them already have, so
two convolution outputs are added channels-first without a transpose) and
merged there; Concatenate's Keras axis goes wherever that layout put it.
"""

from __future__ import annotations

from collections import Counter

from convkit.convert.writers.onnx_native.converters import Call, converts
from convkit.convert.writers.onnx_native.graph import Dim, GraphBuilder, Tensor, Uncovered


def common_layout(g: GraphBuilder, tensors: list[Tensor]) -> list[Tensor]:
    """``tensors`` (of one rank) in the layout most of them have (the first one's on a tie)."""
    ranks = {t.rank for t in tensors}
    if len(ranks) != 1:
        raise Uncovered("", "", f"merging tensors of ranks {sorted(ranks)}")
    counts = Counter(t.layout for t in tensors)
    best = max(counts.values())
    layout = next(t.layout for t in tensors if counts[t.layout] == best)
    return [g.as_layout(t, layout) for t in tensors]


def broadcast_shape(shapes: list[tuple[Dim, ...]]) -> tuple[Dim, ...]:
    """The elementwise result shape of same-rank ``shapes`` (a 1 gives way to the other size)."""
    out: list[Dim] = []
    for dims in zip(*shapes):
        known = [d for d in dims if d is not None and d != 1]
        if known:
            out.append(known[0])
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


def _aligned(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    if len(inputs) < 2 and call.class_name != "Concatenate":
        raise call.refuse(f"{len(inputs)} input(s)")
    try:
        return common_layout(call.builder, inputs)
    except Uncovered as error:
        raise call.refuse(error.reason) from None


@converts("Add", "Multiply", "Maximum", "Minimum", "Average", "Subtract")
def elementwise(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    g = call.builder
    tensors = _aligned(call, inputs)
    if call.class_name == "Subtract" and len(tensors) != 2:
        raise call.refuse(f"{len(tensors)} inputs where Subtract takes two")
    op_type = {"Add": "Add", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min", "Average": "Add",
               "Subtract": "Sub"}[call.class_name]
    out = tensors[0].name
    for index, other in enumerate(tensors[1:]):
        last = index == len(tensors) - 2 and call.class_name != "Average"
        out = g.op(op_type, [out, other.name], call.hint() if last else call.hint(f"{op_type.lower()}_{index}"))
    if call.class_name == "Average":
        out = g.op("Div", [out, g.scalar(float(len(tensors)), tensors[0].dtype)], call.hint())
    first = tensors[0]
    return [Tensor(out, broadcast_shape([t.shape for t in tensors]), first.dtype, first.layout)]


@converts("Concatenate")
def concatenate(call: Call, inputs: list[Tensor]) -> list[Tensor]:
    tensors = _aligned(call, inputs)
    first = tensors[0]
    axis = first.keras_axis(int(call.option("axis", -1)))
    out = call.builder.op("Concat", [t.name for t in tensors], call.hint(), axis=first.onnx_axis(axis))
    sizes = [t.shape[axis] for t in tensors]
    shape = list(broadcast_shape([tuple(d if i != axis else 1 for i, d in enumerate(t.shape)) for t in tensors]))
    shape[axis] = None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)
    return [Tensor(out, tuple(shape), first.dtype, first.layout)]
