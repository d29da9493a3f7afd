"""Models beyond the tutorial's MLP, in both Keras generations, for the conversion matrix.

Each builder makes a small model with random weights (moving statistics
included, so BatchNormalization really computes something) and saves it the
way users do: Keras 3 as ``.keras`` + ``.h5`` + ``export()`` SavedModel,
tf_keras as ``.h5`` + Keras SavedModel + checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")


def _randomize(model: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if "float" not in str(getattr(variable.dtype, "name", variable.dtype)):
            continue  # an adapted Normalization's sample count
        value = rng.normal(0.0, 0.3, size=tuple(variable.shape)).astype("float32")
        if "variance" in str(getattr(variable, "path", variable.name)).rpartition("/")[2]:
            value = np.abs(value) + 0.5
        variable.assign(value)


def cnn(K: Any) -> Any:
    L = K.layers
    return K.Sequential([
        K.Input((12, 12, 1)), L.Conv2D(4, 3, activation="relu"), L.BatchNormalization(),
        L.MaxPooling2D(), L.Flatten(), L.Dense(10),
    ], name="cnn")


def two_io(K: Any) -> Any:
    """Functional, two inputs and two outputs, with a nested functional model."""
    L = K.layers
    inner_in = K.Input((8,), name="inner_in")
    inner = K.Model(inner_in, L.Dense(6, activation="tanh", name="inner_dense")(inner_in), name="inner")
    a = K.Input((8,), name="a")
    b = K.Input((5,), name="b")
    x = inner(a)
    y = L.Dense(6, name="b_dense")(b)
    first = L.Dense(3, name="first")(L.Concatenate(name="cat")([x, y]))
    second = L.Dense(2, activation="sigmoid", name="second")(L.Add(name="add")([x, y]))
    return K.Model([a, b], [first, second], name="two_io")


def recurrent(K: Any, reset_after: bool) -> Any:
    L = K.layers
    return K.Sequential([
        K.Input((7,), dtype="int32"), L.Embedding(30, 8), L.LSTM(6, return_sequences=True),
        L.GRU(5, reset_after=reset_after), L.Dense(3),
    ], name="rnn")


BUILDERS: dict[str, Callable[[Any], Any]] = {
    "cnn": cnn,
    "two_io": two_io,
    "rnn": lambda K: recurrent(K, reset_after=True),
    "rnn_v2": lambda K: recurrent(K, reset_after=False),
}


def _save_k3(name: str, folder: Path) -> Path:
    import keras

    model = BUILDERS[name](keras)
    _randomize(model, 3)
    model.save(folder / f"{name}.keras")
    model.save(folder / f"{name}.h5")
    model.save_weights(folder / f"{name}.weights.h5")
    return folder


def _save_k2(name: str, folder: Path) -> Path:
    import tf_keras

    model = BUILDERS[name](tf_keras)
    _randomize(model, 2)
    model.save(folder / f"{name}.h5")
    model.save_weights(folder / f"{name}_weights.h5")
    model.save_weights(str(folder / f"{name}_ckpt" / "ckpt"))
    return folder


@pytest.fixture(scope="session")
def zoo_k3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Keras 3 files of every model in BUILDERS: NAME.keras, NAME.h5, NAME.weights.h5."""
    folder = tmp_path_factory.mktemp("zoo_k3")
    for name in BUILDERS:
        _save_k3(name, folder)
    return folder


@pytest.fixture(scope="session")
def zoo_k2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tf_keras files of every model in BUILDERS: NAME.h5, NAME_weights.h5, NAME_ckpt/ckpt."""
    folder = tmp_path_factory.mktemp("zoo_k2")
    for name in BUILDERS:
        _save_k2(name, folder)
    return folder


@pytest.fixture(scope="session")
def k2_saved_model(zoo_k2: Path) -> Path:
    """A legacy tf_keras SavedModel (with keras_metadata.pb) of the CNN."""
    import tf_keras

    out = zoo_k2 / "cnn_savedmodel"
    if not out.exists():
        tf_keras.models.load_model(zoo_k2 / "cnn.h5", compile=False).save(str(out), save_format="tf")
    return out


@pytest.fixture(scope="session")
def lambda_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tf_keras .h5 whose model holds a Lambda layer (Python bytecode in the file)."""
    import tf_keras

    path = tmp_path_factory.mktemp("unsafe") / "lambda.h5"
    model = tf_keras.Sequential([
        tf_keras.Input((4,)), tf_keras.layers.Dense(3), tf_keras.layers.Lambda(lambda t: t * 2.0),
    ])
    model.save(path)
    return path


def assert_same_predictions(src: Path, out: Path, like: Path | None = None) -> dict[str, Any]:
    """Runs convkit's equivalence check (each model in its own runtime, TF.js under Node)."""
    from convkit.check import check

    report = check(src, [out], like=like, random=16)
    document = report.to_dict()
    assert report.passed, document
    return document
