from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from convkit.cli.main import app

runner = CliRunner()


def test_same_seed_gives_identical_weights_and_json_on_stdout(tmp_path):
    import h5py

    outputs = []
    for name in ("a", "b"):
        result = runner.invoke(
            app, ["train", "--out", str(tmp_path / name), "--epochs-per-stage", "1,5,1", "--seed", "7", "--json"]
        )
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(result.stdout))
    assert outputs[0]["seed"] == 7 and outputs[0]["keras"] == 3
    assert outputs[0]["evaluations"] == outputs[1]["evaluations"]
    with h5py.File(tmp_path / "a" / "my_model.h5") as a, h5py.File(tmp_path / "b" / "my_model.h5") as b:
        names: list[str] = []
        a.visititems(lambda name, node: names.append(name) if isinstance(node, h5py.Dataset) else None)
        assert any(name.endswith("kernel") for name in names)
        for name in names:
            np.testing.assert_array_equal(a[name][()], b[name][()])
    assert (tmp_path / "a" / "training_1" / "cp.ckpt.data-00000-of-00001").read_bytes() == (
        tmp_path / "b" / "training_1" / "cp.ckpt.data-00000-of-00001"
    ).read_bytes()


def test_bad_epoch_list_is_one_error_line(tmp_path):
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "x"), "--epochs-per-stage", "10,3"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --epochs-per-stage takes three positive epoch counts")
    assert "Traceback" not in result.output


def test_bad_data_file_is_one_error_line(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"not a zip at all")
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "x"), "--data", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"Error: {bad}: cannot read MNIST data")
