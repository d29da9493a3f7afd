"""The binary files passed to and from the Node process: raw little-endian tensors plus a JSON header."""

from __future__ import annotations

import json

import numpy as np
import pytest

from convkit.errors import UsageError
from convkit.runtimes.tfjs.protocol import read_tensors, write_tensors


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


@pytest.mark.node
@pytest.mark.parametrize("case", ["tfjs_shard_symlink", "tfjs_paths_absolute", "tfjs_paths_dotdot"])
def test_the_node_script_itself_refuses_shards_outside_the_folder(case, tmp_path):
    # The Python side vets shards first; the Node script checks again on its own.
    import subprocess
    from pathlib import Path

    from convkit.runtimes.tfjs.install import find_node_root
    from convkit.runtimes.tfjs.node import RUNNER_SCRIPT

    model_json = Path(__file__).resolve().parents[2] / "fixtures" / "hostile" / "cases" / case / "model.json"
    write_tensors(tmp_path / "inputs.json", [("x", np.zeros((1, 4), np.float32))])
    done = subprocess.run(
        ["node", str(RUNNER_SCRIPT), str(model_json), str(tmp_path / "inputs.json"), str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=120, env={"CONVKIT_NODE_ROOT": str(find_node_root()), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "convkit-tfjs-error:" in done.stderr
    assert "leaves the model folder" in done.stderr or "not a regular file inside the model folder" in done.stderr
    assert not (tmp_path / "out.json").exists()
