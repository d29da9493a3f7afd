"""How close a runtime's outputs may be expected to come to the reference's: default tolerances.

Per output dtype, and looser for quantized weights; a runtime may loosen them
further for its own arithmetic (TF.js WebGL textures).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Defaults per kind of output; the report prints which one applied.
FLOAT32_TOLERANCE = (1e-5, 1e-5)


FLOAT16_TOLERANCE = (1e-3, 1e-3)


# Measured on the tutorial model: max abs error 1e-3 (float16), 8e-5 (uint16), 2.3e-2 (uint8).
# TFLite on the tutorial model's logits (range -9..13, 1000 digits): dynamic-range (int8 weights) needs
# atol 2e-2 at rtol 5e-2; full int8 (activations too) needs atol 0.31 at rtol 0.2, its worst digit clipped.
QUANTIZED_TOLERANCE = {"float16": (1e-2, 1e-2), "uint16": (1e-3, 1e-3), "uint8": (1e-1, 1e-1),
                       "dynamic": (5e-2, 5e-2), "int8": (5e-1, 2e-1)}


@dataclass(frozen=True)
class Tolerance:
    """An atol/rtol pair and where it came from (``default float32``, ``--atol/--rtol``, ``--tolerance``)."""

    atol: float
    rtol: float
    source: str

    def __str__(self) -> str:
        return f"atol {self.atol:.0e}, rtol {self.rtol:.0e}"


def default_tolerance(dtype: str, quantization: str | None = None) -> Tolerance:
    """The default tolerance for an output of ``dtype`` from a model with quantized weights or not.

    Float32 outputs get 1e-5/1e-5; float16 outputs 1e-3/1e-3; integer and bool
    outputs must match exactly. Weights quantized to float16 or uint16 loosen
    this to 1e-2/1e-2 (float16), 1e-3/1e-3 (uint16) or 1e-1/1e-1 (uint8);
    TFLite models with dynamic-range quantization (int8 weights) to 5e-2/5e-2,
    full int8 models (int8 activations too) to 5e-1/2e-1.
    """
    if quantization in QUANTIZED_TOLERANCE:
        atol, rtol = QUANTIZED_TOLERANCE[quantization]
        return Tolerance(atol, rtol, f"default for {quantization}-quantized weights")
    kind = np.dtype(dtype) if dtype else np.dtype("float32")
    if kind == np.float16:
        return Tolerance(*FLOAT16_TOLERANCE, "default float16")
    if np.issubdtype(kind, np.integer) or kind == np.bool_:
        return Tolerance(0.0, 0.0, f"default {kind.name} (exact)")
    return Tolerance(*FLOAT32_TOLERANCE, "default float32")
