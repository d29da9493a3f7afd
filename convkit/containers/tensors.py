"""Plain tensors as containers store them: element counts, dtype sizes, value statistics."""

from __future__ import annotations

from typing import Any

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
    """min, max, mean, std and NaN/Inf counts of a numeric array; None for strings."""
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
        return {"min": None, "max": None, "mean": None, "std": None, "nan": nan, "inf": inf}
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "nan": nan,
        "inf": inf,
    }
