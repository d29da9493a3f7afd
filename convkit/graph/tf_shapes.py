"""Output shapes and MACs of common TensorFlow ops (GraphDef, TF.js graph models), without TensorFlow.

Used where a graph does not record ``_output_shapes``. Ops without a rule
get no shape; their MACs are counted only when the op is one convkit knows to
hold none.
"""

from __future__ import annotations

import base64
import math
from typing import Any

from convkit.graph import macs as _macs

Shape = list[Any]

_UNARY = frozenset("""
Identity IdentityN Snapshot StopGradient PreventGradient CheckNumerics Relu Relu6 Elu Selu Sigmoid Tanh Softmax
LogSoftmax LeakyRelu Softplus Softsign Swish Gelu Neg Abs Sqrt Rsqrt Square Exp Log Log1p Sin Cos Erf Erfc Floor
Ceil Round Sign Reciprocal Inv Cast BiasAdd FusedBatchNorm FusedBatchNormV2 FusedBatchNormV3 _FusedBatchNormEx
ReadVariableOp LRN ClipByValue OnesLike ZerosLike Prelu Bitcast Relu6Grad IsNan IsFinite LogicalNot Selu
""".split())
_BINARY = frozenset("""
Add AddV2 AddN Sub Mul RealDiv Div DivNoNan FloorDiv FloorMod Maximum Minimum Pow SquaredDifference Greater
GreaterEqual Less LessEqual Equal NotEqual LogicalAnd LogicalOr Select SelectV2 BiasAddV1 TruncateDiv Atan2
""".split())
# Ops that do no multiply-accumulate (see convkit.graph.macs): elementwise, normalisation, pooling, shape ops.
NO_MACS = _UNARY | _BINARY | frozenset("""
Placeholder PlaceholderWithDefault Const NoOp Reshape Squeeze ExpandDims Pad PadV2 MirrorPad ConcatV2 Concat Pack
Unpack Split SplitV Slice StridedSlice Transpose Shape ShapeN Size Rank Fill Range Tile Gather GatherV2 GatherNd
MaxPool MaxPoolV2 MaxPool3D AvgPool AvgPool3D Mean Sum Max Min Prod All Any ArgMax ArgMin ResizeBilinear
ResizeNearestNeighbor ResizeBicubic TopKV2 Where Cumsum OneHot SpaceToDepth DepthToSpace SpaceToBatchND
BatchToSpaceND BroadcastTo BroadcastArgs TensorListReserve TensorListFromTensor TensorListStack TensorListGetItem
TensorListSetItem TensorListLength TensorListElementShape StatelessWhile While StatelessIf If Case StatelessCase
Enter Exit Merge Switch NextIteration LoopCond Assert Print PrintV2 Unique NonMaxSuppressionV3 NonMaxSuppressionV4
NonMaxSuppressionV5 CropAndResize ResourceGather ScatterNd TensorScatterUpdate ReverseV2 L2Loss
""".split())
_CONV = frozenset(("Conv2D", "_FusedConv2D", "Conv3D", "Conv1D"))
_DEPTHWISE = frozenset(("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"))
_MATMUL = frozenset(("MatMul", "_FusedMatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"))
_TRANSPOSED = frozenset(("Conv2DBackpropInput", "Conv3DBackpropInputV2"))
COUNTED = _CONV | _DEPTHWISE | _MATMUL | _TRANSPOSED | {"Einsum"}


def attr_text(value: Any) -> str | None:
    """A string attribute: base64 in JSON (``{"s": "U0FNRQ=="}`` is ``SAME``)."""
    if not isinstance(value, dict) or "s" not in value:
        return None
    raw = value["s"]
    if isinstance(raw, list):  # TF.js writes some strings as character codes
        try:
            return bytes(int(c) for c in raw).decode("utf-8", "replace")
        except (TypeError, ValueError):
            return None
    try:
        return base64.b64decode(str(raw)).decode("utf-8", "replace")
    except ValueError:
        return str(raw)


def attr_ints(value: Any) -> list[int] | None:
    """An integer or integer-list attribute, JSON form."""
    if not isinstance(value, dict):
        return None
    listed = (value.get("list") or {}).get("i") if isinstance(value.get("list"), dict) else None
    if listed is not None:
        return [int(v) for v in listed]
    if "i" in value:
        return [int(value["i"])]
    return None


def _text(attrs: dict[str, Any], key: str, default: str) -> str:
    return attr_text(attrs.get(key)) or default


def _ints(attrs: dict[str, Any], key: str) -> list[int] | None:
    return attr_ints(attrs.get(key))


def _nchw(attrs: dict[str, Any]) -> bool:
    return _text(attrs, "data_format", "NHWC").startswith("NC")


