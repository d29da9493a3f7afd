from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit.cli.main import app

runner = CliRunner()


@pytest.mark.models  # a second training run (12 s): with the real-model tier (make test-models, CI)
def test_same_seed_gives_identical_weights_and_json_on_stdout(trained_k3, tmp_path):
    """The CLI run, with the seed and epochs of the ``trained_k3`` folder (trained through the API in another
    process, or an earlier run), makes the same evaluations, weights and checkpoint bytes."""
    import h5py

    from tests.conftest import SHORT_EPOCHS

    epochs = ",".join(map(str, SHORT_EPOCHS))
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "a"), "--epochs-per-stage", epochs, "--seed", "0",
                                 "--json"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    earlier = json.loads((trained_k3 / "train.json").read_text())
    assert output["seed"] == earlier["seed"] == 0 and output["keras"] == earlier["keras"] == 3
    assert output["evaluations"] == earlier["evaluations"]
    with h5py.File(tmp_path / "a" / "my_model.h5") as a, h5py.File(trained_k3 / "my_model.h5") as b:
        names: list[str] = []
        a.visititems(lambda name, node: names.append(name) if isinstance(node, h5py.Dataset) else None)
        assert any(name.endswith("kernel") for name in names)
        for name in names:
            np.testing.assert_array_equal(a[name][()], b[name][()])
    assert (tmp_path / "a" / "training_1" / "cp.ckpt.data-00000-of-00001").read_bytes() == (
        trained_k3 / "training_1" / "cp.ckpt.data-00000-of-00001"
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
