"""Keras 2.2-era files: Keras 2.2.4 and TF 1.13's tf.keras (2.2.4-tf) ``.h5``, made in the tests from tf_keras
files rewritten to the old dialect (tests/convert/_old_keras.py).

The graph fallback builds a Keras 2 file in tf_keras, the generation that reads it, never in
Keras 3, which computes Keras 2's ``hard_sigmoid`` (the default gate of Keras 2.2 recurrent
layers) as another function: a ``.keras`` output of such a model is refused with that sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convkit import convert
from convkit.errors import ReadError
from tests.convert._old_keras import rewrite_h5
from tests.convert.conftest import _randomize, assert_same_predictions

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md


def _saved(model: Any, path: Path, version: str = "2.2.4", seed: int = 1) -> Path:
    _randomize(model, seed)
    model.save(path)
    return rewrite_h5(path, version)


def encoder_decoder(gate: str = "hard_sigmoid") -> Any:
    """The Keras 2.2 seq2seq tutorial's shape: two Embeddings, the decoder LSTM started from the encoder's states."""
    import tf_keras

    L = tf_keras.layers
    encoder_input = tf_keras.Input((None,), name="input_1")
    _, h, c = L.LSTM(16, return_state=True, recurrent_activation=gate, implementation=1, name="lstm_1")(
        L.Embedding(30, 8, mask_zero=True, name="embedding_1")(encoder_input))
    decoder_input = tf_keras.Input((None,), name="input_2")
    decoded = L.LSTM(16, return_sequences=True, recurrent_activation=gate, implementation=1, name="lstm_2")(
        L.Embedding(40, 8, mask_zero=True, name="embedding_2")(decoder_input), initial_state=[h, c])
    outputs = L.TimeDistributed(L.Dense(40, activation="softmax"), name="time_distributed_1")(decoded)
    return tf_keras.Model([encoder_input, decoder_input], outputs)


def test_the_old_dialect_is_what_keras_2_2_4_wrote(tmp_path: Path) -> None:
    import json

    import h5py

    src = _saved(encoder_decoder(), tmp_path / "m.h5")
    with h5py.File(src) as h5:
        config = json.loads(h5.attrs["model_config"])
        assert h5.attrs["keras_version"] == b"2.2.4" and h5.attrs["backend"] == b"tensorflow"
        assert json.loads(h5.attrs["training_config"])["optimizer_config"]["config"]["lr"] == 0.001
        assert h5["model_weights"]["lstm_1"].attrs["weight_names"].tolist() == [
            b"lstm_1/kernel:0", b"lstm_1/recurrent_kernel:0", b"lstm_1/bias:0"]
    layers = {layer["name"]: layer for layer in config["config"]["layers"]}
    assert config["class_name"] == "Model" and "module" not in json.dumps(config)
    assert layers["lstm_1"]["config"]["kernel_initializer"] == {
        "class_name": "VarianceScaling",
        "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
    assert "dtype" not in layers["lstm_1"]["config"] and layers["input_1"]["config"]["batch_input_shape"] == [None, None]


@pytest.mark.node
def test_keras_2_2_4_encoder_decoder(tmp_path: Path) -> None:
    src = _saved(encoder_decoder(), tmp_path / "m.h5")
    for target, out in (("tfjs", tmp_path / "tfjs"), ("h5", tmp_path / "copy.h5")):
        convert(src, target, out)
        assert_same_predictions(src, out)
    # Keras 3's hard_sigmoid is another function: a .keras would predict differently, so none is written
    with pytest.raises(ReadError, match="lstm_1.*hard_sigmoid.*relu6"):
        convert(src, "keras", tmp_path / "copy.keras")
    assert not (tmp_path / "copy.keras").exists()
    # with sigmoid gates the decoder's initial_state, which Keras 2 recorded as more inputs, goes to Keras 3
    sigmoid = _saved(encoder_decoder("sigmoid"), tmp_path / "sigmoid.h5")
    convert(sigmoid, "keras", tmp_path / "sigmoid.keras")
    assert_same_predictions(sigmoid, tmp_path / "sigmoid.keras")


@pytest.mark.node
def test_the_graph_fallback_builds_in_the_generation_that_reads_the_file(tmp_path: Path) -> None:
    """TF.js layers refuses the model when it runs it; the graph model is built in tf_keras, as Keras 2 computes."""
    import tf_keras

    L = tf_keras.layers
    model = tf_keras.Sequential([L.Dense(8, activation="hard_sigmoid", input_shape=(6,), name="dense_1"),
                                 L.ELU(alpha=0.5, name="elu_1"), L.Dense(3, name="dense_2")])
    src = _saved(model, tmp_path / "m.h5")
    result = convert(src, "tfjs", tmp_path / "tfjs")
    assert result.kind == "graph" and any("TF.js layers cannot run" in w for w in result.warnings), result.warnings
    assert_same_predictions(src, tmp_path / "tfjs")


@pytest.mark.node
def test_keras_2_2_4_tf_fine_tuned_mobilenet_v2_to_keras(tmp_path: Path) -> None:
    """A model nested in a model, its initializers recording their dtype as TF 1.13 wrote them."""
    import tf_keras

    from tests.convert.test_zoo import _zoo

    base = tf_keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.35)
    inputs = tf_keras.Input((32, 32, 3))
    x = tf_keras.layers.GlobalAveragePooling2D()(base(inputs))
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(3, activation="softmax")(x))
    _zoo().randomize(model, 1)  # BatchNormalization statistics, scales and biases other than fresh ones
    model.save(tmp_path / "m.h5")
    src = rewrite_h5(tmp_path / "m.h5", "2.2.4-tf")
    convert(src, "keras", tmp_path / "m.keras")
    assert_same_predictions(src, tmp_path / "m.keras")


@pytest.mark.node
def test_keras3_hard_sigmoid_gates_stay_keras3(tmp_path: Path) -> None:
    """The reverse: Keras 3 recurrent gates on its hard_sigmoid, which tf_keras computes differently. The .h5 is
    a file for Keras 3; the TF.js graph is Keras 3's, with the recurrent layer unrolled (TF.js cannot run its loop)."""
    import h5py
    import keras

    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, recurrent_activation="hard_sigmoid"),
                              keras.layers.Dense(2)])
    _randomize(model, 1)
    model.save(tmp_path / "m.keras")
    for target, out in (("h5", tmp_path / "m.h5"), ("tfjs", tmp_path / "tfjs")):
        convert(tmp_path / "m.keras", target, out)
        assert_same_predictions(tmp_path / "m.keras", out)
    with h5py.File(tmp_path / "m.h5") as h5:
        assert str(h5.attrs["keras_version"]).startswith("3")
