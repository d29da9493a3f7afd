"""Plain tensors: what a model takes and gives (TensorSpec), element counts, dtype sizes, value statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

DTYPE_SIZES = {
    "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2,
    "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "complex64": 8, "complex128": 16,
}


def count(shape: Any) -> int:
    """Number of elements of a tensor of ``shape`` (1 for a scalar)."""
    total = 1
    for dim in shape or ():
        total *= int(dim)
    return total


def tensor_stats(array: Any) -> dict[str, Any] | None:
    """min, max, mean, std, NaN/Inf counts and zeros of a numeric array; None for strings."""
    import numpy as np

    array = np.asarray(array)
    if array.dtype == object or array.dtype.kind in "SUV":
        return None
    # Flatten first: a header may declare [0, 2**40], no elements but more than numpy can re-type.
    array = array.reshape(-1)
    if array.dtype.kind == "b":
        array = array.astype(np.uint8)
    if array.dtype.kind == "c":
        array = np.abs(array)
    values = array.astype(np.float64, copy=False).reshape(-1)
    nan = int(np.isnan(values).sum())
    inf = int(np.isinf(values).sum())
    finite = values[np.isfinite(values)] if nan or inf else values
    if finite.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "nan": nan, "inf": inf, "zeros": 0}
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "nan": nan,
        "inf": inf,
        "zeros": int(finite.size - np.count_nonzero(finite)),
    }


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output.

    Attributes:
        name: the name the model's own runtime uses for it (``dense_input``,
            ``keras_tensor``, ``output_0``).
        shape: dimensions, ``None`` where any size is accepted (the batch).
        dtype: numpy dtype name (``float32``, ``int32``).
        int_high: for integer inputs, one past the largest valid value when the
            model says (the vocabulary size of the embedding that reads it).
        quantization: ``(scale, zero_point)`` when the tensor holds the float values of the
            model it was converted from as integers, ``round(x / scale) + zero_point`` (a TFLite
            model with ``--io-type int8``/``uint8``); None: it holds the values themselves.
        axes: when the tensor is the converted-from model's tensor transposed (a channels-first
            input of an ONNX copy), the permutation: this tensor is ``source.transpose(axes)``;
            None: same layout.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"
    int_high: int | None = None
    quantization: tuple[float, int] | None = None
    axes: tuple[int, ...] | None = None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


def shape_tuple(dims: Sequence[object] | None) -> tuple[int | None, ...]:
    """Dimensions as ints, with ``None`` for unknown ones (``-1``, ``None``, ``?``)."""
    if dims is None:
        return ()
    result: list[int | None] = []
    for dim in dims:
        value = getattr(dim, "value", dim)
        if value is None:
            result.append(None)
            continue
        number = int(value)  # type: ignore[call-overload]  # a Dimension, int or numeric string
        result.append(None if number < 0 else number)
    return tuple(result)