def _window_out(size: Any, window: Any, stride: int, dilation: int, padding: str, explicit: tuple[int, int] = (0, 0)) -> Any:
    if not isinstance(size, int) or not isinstance(window, int):
        return None
    effective = (window - 1) * dilation + 1
    if padding == "SAME":
        return math.ceil(size / stride)
    if padding == "EXPLICIT":
        size += sum(explicit)
    return max(0, (size - effective) // stride + 1)


def _spatial_op(attrs: dict[str, Any], shape: Shape | None, window: list[Any], channels: Any) -> Shape | None:
    if shape is None:
        return None
    rank = len(shape) - 2
    if rank < 1:
        return None
    nchw = _nchw(attrs)
    strides = _ints(attrs, "strides") or [1] * (rank + 2)
    dilations = _ints(attrs, "dilations") or [1] * (rank + 2)
    padding = _text(attrs, "padding", "VALID")
    explicit = _ints(attrs, "explicit_paddings") or [0] * (2 * (rank + 2))
    axes = range(2, 2 + rank) if nchw else range(1, 1 + rank)
    out = list(shape)
    for position, axis in enumerate(axes):
        pads = (explicit[2 * axis], explicit[2 * axis + 1]) if len(explicit) >= 2 * (rank + 2) else (0, 0)
        out[axis] = _window_out(shape[axis], window[position], strides[axis] if axis < len(strides) else 1,
                                dilations[axis] if axis < len(dilations) else 1, padding, pads)
    out[1 if nchw else -1] = channels
    return out


def _broadcast(shapes: list[Shape | None]) -> Shape | None:
    if any(shape is None for shape in shapes) or not shapes:
        return None
    rank = max(len(shape) for shape in shapes if shape is not None)
    out: list[Any] = []
    for position in range(rank):
        dims = [shape[len(shape) - rank + position] for shape in shapes if shape is not None and len(shape) - rank + position >= 0]
        numbers = [d for d in dims if isinstance(d, int) and d != 1]
        out.append(numbers[0] if numbers else (1 if all(d == 1 for d in dims) else None))
    return out


def output_shapes(op: str, attrs: dict[str, Any], inputs: list[Shape | None], values: list[list[int] | None]) -> list[Shape | None]:
    """The shapes of an op's outputs from its inputs' shapes (and small constant inputs' values)."""
    first = inputs[0] if inputs else None
    if op in _UNARY:
        return [list(first) if first is not None else None]
    if op in _BINARY:
        return [_broadcast([s for s in inputs[:3]])]
    if op in _CONV and len(inputs) >= 2 and inputs[1] is not None:
        kernel = inputs[1]
        return [_spatial_op(attrs, first, kernel[:-2], kernel[-1])]
    if op in _DEPTHWISE and len(inputs) >= 2 and inputs[1] is not None:
        kernel = inputs[1]
        channels = kernel[-2] * kernel[-1] if isinstance(kernel[-2], int) and isinstance(kernel[-1], int) else None
        return [_spatial_op(attrs, first, kernel[:-2], channels)]
    if op in ("MaxPool", "AvgPool", "MaxPool3D", "AvgPool3D") and first is not None:
        ksize = _ints(attrs, "ksize") or []
        nchw = _nchw(attrs)
        window = ksize[2:] if nchw else ksize[1:-1]
        return [_spatial_op(attrs, first, window, first[1] if nchw else first[-1])]
    if op in ("MatMul", "_FusedMatMul") and first is None and len(inputs) >= 2 and inputs[1] is not None and len(inputs[1]) == 2:
        # [batch, K] x [K, N]: the product has N columns whatever the batch.
        return [[None, inputs[1][0] if _flag(attrs, "transpose_b") else inputs[1][1]]]
    if op in _MATMUL and len(inputs) >= 2 and first is not None and inputs[1] is not None:
        a, b = list(first), list(inputs[1])
        if len(a) < 2 or len(b) < 2:
            return [None]
        if _flag(attrs, "transpose_a") or _flag(attrs, "adj_x"):
            a[-2], a[-1] = a[-1], a[-2]
        if _flag(attrs, "transpose_b") or _flag(attrs, "adj_y"):
            b[-2], b[-1] = b[-1], b[-2]
        batch = _broadcast([a[:-2], b[:-2]]) or []
        return [[*batch, a[-2], b[-1]]]
    if op in ("Mean", "Sum", "Max", "Min", "Prod", "All", "Any") and first is not None and len(values) > 1 and values[1] is not None:
        axes = {a % len(first) for a in values[1]} if first else set()
        keep = _flag(attrs, "keep_dims")
        return [[1 if i in axes else d for i, d in enumerate(first)] if keep else [d for i, d in enumerate(first) if i not in axes]]
    if op == "Reshape" and len(values) > 1 and values[1] is not None:
        target: list[Any] = list(values[1])
        if -1 in target and first is not None:
            total = _macs.product(first)
            known = _macs.product([d for d in target if d != -1])
            if total is None and first and first[0] is None and target[0] == -1:
                return [[None, *target[1:]]]
            target = [total // known if d == -1 and total is not None and known else (None if d == -1 else d) for d in target]
        return [target]
    if op == "Squeeze" and first is not None:
        dims = {d % len(first) for d in (_ints(attrs, "squeeze_dims") or [])} if first else set()
        return [[d for i, d in enumerate(first) if (i not in dims if dims else d != 1)]]
    if op == "ExpandDims" and first is not None and len(values) > 1 and values[1]:
        axis = values[1][0] % (len(first) + 1)
        return [[*first[:axis], 1, *first[axis:]]]
    if op in ("Pad", "PadV2", "MirrorPad") and first is not None and len(values) > 1 and values[1] is not None:
        pads = values[1]
        if len(pads) == 2 * len(first):
            return [[d + pads[2 * i] + pads[2 * i + 1] if isinstance(d, int) else None for i, d in enumerate(first)]]
    if op == "ConcatV2" and len(inputs) >= 2 and values[-1]:
        parts = inputs[:-1]
        if all(p is not None for p in parts):
            axis = values[-1][0] % len(parts[0])  # type: ignore[arg-type]
            out = list(parts[0])  # type: ignore[arg-type]
            sizes = [p[axis] for p in parts if p is not None]
            out[axis] = sum(sizes) if all(isinstance(s, int) for s in sizes) else None
            return [out]
    if op == "Transpose" and first is not None and len(values) > 1 and values[1] is not None and len(values[1]) == len(first):
        return [[first[p] for p in values[1]]]
    if op == "Shape" and first is not None:
        return [[len(first)]]
    if op in ("Conv2DBackpropInput",) and values and values[0] is not None:
        return [list(values[0])]
    if op in ("ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic") and first is not None and len(values) > 1 and values[1]:
        return [[first[0], *values[1], first[-1]]]
    if op == "Einsum" and len(inputs) == 2 and all(s is not None for s in inputs):
        shapes = _einsum(attrs, inputs)
        return [shapes[0] if shapes else None]
    return [None]


def _flag(attrs: dict[str, Any], key: str) -> bool:
    value = attrs.get(key)
    return bool(value.get("b")) if isinstance(value, dict) else False


def _einsum(attrs: dict[str, Any], inputs: list[Shape | None]) -> tuple[Shape, int | None] | None:
    equation = _text(attrs, "equation", "").replace(" ", "")
    if "->" not in equation or "," not in equation or "." in equation:
        return None
    operands, result = equation.split("->")
    left, right = operands.split(",", 1)
    a, b = inputs[0], inputs[1]
    if a is None or b is None or len(left) != len(a) or len(right) != len(b):
        return None
    sizes: dict[str, Any] = {}
    for letters, shape in ((left, a), (right, b)):
        for letter, dim in zip(letters, shape):
            if isinstance(dim, int) and dim != 1 or letter not in sizes:
                sizes[letter] = dim
    contracted = [sizes[c] for c in set(left) & set(right) if c not in result]
    return [sizes.get(c) for c in result], _macs.product(contracted)


def macs(op: str, attrs: dict[str, Any], inputs: list[Shape | None], outputs: list[Shape | None]) -> tuple[int | None, str]:
    """(MACs, status) of one op: see :class:`convkit.graph.model.Node` for the statuses."""
    out = outputs[0] if outputs else None
    kernel = inputs[1] if len(inputs) > 1 else None
    count: int | None
    if op in _CONV:
        count = _macs.conv(out, kernel[:-2], kernel[-2]) if kernel and len(kernel) >= 3 else None
    elif op in _DEPTHWISE:
        count = _macs.depthwise(out, kernel[:-2]) if kernel and len(kernel) >= 3 else None
    elif op in _MATMUL:
        a = inputs[0] if inputs else None
        contracted = None
        if a is not None and len(a) >= 2:
            contracted = a[-2] if _flag(attrs, "transpose_a") or _flag(attrs, "adj_x") else a[-1]
        elif op in ("MatMul", "_FusedMatMul") and kernel is not None and len(kernel) == 2:
            contracted = kernel[1] if _flag(attrs, "transpose_b") else kernel[0]
        count = _macs.matmul(out, contracted)
    elif op in _TRANSPOSED:
        # Conv2DBackpropInput(input_sizes, filter [h, w, out, in], out_backprop): the transposed conv's input is the third.
        grad = inputs[2] if len(inputs) > 2 else None
        count = _macs.transposed_conv(grad, kernel[:-2], kernel[-2]) if kernel and len(kernel) >= 3 else None
    elif op == "Einsum":
        found = _einsum(attrs, inputs)
        count = _macs.matmul(found[0], found[1]) if found and found[1] is not None else None
    elif op in NO_MACS:
        return 0, "none"
    else:
        return None, "unknown"
    return (count, "counted") if count is not None else (None, "no-shape")
