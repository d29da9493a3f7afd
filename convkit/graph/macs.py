"""Multiply-accumulates (MACs): the formulas, and which operations convkit counts.

One MAC is one multiplication whose product is added to a sum. convkit counts
them, for one example (an open batch dimension counts as 1), in these
operations only, as the papers that report model cost do (He et al. 2015,
Sandler et al. 2018):

- convolutions (1-D, 2-D, 3-D, grouped, dilated): output elements x kernel
  window x input channels per group;
- depthwise convolutions: output elements x kernel window;
- transposed convolutions: input elements x kernel window x output channels per group;
- dense layers and matrix products (MatMul, BatchMatMul, Gemm, FullyConnected,
  Einsum of two operands): output elements x the contracted dimension;
- recurrent layers (SimpleRNN, GRU, LSTM and their TFLite/ONNX ops): per step,
  gates x (input + units) x units;
- attention (Keras MultiHeadAttention): the query, key, value and output
  projections plus the two products (scores and weighted values).

Bias additions, batch normalisation, activations, pooling, elementwise
arithmetic and shape operations do no multiply-accumulate here and count 0
(TensorFlow's profiler counts some of them as floating-point operations: it
reports about 3% more on ResNet50 and MobileNetV2). An operation convkit has
no rule for is counted as unknown, never guessed; a rule whose shapes are not
known is counted as ``no-shape``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

Dim = int | str | None


def elements(shape: Sequence[Dim] | None, *, batch: bool = True) -> int | None:
    """The number of elements of one example's tensor: the first dimension counts as 1 when ``batch``
    and it is open; ``None`` when another dimension is not known."""
    if shape is None:
        return None
    total = 1
    for index, dim in enumerate(shape):
        if isinstance(dim, int) and dim >= 0:
            total *= dim
        elif batch and index == 0:
            continue
        else:
            return None
    return total


def product(values: Iterable[Dim]) -> int | None:
    total = 1
    for value in values:
        if not isinstance(value, int) or value < 0:
            return None
        total *= value
    return total


def conv(output_shape: Sequence[Dim] | None, window: Sequence[Dim], in_channels: Dim, groups: int = 1) -> int | None:
    """A convolution: every output element sums ``window x in_channels / groups`` products."""
    out = elements(output_shape)
    size = product([*window, in_channels])
    if out is None or size is None or groups <= 0:
        return None
    return out * size // groups


def depthwise(output_shape: Sequence[Dim] | None, window: Sequence[Dim]) -> int | None:
    """A depthwise convolution: every output element sums one kernel window."""
    out = elements(output_shape)
    size = product(window)
    return None if out is None or size is None else out * size


def transposed_conv(input_shape: Sequence[Dim] | None, window: Sequence[Dim], out_channels: Dim, groups: int = 1) -> int | None:
    """A transposed convolution: every input element is spread over ``window x out_channels / groups`` outputs."""
    inputs = elements(input_shape)
    size = product([*window, out_channels])
    if inputs is None or size is None or groups <= 0:
        return None
    return inputs * size // groups


def matmul(output_shape: Sequence[Dim] | None, contracted: Dim) -> int | None:
    """A matrix product or dense layer: every output element sums ``contracted`` products."""
    out = elements(output_shape)
    if out is None or not isinstance(contracted, int) or contracted < 0:
        return None
    return out * contracted


def recurrent(steps: Dim, gates: int, inputs: Dim, units: Dim) -> int | None:
    """A recurrent layer over ``steps``: per step ``gates`` products of ``[input, state] x units``."""
    per_step = product([gates, inputs, units])
    state = product([gates, units, units])
    if per_step is None or state is None:
        return None
    count = steps if isinstance(steps, int) and steps >= 0 else None
    return None if count is None else count * (per_step + state)


def attention(query_steps: Dim, key_steps: Dim, query_dim: Dim, key_dim: Dim, value_dim: Dim, heads: Dim,
              head_key_dim: Dim, head_value_dim: Dim, output_dim: Dim) -> int | None:
    """Multi-head attention: four projections, the scores and the weighted sum."""
    parts = [
        product([query_steps, query_dim, heads, head_key_dim]),
        product([key_steps, key_dim, heads, head_key_dim]),
        product([key_steps, value_dim, heads, head_value_dim]),
        product([heads, query_steps, key_steps, head_key_dim]),
        product([heads, query_steps, key_steps, head_value_dim]),
        product([query_steps, heads, head_value_dim, output_dim]),
    ]
    return None if any(part is None for part in parts) else sum(p for p in parts if p is not None)
