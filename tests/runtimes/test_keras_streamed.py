"""A tf_keras whole-model .h5 loaded with its weights streamed: the same model, without twice its bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convkit.errors import ReadError
from convkit.runtimes.keras.tf_keras import load_tf_keras
from tests.runtimes.test_tfjs_loader import mixed_h5  # noqa: F401  (an LSTM, a constrained Conv1D, BN)


@pytest.mark.parametrize("model", ["tutorial", "mixed"])
def test_the_weights_and_predictions_are_tf_keras_own(model, trained_k2, mixed_h5):  # noqa: F811
    import tf_keras

    path = trained_k2 / "my_model.h5" if model == "tutorial" else mixed_h5
    streamed = load_tf_keras(path).model
    plain = tf_keras.models.load_model(path, compile=False)
    assert [w.name for w in streamed.weights] == [w.name for w in plain.weights]
    for ours, theirs in zip(streamed.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    shape = (5, *plain.inputs[0].shape[1:])
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    np.testing.assert_array_equal(streamed(x, training=False).numpy(), plain(x, training=False).numpy())


def test_no_initializer_runs_while_the_weights_come_from_the_file(trained_k2, monkeypatch):
    import tf_keras

    calls = []
    real = tf_keras.initializers.GlorotUniform.__call__
    monkeypatch.setattr(tf_keras.initializers.GlorotUniform, "__call__",
                        lambda self, *args, **kwargs: calls.append(args) or real(self, *args, **kwargs))
    load_tf_keras(trained_k2 / "my_model.h5")
    assert calls == []
    tf_keras.layers.Dense(3).build((None, 4))  # outside the load, initializers run as before
    assert len(calls) == 1


def test_a_file_missing_a_layer_is_refused_as_tf_keras_refuses_it(trained_k2, tmp_path):
    import h5py

    broken = tmp_path / "broken.h5"
    broken.write_bytes((trained_k2 / "my_model.h5").read_bytes())
    with h5py.File(broken, "r+") as handle:
        group = handle["model_weights"]
        names = list(group.attrs["layer_names"])
        group.attrs["layer_names"] = np.array(names[:-1], dtype="S")  # HDF5 keeps byte strings, as Keras writes
    with pytest.raises(ReadError, match="Layer count mismatch"):
        load_tf_keras(broken)


MEASURE = r"""
import json, sys
import numpy as np
from convkit.profile import _high_water
from convkit.runtimes.keras.tf_keras import load_tf_keras
small = load_tf_keras(sys.argv[1]); small.infer({small.inputs[0].name: np.zeros((2, 784), np.float32)})
small.release()
before = _high_water()
big = load_tf_keras(sys.argv[2])
big.infer({big.inputs[0].name: np.zeros((2, 2048), np.float32)})
print(json.dumps({"before": before, "after": _high_water()}))
"""


@pytest.mark.slow
def test_the_process_holds_the_model_once(trained_k2, tmp_path):
    # A fresh process: its high-water mark after a small model is its idle size; a 300 MB model raises it by
    # its bytes plus the transient copies of a few layers (the array read, the tensor made of it) that the
    # allocator keeps: 1.44x measured with 16 MiB layers (1.29x on the 1 GB model of bench/convert_bench.py,
    # whose target is 1.3x). tf_keras's own loader (every layer's arrays read before any is assigned, random
    # initial values first) needs about twice.
    import h5py

    rng = np.random.default_rng(0)
    widths = [2048] * 19
    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 2048], "dtype": "float32",
                                                       "name": "x"}}]
    layers += [{"class_name": "Dense", "config": {"name": f"d{i}", "units": 2048, "activation": "relu",
                                                  "dtype": "float32"}} for i in range(len(widths) - 1)]
    path = tmp_path / "big.h5"
    weights = 0
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = "2.19.0"
        h5.attrs["backend"] = "tensorflow"
        h5.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": layers}})
        group = h5.create_group("model_weights")
        group.attrs["layer_names"] = np.array([f"d{i}".encode() for i in range(len(widths) - 1)])
        for i in range(len(widths) - 1):
            layer = group.create_group(f"d{i}")
            layer.attrs["weight_names"] = np.array([f"d{i}/kernel:0".encode(), f"d{i}/bias:0".encode()])
            kernel = rng.standard_normal((2048, 2048), dtype=np.float32) * np.float32(2048 ** -0.5)
            layer.create_dataset(f"d{i}/kernel:0", data=kernel)
            layer.create_dataset(f"d{i}/bias:0", data=np.zeros(2048, np.float32))
            weights += kernel.nbytes + 2048 * 4
    done = subprocess.run([sys.executable, "-c", MEASURE, str(trained_k2 / "my_model.h5"), str(path)],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    raised = figures["after"] - figures["before"]
    assert raised <= 1.5 * weights, f"{raised / weights:.2f} x the weights"
