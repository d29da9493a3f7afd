"""The ONNX graph under construction: nodes, constants, deferred weights, and where each axis lives.

A Keras tensor is channels-last (``N, H, W, C``); ONNX's convolutions and
pools want channels-first (``N, C, H, W``). Every :class:`Tensor` carries its
Keras shape and a ``layout``: ONNX axis ``i`` of the value holds Keras axis
``layout[i]``. A convolution asks for its input in channels-first layout and
leaves its output there, so the next convolution, pool, activation or merge
takes it as it is; a ``Transpose`` is made only where a consumer needs another
layout (a Dense on the last axis, a Reshape, a graph output), once per tensor
and layout. A Keras ``Permute`` only changes the layout, no node at all.

Weights are not read while the graph is built: :meth:`GraphBuilder.weight`
records the tensor's name, shape and a function that produces its values
(transposed, folded, reordered as ONNX wants them), which
:mod:`convkit.convert.writers.onnx_native.protobuf` calls one tensor at a time while
writing the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from convkit.keras_model.data import Weight

# numpy dtype name -> onnx.TensorProto.DataType
ELEMENT_TYPES = {"float32": 1, "uint8": 2, "int8": 3, "uint16": 4, "int16": 5, "int32": 6, "int64": 7, "bool": 9,
                 "float16": 10, "float64": 11, "uint32": 12, "uint64": 13, "bfloat16": 16}
Dim = int | None
Shape = tuple[Dim, ...]


class Uncovered(Exception):
    """The native writer has no exact ONNX form for something in the model.

    Attributes:
        layer: the layer's name (``""`` for the model as a whole).
        class_name: the layer's Keras class.
        reason: what is not covered, in a few words.
    """

    def __init__(self, layer: str, class_name: str, reason: str) -> None:
        super().__init__(f"layer {layer!r} ({class_name}): {reason}" if layer else reason)
        self.layer = layer
        self.class_name = class_name
        self.reason = reason


@dataclass(frozen=True)
class Tensor:
    """A value of the graph as Keras sees it, and how it is laid out in ONNX.

    Attributes:
        name: the ONNX value name.
        shape: the Keras shape (batch first), ``None`` where open.
        dtype: numpy dtype name.
        layout: ONNX axis ``i`` holds Keras axis ``layout[i]``.
    """

    name: str
    shape: Shape
    dtype: str
    layout: tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def onnx_shape(self) -> Shape:
        return tuple(self.shape[axis] for axis in self.layout)

    def keras_axis(self, axis: int) -> int:
        """``axis`` (may be negative) as a non-negative Keras axis."""
        return axis + self.rank if axis < 0 else axis

    def onnx_axis(self, keras_axis: int) -> int:
        """Where Keras axis ``keras_axis`` sits in the ONNX value."""
        return self.layout.index(self.keras_axis(keras_axis))

    @property
    def is_plain(self) -> bool:
        return self.layout == identity(self.rank)


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def channels_first(rank: int) -> tuple[int, ...]:
    """The layout that puts a channels-last tensor's channels at ONNX axis 1 (``N, C, spatial...``)."""
    return (0, rank - 1, *range(1, rank - 1)) if rank > 2 else identity(rank)


