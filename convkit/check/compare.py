"""The comparator: one output of a copy against the same output of the reference.

Per output it measures max and mean absolute and relative error, decides
``allclose`` (``|other - ref| <= atol + rtol * |ref|`` everywhere), states the
smallest atol (at the rtol in use) and rtol (at the atol in use) that would have
passed, and for classifier outputs ([N, classes]) how often top-1 agrees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convkit.runtimes.precision import Tolerance


@dataclass(frozen=True)
class OutputComparison:
    """One output of one copy against the reference.

    Attributes:
        output: the reference's output name.
        other_output: the copy's name for it (differs across runtimes).
        passed: allclose held for every element (and shapes agreed).
        max_abs, mean_abs: absolute error ``|other - ref|``.
        max_rel, mean_rel: relative error ``|other - ref| / |ref|`` over elements where ref is not 0.
        needed_atol: the smallest atol that passes at this rtol.
        needed_rtol: the smallest rtol that passes at this atol (``None`` when no rtol can, as where ref is 0).
        mismatched: elements outside the tolerance, of ``size``.
        top1_agreement: share of samples whose argmax agrees (``None`` unless [N, classes>1]).
        reason: why it failed when not a numeric difference (shape, missing output, NaN).
    """

    output: str
    other_output: str
    passed: bool
    atol: float
    rtol: float
    tolerance_source: str
    shape: tuple[int, ...]
    other_shape: tuple[int, ...] | None
    max_abs: float | None = None
    mean_abs: float | None = None
    max_rel: float | None = None
    mean_rel: float | None = None
    needed_atol: float | None = None
    needed_rtol: float | None = None
    mismatched: int = 0
    size: int = 0
    top1_agreement: float | None = None
    top1_agree: int | None = None
    reason: str | None = None

    def describe_failure(self) -> str:
        """One line naming the output and the size of the difference."""
        name = self.output if self.output == self.other_output else f"{self.output} ({self.other_output})"
        if self.reason:
            return f"output {name}: {self.reason}"
        text = (
            f"output {name}: max abs error {self.max_abs:.3g} (mean {self.mean_abs:.3g}), "
            f"max rel error {self.max_rel:.3g}; {self.mismatched} of {self.size} values outside "
            f"atol {self.atol:g} + rtol {self.rtol:g}"
        )
        if self.needed_atol is not None:
            text += f"; passing needs atol >= {self.needed_atol:.3g}"
        if self.top1_agreement is not None:
            text += f"; top-1 agrees on {self.top1_agreement:.1%}"
        return text

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "output": self.output,
            "other_output": self.other_output,
            "passed": self.passed,
            "atol": self.atol,
            "rtol": self.rtol,
            "tolerance_source": self.tolerance_source,
            "shape": list(self.shape),
            "other_shape": list(self.other_shape) if self.other_shape is not None else None,
            "max_abs": self.max_abs,
            "mean_abs": self.mean_abs,
            "max_rel": self.max_rel,
            "mean_rel": self.mean_rel,
            "needed_atol": self.needed_atol,
            "needed_rtol": self.needed_rtol,
            "mismatched": self.mismatched,
            "size": self.size,
            "top1_agreement": self.top1_agreement,
            "top1_agree": self.top1_agree,
            "reason": self.reason,
        }
        for key, value in data.items():
            if isinstance(value, float) and not np.isfinite(value):
                data[key] = None if np.isnan(value) else ("inf" if value > 0 else "-inf")
        return data


def compare_output(
    name: str,
    reference: np.ndarray,
    other: np.ndarray | None,
    tolerance: Tolerance,
    *,
    other_name: str | None = None,
) -> OutputComparison:
    """Compares ``other`` with ``reference`` under ``tolerance``; ``other`` ``None`` means the output is missing."""
    reference = np.asarray(reference)
    common: dict[str, Any] = dict(
        output=name,
        other_output=other_name or name,
        atol=tolerance.atol,
        rtol=tolerance.rtol,
        tolerance_source=tolerance.source,
        shape=tuple(int(d) for d in reference.shape),
        size=int(reference.size),
    )
    if other is None:
        return OutputComparison(passed=False, other_shape=None, reason="missing from the copy", **common)
    other = np.asarray(other)
    if other.shape != reference.shape:
        return OutputComparison(
            passed=False,
            other_shape=tuple(int(d) for d in other.shape),
            reason=f"shape {list(other.shape)} differs from the reference's {list(reference.shape)}",
            **common,
        )
    ref64 = reference.astype(np.float64)
    other64 = other.astype(np.float64)
    both_nan = np.isnan(ref64) & np.isnan(other64)
    difference = np.where(both_nan, 0.0, np.abs(other64 - ref64))
    difference = np.where(np.isnan(difference), np.inf, difference)
    magnitude = np.abs(ref64)
    limit = tolerance.atol + tolerance.rtol * magnitude
    outside = difference > limit
    nonzero = magnitude > 0
    relative = difference[nonzero] / magnitude[nonzero]
    max_abs = float(difference.max()) if difference.size else 0.0
    slack_atol = difference - tolerance.rtol * magnitude
    needed_atol = max(0.0, float(slack_atol.max())) if difference.size else 0.0
    if np.any(~nonzero & (difference > tolerance.atol)):
        needed_rtol = None
    else:
        needed_rtol = max(0.0, float(((difference[nonzero] - tolerance.atol) / magnitude[nonzero]).max())) if relative.size else 0.0
    top1_agreement = top1_agree = None
    if reference.ndim == 2 and reference.shape[1] > 1 and np.issubdtype(reference.dtype, np.floating):
        agree = np.argmax(ref64, axis=1) == np.argmax(np.nan_to_num(other64, nan=-np.inf), axis=1)
        top1_agree = int(agree.sum())
        top1_agreement = float(agree.mean()) if agree.size else 1.0
    reason = None
    if np.isnan(other64).any() and not np.isnan(ref64).any():
        reason_text = f"NaN in {int(np.isnan(other64).sum())} values the reference has as numbers"
        reason = reason_text
    return OutputComparison(
        passed=not bool(outside.any()),
        other_shape=tuple(int(d) for d in other.shape),
        max_abs=max_abs,
        mean_abs=float(difference.mean()) if difference.size else 0.0,
        max_rel=float(relative.max()) if relative.size else 0.0,
        mean_rel=float(relative.mean()) if relative.size else 0.0,
        needed_atol=needed_atol,
        needed_rtol=needed_rtol,
        mismatched=int(outside.sum()),
        top1_agreement=top1_agreement,
        top1_agree=top1_agree,
        reason=reason,
        **common,
    )
