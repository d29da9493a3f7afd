"""Data in a model's own number type and layout, and back: quantized and channels-first tensors.

A converted copy may take its inputs other than the model it came from did: as
integers (a TFLite model with ``--io-type int8``/``uint8`` takes
``round(x / scale) + zero_point``) or transposed (an ONNX copy with ``--nchw``
takes ``[N, C, H, W]`` where the source took ``[N, H, W, C]``). Its runner
states so on its :class:`~convkit.containers.tensors.TensorSpec`
(``quantization``, ``axes``). Data is made for the tensor as the source model
had it (:func:`logical`), fed through :func:`to_model`, and outputs come back
through :func:`from_model`, so every copy is compared in the reference's space.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from convkit.containers.tensors import TensorSpec
from convkit.data.samples import numpy_dtype


def inverse(axes: Sequence[int]) -> tuple[int, ...]:
    """The permutation that undoes ``axes``."""
    return tuple(int(axis) for axis in np.argsort(axes))


def logical(spec: TensorSpec) -> TensorSpec:
    """``spec`` as the model it was converted from had it: float values, that model's layout."""
    if spec.quantization is None and spec.axes is None:
        return spec
    shape = spec.shape
    if spec.axes is not None and len(spec.axes) == len(shape):
        shape = tuple(shape[axis] for axis in inverse(spec.axes))
    dtype = "float32" if spec.quantization is not None else spec.dtype
    return dataclasses.replace(spec, shape=shape, dtype=dtype, quantization=None, axes=None)


def to_model(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """``array`` (made for :func:`logical` of ``spec``) as the model takes it: transposed, quantized, cast."""
    if spec.axes is not None and array.ndim == len(spec.axes):
        array = np.ascontiguousarray(array.transpose(spec.axes))
    dtype = numpy_dtype(spec.dtype)
    if spec.quantization is not None and dtype.kind in "iu":
        scale, zero_point = spec.quantization
        info = np.iinfo(dtype)
        quantized = np.round(array.astype(np.float64) / scale) + zero_point
        return np.clip(quantized, info.min, info.max).astype(dtype)
    return array.astype(dtype, copy=False)


def from_model(array: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """An output ``array`` of the tensor ``spec`` as the model it was converted from gives it: dequantized, in
    that model's layout."""
    array = np.asarray(array)
    if spec.quantization is not None and array.dtype.kind in "iu":
        scale, zero_point = spec.quantization
        array = ((array.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
    if spec.axes is not None and array.ndim == len(spec.axes):
        array = np.ascontiguousarray(array.transpose(inverse(spec.axes)))
    return array


def adaptations(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> list[str]:
    """One note per quantized or transposed tensor, for the report (``input image: uint8, fed quantized ...``)."""
    notes = []
    for role, specs, verb in (("input", inputs, "fed"), ("output", outputs, "compared")):
        for spec in specs:
            done = []
            if spec.quantization is not None:
                scale, zero_point = spec.quantization
                done.append(f"{'quantized' if role == 'input' else 'dequantized'} (scale {scale:.3g}, "
                            f"zero point {zero_point})")
            if spec.axes is not None:
                done.append(f"{'transposed' if role == 'input' else 'transposed back'} {list(spec.axes)}")
            if done:
                notes.append(f"{role} {spec.name} is {spec.dtype} {list(spec.shape)}: {verb} {' and '.join(done)}")
    return notes
