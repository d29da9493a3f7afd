"""Keras 2's ``CuDNNLSTM``/``CuDNNGRU`` (GPU-trained Keras 2.2 models) convert to ``LSTM``/``GRU`` with exact weights.

The ``.h5`` is made as Keras 2.2.4 wrote one: a tf_keras file in the old dialect
(tests/convert/_old_keras.py) whose recurrent layers are rewritten as cuDNN records (``CuDNNLSTM``'s
config keys, its weights in cuDNN's layout: per-gate blocks cuDNN reads as ``(units, input_dim)``
matrices, an input and a recurrent bias). The reference is computed here with numpy from cuDNN's
equations, independently of convkit's conversion.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convkit import convert
from tests.convert._old_keras import rewrite_h5

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md

STEPS, FEATURES, LSTM_UNITS, GRU_UNITS = 6, 3, 5, 4
_CUDNN_KEYS = ("name", "trainable", "units", "kernel_initializer", "recurrent_initializer", "bias_initializer",
               "kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer",
               "kernel_constraint", "recurrent_constraint", "bias_constraint", "return_sequences", "return_state",
               "go_backwards", "stateful")


def _cudnn_weights(rng: np.random.Generator, inputs: int, units: int, gates: int) -> list[np.ndarray]:
    """kernel, recurrent_kernel, bias as a Keras 2 cuDNN layer stores them (two biases)."""
    return [rng.normal(0, 0.4, (inputs, gates * units)).astype("float32"),
            rng.normal(0, 0.4, (units, gates * units)).astype("float32"),
            rng.normal(0, 0.4, (2 * gates * units,)).astype("float32")]


def cudnn_h5(path: Path, seed: int = 7) -> tuple[Path, dict[str, list[np.ndarray]]]:
    """Input (6, 3) -> CuDNNLSTM(5, return_sequences) -> CuDNNGRU(4) -> Dense(2), as Keras 2.2.4 saved it."""
    import h5py
    import tf_keras

    L = tf_keras.layers
    model = tf_keras.Sequential([
        L.LSTM(LSTM_UNITS, return_sequences=True, input_shape=(STEPS, FEATURES), name="cu_dnnlstm_1"),
        L.GRU(GRU_UNITS, reset_after=True, name="cu_dnngru_1"),
        L.Dense(2, name="dense_1"),
    ])
    model.save(path)
    rewrite_h5(path, "2.2.4")
    rng = np.random.default_rng(seed)
    weights = {"cu_dnnlstm_1": _cudnn_weights(rng, FEATURES, LSTM_UNITS, 4),
               "cu_dnngru_1": _cudnn_weights(rng, LSTM_UNITS, GRU_UNITS, 3),
               "dense_1": [rng.normal(0, 0.4, (GRU_UNITS, 2)).astype("float32"),
                           rng.normal(0, 0.4, (2,)).astype("float32")]}
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] in ("LSTM", "GRU"):
                body = layer["config"]
                layer["class_name"] = f"CuDNN{layer['class_name']}"
                layer["config"] = {key: body[key] for key in (*_CUDNN_KEYS, "batch_input_shape") if key in body}
                if layer["class_name"] == "CuDNNLSTM":
                    layer["config"]["unit_forget_bias"] = True
        h5.attrs["model_config"] = json.dumps(config).encode()
        group = h5["model_weights"]
        for name, values in weights.items():
            names = [n.decode() for n in group[name].attrs["weight_names"]]
            for weight_name, value in zip(names, values):
                del group[name][weight_name]
                group[name].create_dataset(weight_name, data=value)
    return path, weights


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _cudnn_matrices(kernel: np.ndarray, recurrent: np.ndarray, gates: int) -> tuple[list[Any], list[Any]]:
    # cuDNN takes each gate's block, in storage order, as a (units, in) matrix applied on the left
    units = recurrent.shape[0]
    w = [block.reshape(-1).reshape(units, -1) for block in np.split(kernel, gates, axis=1)]
    r = [block.reshape(-1).reshape(units, units) for block in np.split(recurrent, gates, axis=1)]
    return w, r


def _cudnn_lstm(x: np.ndarray, kernel: np.ndarray, recurrent: np.ndarray, bias: np.ndarray) -> list[np.ndarray]:
    """cuDNN's LSTM (gates i, f, c, o) over the steps of ``x``: its output at each step."""
    w, r = _cudnn_matrices(kernel, recurrent, 4)
    b_in, b_rec = np.split(bias.reshape(8, -1), 2)
    h = np.zeros((x.shape[0], recurrent.shape[0]))
    c = np.zeros_like(h)
    sequence = []
    for t in range(x.shape[1]):
        gate = [x[:, t] @ w[g].T + b_in[g] + h @ r[g].T + b_rec[g] for g in range(4)]
        c = _sigmoid(gate[1]) * c + _sigmoid(gate[0]) * np.tanh(gate[2])
        h = _sigmoid(gate[3]) * np.tanh(c)
        sequence.append(h)
    return sequence


def cudnn_reference(x: np.ndarray, weights: dict[str, list[np.ndarray]]) -> np.ndarray:
    """What the Keras 2 model computed on a GPU: cuDNN's LSTM (i, f, c, o), then its GRU (z, r, h), then Dense."""
    sequence = _cudnn_lstm(x, *weights["cu_dnnlstm_1"])
    kernel, recurrent, bias = weights["cu_dnngru_1"]
    w, r = _cudnn_matrices(kernel, recurrent, 3)
    b_in, b_rec = np.split(bias.reshape(6, -1), 2)
    h = np.zeros((x.shape[0], GRU_UNITS))
    for step in sequence:
        z = _sigmoid(step @ w[0].T + b_in[0] + h @ r[0].T + b_rec[0])
        reset = _sigmoid(step @ w[1].T + b_in[1] + h @ r[1].T + b_rec[1])
        candidate = np.tanh(step @ w[2].T + b_in[2] + reset * (h @ r[2].T + b_rec[2]))
        h = z * h + (1 - z) * candidate
    dense_kernel, dense_bias = weights["dense_1"]
    return h @ dense_kernel + dense_bias


