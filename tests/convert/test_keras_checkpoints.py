"""Checkpoints written by Keras itself as weights sources (``--like``): every layout either generation writes.

Keras 3 under ``tf.train.Checkpoint(model=m)`` tracks operations (``model/_functional/_operations/N/_kernel``
for a Sequential, ``model/_operations/N`` for a functional model), and with the optimizer beside it
(``Checkpoint(model=m, optimizer=o)``, ``CheckpointManager``) its trainable variables are stored under
``optimizer/_trainable_variables/K``; tf_keras' ``Checkpoint(model=m)`` puts ``layer_with_weights-N`` under
``model/``. Each model the tests build has weights other than its ``--like`` file's, so a conversion that
fell back to the architecture's own weights would not match.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from convkit import convert
from tests.convert.conftest import _randomize, assert_same_predictions

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md


def sequential_cnn(K: Any) -> Any:
    L = K.layers
    return K.Sequential([K.Input((8, 8, 2)), L.Conv2D(3, 3), L.BatchNormalization(), L.Dropout(0.1), L.Flatten(),
                         L.Dense(2)], name="cnn")


def functional_nested(K: Any) -> Any:
    """Two inputs, a nested Sequential with BatchNormalization, a merge without weights."""
    L = K.layers
    a, b = K.Input((4,), name="a"), K.Input((3,), name="b")
    inner = K.Sequential([K.Input((4,)), L.Dense(3), L.BatchNormalization()], name="inner")
    x = L.Concatenate()([inner(a), L.Dense(2, name="side")(b)])
    return K.Model([a, b], L.Dense(2, name="head")(x), name="nested")


def recurrent(K: Any) -> Any:
    """An LSTM's cell and a Bidirectional's forward and backward cells."""
    L = K.layers
    return K.Sequential([K.Input((5, 3)), L.LSTM(4, return_sequences=True), L.Bidirectional(L.GRU(3)), L.Dense(2)],
                        name="rnn")


def normalized(K: Any) -> Any:
    """An adapted Normalization first (EfficientNet's input layer): Keras 3 tracks its statistics as
    ``adapt_mean`` and ``adapt_variance``, the weights are ``mean`` and ``variance``."""
    L = K.layers
    return K.Sequential([K.Input((6,)), L.Normalization(), L.Dense(4), L.BatchNormalization(), L.Dense(2)],
                        name="normalized")


MODELS: dict[str, Callable[[Any], Any]] = {"cnn": sequential_cnn, "nested": functional_nested, "rnn": recurrent,
                                           "normalized": normalized}
LAYOUTS = ("checkpoint", "with_optimizer", "manager", "weights_h5")


def _inputs(model: Any) -> Any:
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(2, *tuple(i.shape[1:]))).astype("float32") for i in model.inputs]
    return arrays if len(arrays) > 1 else arrays[0]


def _train_a_step(K: Any, model: Any) -> Any:
    """A training step that moves no weight (learning rate 0), so that the optimizer has state to save."""
    optimizer = K.optimizers.Adam(0.0)
    model.compile(optimizer, "mse")
    model.fit(_inputs(model), np.zeros((2, *tuple(model.outputs[0].shape[1:])), "float32"), verbose=0)
    return optimizer


def _write(kind: str, model: Any, optimizer: Any, folder: Path) -> Path:
    """The checkpoint layout ``kind`` of ``model``; returns what a user passes to convert."""
    import tensorflow as tf

    if kind == "checkpoint":
        return Path(tf.train.Checkpoint(model=model).write(str(folder / "ckpt" / "model")))
    if kind == "with_optimizer":
        return Path(tf.train.Checkpoint(model=model, optimizer=optimizer).write(str(folder / "ckpt" / "model")))
    if kind == "manager":
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(model=model, optimizer=optimizer),
                                             str(folder / "managed"), max_to_keep=2)
        manager.save()
        manager.save()
        return folder / "managed"  # the folder: its state file names the latest checkpoint
    assert kind == "weights_h5"
    model.save_weights(folder / "model.weights.h5")
    return folder / "model.weights.h5"


def _sources(name: str, kind: str, folder: Path) -> tuple[Path, Path, Path]:
    """(Keras 3 weights source, --like file with other weights, truth: the model with the source's weights)."""
    import keras

    model = MODELS[name](keras)
    _randomize(model, 1)
    model.save(folder / "like.keras")
    optimizer = _train_a_step(keras, model) if kind in ("with_optimizer", "manager") else None
    _randomize(model, 2)
    model.save(folder / "truth.keras")
    return _write(kind, model, optimizer, folder), folder / "like.keras", folder / "truth.keras"


def _half_of_the_layouts() -> list[object]:
    """Every model with every layout; make test takes the pairs of one colour of a checkerboard (each model meets
    two layouts, each layout one or two models), the rest is slow (make test-all)."""
    return [pytest.param(name, kind, id=f"{name}-{kind}", marks=() if (row + column) % 2 == 0 else pytest.mark.slow)
            for row, name in enumerate(MODELS) for column, kind in enumerate(LAYOUTS)]


@pytest.mark.parametrize(("name", "kind"), _half_of_the_layouts())
def test_keras3_weights_files_read_into_the_architecture(name: str, kind: str, tmp_path: Path) -> None:
    """Every Keras 3 layout, read into the --like architecture, holds the source's weights (not like's)."""
    from convkit.runtimes.keras.load import load_keras_model

    source, like, truth = _sources(name, kind, tmp_path)
    import keras

    expected = keras.models.load_model(truth, compile=False)
    x = _inputs(expected)
    loaded = load_keras_model(source, like=like).model
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(expected(x)), rtol=1e-5, atol=1e-6)
    stale = keras.models.load_model(like, compile=False)
    assert not np.allclose(np.asarray(stale(x)), np.asarray(expected(x)), atol=1e-3)


@pytest.mark.node
@pytest.mark.parametrize(("name", "kind", "target"), [
    ("cnn", "checkpoint", "h5"), ("nested", "with_optimizer", "keras"), ("rnn", "manager", "tfjs"),
    ("normalized", "checkpoint", "tfjs"),
])
def test_keras3_checkpoints_convert_and_match(name: str, kind: str, target: str, tmp_path: Path) -> None:
    source, like, truth = _sources(name, kind, tmp_path)
    out = tmp_path / ("out." + target if target in ("h5", "keras") else "out")
    convert(source, target, out, like=like)
    assert_same_predictions(truth, out)


@pytest.mark.parametrize("name", ["nested", "rnn"])
def test_tf_keras_object_checkpoint_under_model(name: str, tmp_path: Path) -> None:
    """tf_keras in ``tf.train.Checkpoint(model=m)``: ``model/layer_with_weights-N``, a Keras 3 .keras as --like."""
    import keras
    import tensorflow as tf
    import tf_keras

    model = MODELS[name](tf_keras)
    _randomize(model, 2)
    model.save(tmp_path / "truth.h5")
    prefix = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt" / "model"))
    like = MODELS[name](keras)
    _randomize(like, 1)
    like.save(tmp_path / "like.keras")
    convert(prefix, "h5", tmp_path / "out.h5", like=tmp_path / "like.keras")
    assert_same_predictions(tmp_path / "truth.h5", tmp_path / "out.h5")


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.parametrize("target", ["h5", "keras", "savedmodel", "tfjs", "onnx", "tflite"])
@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("name", list(MODELS))
def test_every_keras3_layout_to_every_target(name: str, kind: str, target: str, tmp_path: Path) -> None:
    source, like, truth = _sources(name, kind, tmp_path)
    out = tmp_path / ("out." + target if target in ("h5", "keras", "onnx", "tflite") else "out")
    convert(source, target, out, like=like)
    assert_same_predictions(truth, out)
