"""Output shapes and MACs of Keras layers, from their configs alone (no Keras, no TensorFlow).

``layer_rule(class_name)`` answers for one layer class; both Keras generations'
config spellings are read (``batch_input_shape``/``batch_shape``,
``kernel_size`` as an int or a list, ``data_format``). A class without a
rule gets no shape (unless the file records one) and counts as an unknown
operation in the MACs.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from convkit.graph import macs as _macs

Shape = list[Any]
# (config, input shapes) -> output shapes
ShapeRule = Callable[[dict[str, Any], list[Shape | None]], list[Shape | None]]
# (config, input shapes, output shapes) -> MACs (None: shapes not known)
MacRule = Callable[[dict[str, Any], list[Shape | None], list[Shape | None]], int | None]


def _first(inputs: list[Shape | None]) -> Shape | None:
    return inputs[0] if inputs else None


def _same(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    return [list(inputs[0]) if inputs and inputs[0] is not None else None]


def _tuple(value: Any, rank: int) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value] * rank


def _channels_first(config: dict[str, Any]) -> bool:
    return config.get("data_format") == "channels_first"


def _spatial(shape: Shape, config: dict[str, Any], rank: int) -> tuple[list[Any], Any]:
    """(spatial dims, channels) of a channels-last or channels-first shape."""
    if _channels_first(config):
        return list(shape[2 : 2 + rank]), shape[1]
    return list(shape[1 : 1 + rank]), shape[-1]


def _with_spatial(shape: Shape, config: dict[str, Any], spatial: list[Any], channels: Any) -> Shape:
    if _channels_first(config):
        return [shape[0], channels, *spatial]
    return [shape[0], *spatial, channels]


def _length(size: Any, window: int, stride: int, padding: str, dilation: int = 1) -> Any:
    if not isinstance(size, int):
        return None
    if padding in ("same", "causal"):
        return math.ceil(size / stride)
    effective = (window - 1) * dilation + 1
    return max(0, (size - effective) // stride + 1)


def _rank_of(class_name: str) -> int:
    for rank in (1, 2, 3):
        if f"{rank}D" in class_name:
            return rank
    return 2


def _conv_shape(config: dict[str, Any], inputs: list[Shape | None], rank: int, channels_out: Any = None) -> Shape | None:
    shape = _first(inputs)
    if shape is None or len(shape) != rank + 2:
        return None
    spatial, channels = _spatial(shape, config, rank)
    window = _tuple(config.get("kernel_size", 1), rank)
    strides = _tuple(config.get("strides", 1), rank)
    dilation = _tuple(config.get("dilation_rate", 1), rank)
    padding = str(config.get("padding", "valid")).lower()
    out = [_length(n, int(k), int(s), padding, int(d)) for n, k, s, d in zip(spatial, window, strides, dilation)]
    return _with_spatial(shape, config, out, channels if channels_out is None else channels_out)


def _conv(class_name: str) -> tuple[ShapeRule, MacRule]:
    rank = _rank_of(class_name)

    def shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
        return [_conv_shape(config, inputs, rank, config.get("filters"))]

    def count(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
        shape_in = _first(inputs)
        if shape_in is None or len(shape_in) != rank + 2:
            return None
        _spatial_in, channels = _spatial(shape_in, config, rank)
        return _macs.conv(outputs[0], _tuple(config.get("kernel_size", 1), rank), channels, int(config.get("groups", 1) or 1))

    return shape, count


def _depthwise(class_name: str) -> tuple[ShapeRule, MacRule]:
    rank = _rank_of(class_name)

    def shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
        shape_in = _first(inputs)
        if shape_in is None or len(shape_in) != rank + 2:
            return [None]
        _spatial_in, channels = _spatial(shape_in, config, rank)
        multiplier = int(config.get("depth_multiplier", 1) or 1)
        return [_conv_shape(config, inputs, rank, channels * multiplier if isinstance(channels, int) else None)]

    def count(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
        return _macs.depthwise(outputs[0], _tuple(config.get("kernel_size", 1), rank))

    return shape, count


def _separable(class_name: str) -> tuple[ShapeRule, MacRule]:
    rank = _rank_of(class_name)

    def shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
        return [_conv_shape(config, inputs, rank, config.get("filters"))]

    def count(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
        shape_in = _first(inputs)
        if shape_in is None or outputs[0] is None:
            return None
        _spatial_in, channels = _spatial(shape_in, config, rank)
        multiplier = int(config.get("depth_multiplier", 1) or 1)
        out_spatial, _channels = _spatial(outputs[0], config, rank)
        middle = _with_spatial(outputs[0], config, out_spatial, channels * multiplier if isinstance(channels, int) else None)
        depth = _macs.depthwise(middle, _tuple(config.get("kernel_size", 1), rank))
        point = _macs.conv(outputs[0], [1] * rank, middle[-1] if not _channels_first(config) else middle[1])
        return None if depth is None or point is None else depth + point

    return shape, count


def _transposed(class_name: str) -> tuple[ShapeRule, MacRule]:
    rank = _rank_of(class_name)

    def shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
        shape_in = _first(inputs)
        if shape_in is None or len(shape_in) != rank + 2:
            return [None]
        spatial, _channels = _spatial(shape_in, config, rank)
        window = _tuple(config.get("kernel_size", 1), rank)
        strides = _tuple(config.get("strides", 1), rank)
        dilation = _tuple(config.get("dilation_rate", 1), rank)
        padding = str(config.get("padding", "valid")).lower()
        out: list[Any] = []
        for n, k, s, d in zip(spatial, window, strides, dilation):
            if not isinstance(n, int):
                out.append(None)
            elif padding == "same":
                out.append(n * s)
            else:
                out.append(n * s + max((k - 1) * d + 1 - s, 0))
        return [_with_spatial(shape_in, config, out, config.get("filters"))]

    def count(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
        return _macs.transposed_conv(_first(inputs), _tuple(config.get("kernel_size", 1), rank), config.get("filters"),
                                     int(config.get("groups", 1) or 1))

    return shape, count


def _dense_shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    shape = _first(inputs)
    return [None if shape is None else [*shape[:-1], config.get("units")]]


def _dense_macs(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
    shape = _first(inputs)
    return None if shape is None else _macs.matmul(outputs[0], shape[-1])


def _einsum_dense_macs(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
    equation = str(config.get("equation", ""))
    shape = _first(inputs)
    if "->" not in equation or "," not in equation or shape is None or outputs[0] is None:
        return None
    left, rest = equation.split(",", 1)
    kernel, result = rest.split("->")
    contracted = [shape[left.index(c)] for c in left if c in kernel and c not in result and len(left) == len(shape)]
    size = _macs.product(contracted) if contracted else None
    return None if size is None else _macs.matmul(outputs[0], size)


def _einsum_dense_shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    shape = _first(inputs)
    equation = str(config.get("equation", ""))
    output = config.get("output_shape")
    if shape is None or "->" not in equation or output is None:
        return [None]
    result = equation.split("->")[1]
    output = list(output) if isinstance(output, (list, tuple)) else [output]
    # output_shape omits the batch dimension; dimensions of the input keep their size.
    left = equation.split(",")[0]
    dims: list[Any] = []
    tail = [None] * (len(result) - len(output)) + output
    for letter, given in zip(result, tail):
        dims.append(shape[left.index(letter)] if letter in left and len(left) == len(shape) else given)
    return [dims]


def _pool(class_name: str) -> ShapeRule:
    rank = _rank_of(class_name)

    def shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
        shape_in = _first(inputs)
        if shape_in is None or len(shape_in) != rank + 2:
            return [None]
        spatial, channels = _spatial(shape_in, config, rank)
        window = _tuple(config.get("pool_size", 2), rank)
        strides = _tuple(config.get("strides") or config.get("pool_size", 2), rank)
        padding = str(config.get("padding", "valid")).lower()
        out = [_length(n, int(k), int(s), padding) for n, k, s in zip(spatial, window, strides)]
        return [_with_spatial(shape_in, config, out, channels)]

    return shape


def _global_pool(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    shape = _first(inputs)
    if shape is None:
        return [None]
    channels = shape[1] if _channels_first(config) else shape[-1]
    if config.get("keepdims"):
        spatial = [1] * (len(shape) - 2)
        return [[shape[0], channels, *spatial] if _channels_first(config) else [shape[0], *spatial, channels]]
    return [[shape[0], channels]]


def _flatten(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    shape = _first(inputs)
    if shape is None:
        return [None]
    return [[shape[0], _macs.product(shape[1:])]]


def _reshape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    shape = _first(inputs)
    target = list(config.get("target_shape") or [])
    if shape is None or not target:
        return [None]
    if -1 in target:
        total = _macs.product(shape[1:])
        known = _macs.product([d for d in target if d != -1])
        target = [total // known if d == -1 and total is not None and known else d for d in target]
        target = [None if d == -1 else d for d in target]
    return [[shape[0], *target]]


def _permute(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    shape = _first(inputs)
    dims = config.get("dims") or []
    if shape is None or len(dims) != len(shape) - 1:
        return [None]
    return [[shape[0], *(shape[int(d)] for d in dims)]]


def _repeat(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    shape = _first(inputs)
    return [None if shape is None else [shape[0], config.get("n"), *shape[1:]]]


def _padding(class_name: str) -> ShapeRule:
    rank = _rank_of(class_name)
    cropping = class_name.startswith("Cropping")

    def shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
        shape_in = _first(inputs)
        if shape_in is None or len(shape_in) != rank + 2:
            return [None]
        amounts = config.get("cropping" if cropping else "padding", 1)
        pairs: list[Any] = _tuple(amounts, rank)
        spatial, channels = _spatial(shape_in, config, rank)
        out = []
        for size, pair in zip(spatial, pairs):
            total = sum(_tuple(pair, 2)) if isinstance(pair, (list, tuple, int)) else 0
            out.append(None if not isinstance(size, int) else size - total if cropping else size + total)
        return [_with_spatial(shape_in, config, out, channels)]

    return shape


def _upsampling(class_name: str) -> ShapeRule:
    rank = _rank_of(class_name)

    def shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
        shape_in = _first(inputs)
        if shape_in is None or len(shape_in) != rank + 2:
            return [None]
        spatial, channels = _spatial(shape_in, config, rank)
        factors = _tuple(config.get("size", 2) if rank > 1 else config.get("size", 2), rank)
        out = [n * int(f) if isinstance(n, int) else None for n, f in zip(spatial, factors)]
        return [_with_spatial(shape_in, config, out, channels)]

    return shape


def _broadcast(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    known = [shape for shape in inputs if shape is not None]
    if len(known) != len(inputs) or not known:
        return [None]
    rank = max(len(shape) for shape in known)
    out: list[Any] = []
    for position in range(rank):
        dims = [shape[len(shape) - rank + position] for shape in known if len(shape) - rank + position >= 0]
        numbers = [d for d in dims if isinstance(d, int) and d != 1]
        out.append(numbers[0] if numbers else (1 if all(d == 1 for d in dims) else None))
    return [out]


def _concatenate(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    if not inputs or any(shape is None for shape in inputs):
        return [None]
    shapes = [list(shape) for shape in inputs if shape is not None]
    axis = int(config.get("axis", -1))
    axis = axis if axis >= 0 else len(shapes[0]) + axis
    out = list(shapes[0])
    sizes = [shape[axis] for shape in shapes]
    out[axis] = sum(sizes) if all(isinstance(s, int) for s in sizes) else None
    return [out]


def _dot(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    if len(inputs) != 2 or inputs[0] is None or inputs[1] is None:
        return [None]
    axes = _tuple(config.get("axes", -1), 2)
    a, b = list(inputs[0]), list(inputs[1])
    ia, ib = [int(x) if int(x) >= 0 else len(s) + int(x) for x, s in zip(axes, (a, b))]
    out = [d for i, d in enumerate(a) if i != ia] + [d for i, d in enumerate(b) if i not in (0, ib)]
    return [out if len(out) > 1 else [a[0], 1]]


def _dot_macs(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
    if len(inputs) != 2 or inputs[0] is None:
        return None
    axes = _tuple(config.get("axes", -1), 2)
    return _macs.matmul(outputs[0], inputs[0][int(axes[0])])


def _embedding(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    shape = _first(inputs)
    return [None if shape is None else [*shape, config.get("output_dim")]]


def _rnn_config(config: dict[str, Any]) -> dict[str, Any]:
    cell = config.get("cell")
    if isinstance(cell, dict) and isinstance(cell.get("config"), dict):
        return {**cell["config"], **{k: v for k, v in config.items() if k.startswith("return") or k == "go_backwards"}}
    return config


def _recurrent(gates: int) -> tuple[ShapeRule, MacRule]:
    def shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
        shape_in = _first(inputs)
        units = _rnn_config(config).get("units")
        if shape_in is None or len(shape_in) != 3:
            return [None]
        sequence = [shape_in[0], shape_in[1], units] if config.get("return_sequences") else [shape_in[0], units]
        if config.get("return_state"):
            states = 2 if gates == 4 else 1
            return [sequence, *([[shape_in[0], units]] * states)]
        return [sequence]

    def count(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
        shape_in = _first(inputs)
        if shape_in is None or len(shape_in) != 3:
            return None
        return _macs.recurrent(shape_in[1], gates, shape_in[2], _rnn_config(config).get("units"))

    return shape, count


_CELL_GATES = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1, "LSTMCell": 4, "GRUCell": 3, "SimpleRNNCell": 1}


def _wrapped(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    layer = config.get("layer") or {}
    return str(layer.get("class_name", "")), layer.get("config") or {}


def _bidirectional_shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    class_name, inner = _wrapped(config)
    rule = LAYER_RULES.get(class_name)
    if rule is None or rule[0] is None:
        return [None]
    outputs = rule[0](inner, inputs)
    first = outputs[0]
    if first is None:
        return [None]
    if config.get("merge_mode", "concat") == "concat":
        first = [*first[:-1], first[-1] * 2 if isinstance(first[-1], int) else None]
    return [first]


def _bidirectional_macs(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
    class_name, inner = _wrapped(config)
    rule = LAYER_RULES.get(class_name)
    if rule is None or rule[1] is None:
        return None
    one = rule[1](inner, inputs, rule[0](inner, inputs) if rule[0] else [None])
    return None if one is None else 2 * one


def _time_distributed_shape(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    class_name, inner = _wrapped(config)
    rule = LAYER_RULES.get(class_name)
    shape_in = _first(inputs)
    if rule is None or rule[0] is None or shape_in is None:
        return [None]
    inner_out = rule[0](inner, [[shape_in[0], *shape_in[2:]]])[0]
    return [None if inner_out is None else [shape_in[0], shape_in[1], *inner_out[1:]]]


def _time_distributed_macs(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
    class_name, inner = _wrapped(config)
    rule = LAYER_RULES.get(class_name)
    shape_in = _first(inputs)
    if rule is None or rule[1] is None or shape_in is None or not isinstance(shape_in[1], int):
        return None
    step_in: list[Shape | None] = [[shape_in[0], *shape_in[2:]]]
    step_out = rule[0](inner, step_in) if rule[0] else [None]
    one = rule[1](inner, step_in, step_out)
    return None if one is None else one * shape_in[1]


def _attention_shapes(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    query = _first(inputs)
    if query is None:
        return [None]
    output = config.get("output_shape")
    if output is None:
        return [list(query)]
    output = list(output) if isinstance(output, (list, tuple)) else [output]
    return [[*query[:-1], *output] if len(output) == 1 else [query[0], *output]]


def _attention_macs(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
    query = _first(inputs)
    value = inputs[1] if len(inputs) > 1 else query
    key = inputs[2] if len(inputs) > 2 and inputs[2] is not None else value
    if query is None or value is None or key is None or len(query) != 3 or len(value) != 3:
        return None
    heads, key_dim = config.get("num_heads"), config.get("key_dim")
    value_dim = config.get("value_dim") or key_dim
    output = outputs[0][-1] if outputs and outputs[0] is not None else query[-1]
    return _macs.attention(query[1], key[1], query[-1], key[-1], value[-1], heads, key_dim, value_dim, output)


def _dot_attention_macs(config: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> int | None:
    query = _first(inputs)
    value = inputs[1] if len(inputs) > 1 else None
    if query is None or value is None or len(query) != 3 or len(value) != 3:
        return None
    scores = _macs.product([query[1], value[1], query[2]])
    weighted = _macs.product([query[1], value[1], value[2]])
    return None if scores is None or weighted is None else scores + weighted


def _resizing(config: dict[str, Any], inputs: list[Shape | None]) -> list[Shape | None]:
    shape = _first(inputs)
    if shape is None or len(shape) != 4:
        return [None]
    return [_with_spatial(shape, config, [config.get("height"), config.get("width")], _spatial(shape, config, 2)[1])]


_NO_MACS = (
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Softmax", "PReLU",
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "Normalization",
    "Rescaling", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
    "GaussianDropout", "AlphaDropout", "ActivityRegularization", "Masking", "Identity", "LayerScale",
    "CustomScaleLayer", "RandomFlip", "RandomRotation", "RandomZoom", "RandomContrast", "RandomTranslation",
    "RandomCrop",
)
_NO_MACS_SHAPED: dict[str, ShapeRule] = {
    "Flatten": _flatten, "Reshape": _reshape, "Permute": _permute, "RepeatVector": _repeat,
    "GlobalAveragePooling1D": _global_pool, "GlobalAveragePooling2D": _global_pool, "GlobalAveragePooling3D": _global_pool,
    "GlobalMaxPooling1D": _global_pool, "GlobalMaxPooling2D": _global_pool, "GlobalMaxPooling3D": _global_pool,
    "Add": _broadcast, "Subtract": _broadcast, "Multiply": _broadcast, "Average": _broadcast, "Maximum": _broadcast,
    "Minimum": _broadcast, "Concatenate": _concatenate, "Embedding": _embedding, "Resizing": _resizing,
    "CenterCrop": _resizing,
}

LAYER_RULES: dict[str, tuple[ShapeRule | None, MacRule | None]] = {}
for _name in _NO_MACS:
    LAYER_RULES[_name] = (_same, None)
for _name, _rule in _NO_MACS_SHAPED.items():
    LAYER_RULES[_name] = (_rule, None)
for _name in ("Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D"):
    LAYER_RULES[_name] = _conv(_name)
for _name in ("DepthwiseConv1D", "DepthwiseConv2D"):
    LAYER_RULES[_name] = _depthwise(_name)
for _name in ("SeparableConv1D", "SeparableConv2D", "SeparableConvolution2D"):
    LAYER_RULES[_name] = _separable(_name)
for _name in ("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution2DTranspose"):
    LAYER_RULES[_name] = _transposed(_name)
for _name in ("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
              "AveragePooling3D", "MaxPool1D", "MaxPool2D", "AvgPool2D"):
    LAYER_RULES[_name] = (_pool(_name), None)
for _name in ("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D"):
    LAYER_RULES[_name] = (_padding(_name), None)
for _name in ("UpSampling1D", "UpSampling2D", "UpSampling3D"):
    LAYER_RULES[_name] = (_upsampling(_name), None)
for _name, _gates in _CELL_GATES.items():
    LAYER_RULES[_name] = _recurrent(_gates)
LAYER_RULES["Dense"] = (_dense_shape, _dense_macs)
LAYER_RULES["EinsumDense"] = (_einsum_dense_shape, _einsum_dense_macs)
LAYER_RULES["Dot"] = (_dot, _dot_macs)
LAYER_RULES["Bidirectional"] = (_bidirectional_shape, _bidirectional_macs)
LAYER_RULES["TimeDistributed"] = (_time_distributed_shape, _time_distributed_macs)
LAYER_RULES["MultiHeadAttention"] = (_attention_shapes, _attention_macs)
LAYER_RULES["Attention"] = (lambda config, inputs: [_first(inputs)], _dot_attention_macs)
# Layers that always hold multiply-accumulates: their MACs are never "none".
COUNTED = frozenset(name for name, (_shape, count) in LAYER_RULES.items() if count is not None)


def layer_rule(class_name: str) -> tuple[ShapeRule | None, MacRule | None] | None:
    """The (shape rule, MAC rule) of a Keras layer class; ``None`` for a class convkit has no rule for."""
    return LAYER_RULES.get(class_name.split(">")[-1])