def _predict(path: Path, x: np.ndarray) -> np.ndarray:
    if path.suffix == ".keras":
        import keras

        return np.asarray(keras.models.load_model(path, compile=False)(x))
    import tf_keras

    return np.asarray(tf_keras.models.load_model(path, compile=False)(x))


@pytest.mark.parametrize("target,name", [("h5", "copy.h5"), ("keras", "copy.keras")])
def test_cudnn_layers_convert_with_exact_weights(target: str, name: str, tmp_path: Path) -> None:
    src, weights = cudnn_h5(tmp_path / "m.h5")
    result = convert(src, target, tmp_path / name)
    cudnn_notes = [w for w in result.warnings if "CuDNN" in w]
    assert len(cudnn_notes) == 2 and "'cu_dnnlstm_1' is a CuDNNLSTM, read as the LSTM" in cudnn_notes[0], result.warnings
    assert "'cu_dnngru_1' is a CuDNNGRU, read as the GRU" in cudnn_notes[1] and "reset_after=True" in cudnn_notes[1]
    x = np.random.default_rng(1).normal(0, 1, (8, STEPS, FEATURES)).astype("float32")
    expected = cudnn_reference(x.astype("float64"), weights)
    np.testing.assert_allclose(_predict(tmp_path / name, x), expected, atol=2e-5, rtol=1e-4)


def test_the_reference_tells_the_layouts_apart(tmp_path: Path) -> None:
    """The comparison can fail: the same values taken as Keras' own layout (biases merged, kernels as stored)
    compute something else."""
    import tf_keras

    _, weights = cudnn_h5(tmp_path / "m.h5")
    L = tf_keras.layers
    naive = tf_keras.Sequential([L.LSTM(LSTM_UNITS, return_sequences=True, input_shape=(STEPS, FEATURES)),
                                 L.GRU(GRU_UNITS, reset_after=True), L.Dense(2)])
    lstm, gru = weights["cu_dnnlstm_1"], weights["cu_dnngru_1"]
    naive.set_weights([lstm[0], lstm[1], lstm[2][:20] + lstm[2][20:], gru[0], gru[1], gru[2].reshape(2, -1),
                       *weights["dense_1"]])
    x = np.random.default_rng(1).normal(0, 1, (8, STEPS, FEATURES)).astype("float32")
    assert np.abs(np.asarray(naive(x)) - cudnn_reference(x.astype("float64"), weights)).max() > 1e-2


def bidirectional_cudnn_h5(path: Path, seed: int = 3) -> tuple[Path, list[np.ndarray]]:
    """Input (6, 3) -> Bidirectional(CuDNNLSTM(5)) -> Dense(2), as Keras 2.2.4 saved it: the wrapper's weights
    are both directions' cuDNN weights, forward first."""
    import h5py
    import tf_keras

    L = tf_keras.layers
    model = tf_keras.Sequential([
        L.Bidirectional(L.LSTM(LSTM_UNITS, name="cu_dnnlstm_1"), input_shape=(STEPS, FEATURES), name="bidirectional_1"),
        L.Dense(2, name="dense_1"),
    ])
    model.save(path)
    rewrite_h5(path, "2.2.4")
    rng = np.random.default_rng(seed)
    values = [*_cudnn_weights(rng, FEATURES, LSTM_UNITS, 4), *_cudnn_weights(rng, FEATURES, LSTM_UNITS, 4),
              rng.normal(0, 0.4, (2 * LSTM_UNITS, 2)).astype("float32"), rng.normal(0, 0.4, (2,)).astype("float32")]
    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "Bidirectional":
                inner = layer["config"]["layer"]
                inner["class_name"] = "CuDNNLSTM"
                inner["config"] = {key: inner["config"][key] for key in _CUDNN_KEYS if key in inner["config"]}
                inner["config"]["unit_forget_bias"] = True
        h5.attrs["model_config"] = json.dumps(config).encode()
        group = h5["model_weights"]
        stored = [(name, weight_name) for name in ("bidirectional_1", "dense_1")
                  for weight_name in (n.decode() for n in group[name].attrs["weight_names"])]
        assert len(stored) == len(values), stored
        for (name, weight_name), value in zip(stored, values):
            del group[name][weight_name]
            group[name].create_dataset(weight_name, data=value)
    return path, values


def test_a_bidirectional_cudnn_lstm_converts_both_directions(tmp_path: Path) -> None:
    src, values = bidirectional_cudnn_h5(tmp_path / "m.h5")
    result = convert(src, "keras", tmp_path / "copy.keras")
    assert any("'cu_dnnlstm_1' inside 'bidirectional_1' is a CuDNNLSTM" in w for w in result.warnings), result.warnings
    x = np.random.default_rng(2).normal(0, 1, (8, STEPS, FEATURES)).astype("float32")
    forward = _cudnn_lstm(x.astype("float64"), *values[0:3])[-1]
    backward = _cudnn_lstm(x[:, ::-1].astype("float64"), *values[3:6])[-1]
    expected = np.concatenate([forward, backward], axis=1) @ values[6] + values[7]
    np.testing.assert_allclose(_predict(tmp_path / "copy.keras", x), expected, atol=2e-5, rtol=1e-4)
    convert(src, "h5", tmp_path / "copy.h5")
    np.testing.assert_allclose(_predict(tmp_path / "copy.h5", x), expected, atol=2e-5, rtol=1e-4)
