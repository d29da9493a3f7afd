"""The binary files passed to and from the Node process: raw little-endian tensors plus a JSON header."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convkit.check.runners.tfjs import read_tensors, write_tensors
from convkit.errors import UsageError


def test_tensors_round_trip_as_raw_little_endian(tmp_path):
    tensors = [
        ("pixels", np.arange(12, dtype=np.float64).reshape(3, 4) / 7),
        ("tokens", np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int64)),
        ("mask", np.array([True, False, True])),
    ]
    write_tensors(tmp_path / "inputs.json", tensors)
    header = json.loads((tmp_path / "inputs.json").read_text())
    assert [entry["dtype"] for entry in header["tensors"]] == ["float32", "int32", "bool"]
    raw = (tmp_path / "inputs.json.bin").read_bytes()
    assert len(raw) == 12 * 4 + 6 * 4 + 3
    assert raw[:8] == np.array([0, 1 / 7], "<f4").tobytes()
    _, arrays = read_tensors(tmp_path / "inputs.json")
    np.testing.assert_array_equal(arrays["pixels"], tensors[0][1].astype(np.float32))
    np.testing.assert_array_equal(arrays["tokens"], tensors[1][1])
    np.testing.assert_array_equal(arrays["mask"], tensors[2][1])


def test_dtypes_tfjs_cannot_take_are_refused(tmp_path):
    with pytest.raises(UsageError, match="input 'text' has dtype"):
        write_tensors(tmp_path / "inputs.json", [("text", np.array(["a", "b"]))])
