from __future__ import annotations

import numpy as np
import pytest

from convkit.check.compare import compare_output
from convkit.runtimes.precision import Tolerance, default_tolerance

FLOAT32 = default_tolerance("float32")


def _logits(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 5, (50, 10)).astype(np.float32)


def test_identical_outputs_pass_with_zero_error_and_full_top1():
    ref = _logits()
    result = compare_output("dense_1", ref, ref.copy(), FLOAT32)
    assert result.passed
    assert result.max_abs == 0 and result.mean_rel == 0 and result.needed_atol == 0
    assert result.top1_agreement == 1.0 and result.top1_agree == 50


def test_one_value_off_by_1e_3_fails_and_states_the_size():
    ref = _logits()
    other = ref.copy()
    other[7, 3] += np.float32(1e-3)
    result = compare_output("dense_1", ref, other, FLOAT32)
    assert not result.passed and result.mismatched == 1 and result.size == 500
    assert result.max_abs == pytest.approx(1e-3, rel=1e-2)
    assert result.needed_atol == pytest.approx(1e-3 - 1e-5 * abs(float(ref[7, 3])), rel=1e-2)
    line = result.describe_failure()
    assert line.startswith("output dense_1: max abs error 0.001")


def test_the_needed_tolerances_are_the_smallest_that_pass():
    ref = _logits(1)
    other = ref + np.random.default_rng(2).normal(0, 1e-4, ref.shape).astype(np.float32)
    result = compare_output("y", ref, other, FLOAT32)
    assert not result.passed
    assert compare_output("y", ref, other, Tolerance(result.needed_atol * 1.0001, FLOAT32.rtol, "t")).passed
    assert not compare_output("y", ref, other, Tolerance(result.needed_atol * 0.99, FLOAT32.rtol, "t")).passed
    assert compare_output("y", ref, other, Tolerance(FLOAT32.atol, result.needed_rtol * 1.0001, "t")).passed


def test_shape_nan_and_missing_outputs_fail_with_a_reason():
    ref = _logits()
    assert "shape [50, 5]" in compare_output("y", ref, ref[:, :5], FLOAT32).reason
    with_nan = ref.copy()
    with_nan[0, 0] = np.nan
    nan_result = compare_output("y", ref, with_nan, FLOAT32)
    assert not nan_result.passed and "NaN" in nan_result.reason
    assert compare_output("y", with_nan, with_nan.copy(), FLOAT32).passed  # NaN where the reference has NaN
    missing = compare_output("y", ref, None, FLOAT32)
    assert not missing.passed and missing.reason == "missing from the copy"


def test_relative_error_skips_zero_reference_values_but_abs_error_still_counts():
    ref = np.zeros((4, 3), np.float32)
    other = ref.copy()
    other[1, 1] = 1e-3
    result = compare_output("y", ref, other, FLOAT32)
    assert not result.passed and result.max_rel == 0 and result.needed_rtol is None
    assert result.to_dict()["needed_rtol"] is None


def test_top1_disagreement_is_counted():
    ref = np.array([[0, 1], [1, 0], [0, 1]], np.float32)
    other = np.array([[0, 1], [0, 1], [0, 1]], np.float32)
    result = compare_output("y", ref, other, FLOAT32)
    assert result.top1_agree == 2 and result.top1_agreement == pytest.approx(2 / 3)


def test_default_tolerances_by_dtype_and_quantization():
    assert (FLOAT32.atol, FLOAT32.rtol) == (1e-5, 1e-5)
    assert default_tolerance("float16").atol == 1e-3
    assert default_tolerance("int32").atol == 0 and "exact" in default_tolerance("int32").source
    uint8 = default_tolerance("float32", "uint8")
    assert uint8.atol == 1e-1 and "uint8-quantized" in uint8.source
    assert default_tolerance("float32", "float16").atol == 1e-2