@dataclass
class Initializer:
    """One initializer: small constants carry their values, weights a function that makes them."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    values: np.ndarray | None = None
    produce: Callable[[], np.ndarray] | None = None
    source: Weight | None = None  # the stored weight, as it is (copied without decoding when it can be)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def array(self) -> np.ndarray:
        if self.values is not None:
            return self.values
        if self.produce is not None:
            array = self.produce()
        else:
            assert self.source is not None
            array = self.source.read()
        array = np.ascontiguousarray(array, dtype=self.dtype)
        if tuple(array.shape) != self.shape:
            raise ValueError(f"initializer {self.name!r} came out with shape {list(array.shape)}, "
                             f"not the {list(self.shape)} its graph uses")
        return array


@dataclass
class GraphBuilder:
    """Nodes, initializers, inputs and outputs of one ONNX graph, with unique names.

    Attributes:
        opset: the ``ai.onnx`` opset the nodes are written for.
    """

    opset: int
    nodes: list[Any] = field(default_factory=list)
    initializers: list[Initializer] = field(default_factory=list)
    inputs: list[Tensor] = field(default_factory=list)
    outputs: list[Tensor] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)
    _layouts: dict[tuple[str, tuple[int, ...], tuple[int, ...]], Tensor] = field(default_factory=dict)
    _constants: dict[tuple[str, tuple[int, ...], bytes], str] = field(default_factory=dict)
    _weights: dict[Any, str] = field(default_factory=dict)

    # ------------------------------------------------------------ names

    def unique(self, hint: str) -> str:
        base = re.sub(r"\s+", "_", hint) or "value"
        name, count = base, 0
        while name in self._names:
            count += 1
            name = f"{base}_{count}"
        self._names.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claims ``name`` exactly (graph inputs and outputs keep the Keras names)."""
        if name in self._names:
            raise Uncovered("", "", f"two graph inputs or outputs are both named {name!r}")
        self._names.add(name)
        return name

    # ------------------------------------------------------------ nodes

    def op(self, op_type: str, inputs: Sequence[str], hint: str, *, outputs: int = 1, **attributes: Any) -> Any:
        """Adds a node; returns its output name (or list of names when ``outputs`` > 1)."""
        from onnx import helper

        names = [self.unique(hint if outputs == 1 else f"{hint}:{index}") for index in range(outputs)]
        attributes = {key: value for key, value in attributes.items() if value is not None}
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.unique(f"{hint}/{op_type}"),
                                           **attributes))
        return names[0] if outputs == 1 else names

    def constant(self, value: Any, hint: str = "const", dtype: str | None = None) -> str:
        """A small constant initializer (equal constants are stored once)."""
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        key = (array.dtype.name, tuple(array.shape), array.tobytes())
        if key in self._constants:
            return self._constants[key]
        name = self.unique(hint)
        self.initializers.append(Initializer(name, tuple(array.shape), array.dtype.name, values=array))
        self._constants[key] = name
        return name

    def int64s(self, values: Sequence[int], hint: str = "ints") -> str:
        return self.constant(np.asarray(list(values), dtype=np.int64), hint)

    def weight(self, key: Any, hint: str, shape: Sequence[int], dtype: str,
               produce: Callable[[], np.ndarray] | None = None, source: Weight | None = None) -> str:
        """A weight initializer made when the file is written; one per ``key`` (shared layers reuse it).

        Args:
            key: identifies the values (stored weight and transform), so a layer called twice stores them once.
            hint: the name's stem.
            shape: the shape ``produce`` returns.
            dtype: numpy dtype name of the values.
            produce: makes the values from the stored weights; None: ``source`` as stored.
            source: the stored weight, when the values are that weight unchanged.
        """
        if key in self._weights:
            return self._weights[key]
        name = self.unique(hint)
        self.initializers.append(Initializer(name, tuple(int(d) for d in shape), dtype, produce=produce,
                                             source=source))
        self._weights[key] = name
        return name

    # ------------------------------------------------------------ layouts

    def as_layout(self, tensor: Tensor, layout: Sequence[int]) -> Tensor:
        """``tensor`` with its axes in ``layout`` (one Transpose per tensor and layout, made once)."""
        layout = tuple(layout)
        if tensor.layout == layout:
            return tensor
        key = (tensor.name, tensor.layout, layout)  # a Permute's output shares its input's value
        if key not in self._layouts:
            perm = [tensor.layout.index(axis) for axis in layout]
            name = self.op("Transpose", [tensor.name], f"{tensor.name}/transposed", perm=perm)
            self._layouts[key] = Tensor(name, tensor.shape, tensor.dtype, layout)
        return self._layouts[key]

    def plain(self, tensor: Tensor) -> Tensor:
        """``tensor`` in Keras' own axis order."""
        return self.as_layout(tensor, identity(tensor.rank))

    def channels_first(self, tensor: Tensor) -> Tensor:
        """A channels-last ``tensor`` with its channels at ONNX axis 1."""
        return self.as_layout(tensor, channels_first(tensor.rank))

    def broadcastable(self, value: np.ndarray, like: Tensor, hint: str) -> str:
        """A constant that broadcasts against ``like`` as it would against the Keras tensor."""
        array = np.asarray(value, dtype=like.dtype)
        if array.ndim == 0 or like.is_plain:
            return self.constant(array, hint)
        array = array.reshape((1,) * (like.rank - array.ndim) + array.shape)
        return self.constant(np.transpose(array, like.layout), hint)

    def broadcastable_weight(self, key: Any, hint: str, keras_shape: Sequence[int], like: Tensor,
                             produce: Callable[[], np.ndarray]) -> str:
        """A weight that broadcasts against ``like`` as its values (shaped ``keras_shape``, right-aligned)
        would against the Keras tensor."""
        full = (1,) * (like.rank - len(keras_shape)) + tuple(int(d) for d in keras_shape)
        layout = like.layout
        return self.weight((key, layout), hint, tuple(full[axis] for axis in layout), like.dtype,
                           lambda: np.transpose(np.reshape(produce(), full), layout))

    # ------------------------------------------------------------ ops that changed between opsets

    def unsqueeze(self, name: str, axes: Sequence[int], hint: str) -> str:
        return str(self.op("Unsqueeze", [name, self.int64s(axes, "axes")], hint))

    def squeeze(self, name: str, axes: Sequence[int], hint: str) -> str:
        return str(self.op("Squeeze", [name, self.int64s(axes, "axes")], hint))

    def reduce(self, op_type: str, name: str, axes: Sequence[int], hint: str, keepdims: bool = True) -> str:
        """ReduceMean/ReduceMax/ReduceSum...: axes an input from opset 18 (ReduceSum: 13), an attribute before."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return str(self.op(op_type, [name, self.int64s(axes, "axes")], hint, keepdims=int(keepdims)))
        return str(self.op(op_type, [name], hint, axes=list(axes), keepdims=int(keepdims)))

    def split(self, name: str, axis: int, sizes: Sequence[int], hint: str) -> list[str]:
        names = self.op("Split", [name, self.int64s(sizes, "split")], hint, outputs=len(sizes), axis=axis)
        return list(names) if len(sizes) > 1 else [names]

    def slice(self, name: str, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int], hint: str,
              steps: Sequence[int] | None = None) -> str:
        inputs = [name, self.int64s(starts, "starts"), self.int64s(ends, "ends"), self.int64s(axes, "axes")]
        if steps is not None:
            inputs.append(self.int64s(steps, "steps"))
        return str(self.op("Slice", inputs, hint))

    def reshape(self, name: str, shape: Sequence[int], hint: str) -> str:
        """Reshape to ``shape`` (``0`` copies the input's dimension, ``-1`` is inferred)."""
        return str(self.op("Reshape", [name, self.int64s(shape, "shape")], hint))

    def scalar(self, value: float, dtype: str = "float32") -> str:
        return self.constant(np.asarray(value, dtype=dtype), "scalar")


def onnx_dims(shape: Shape, prefix: str) -> list[int | str]:
    """Dimensions for a graph input or output: the batch is ``batch``, other open dimensions get their own name."""
    return [d if d is not None else ("batch" if index == 0 else f"{prefix}_dim{index}")
            for index, d in enumerate(shape)]
