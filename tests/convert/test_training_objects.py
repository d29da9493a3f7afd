"""What only training uses never stops an inference conversion: losses named as functions, custom optimizers.

Keras 3 writes a loss or metric compiled as a function as a ``builtins`` function record and
resolves it by name among its own; such a record is data when the name is one of Keras'
own (decided from the installed Keras' public API files, never by importing what the file
names). A custom optimizer (TensorFlow Addons' ``Addons>RectifiedAdam``) is code, but only
training runs it: the training configuration is dropped with a warning, and only code the
forward pass needs is refused.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from convkit import convert
from convkit.errors import UnsafeModelError
from convkit.policy.code import code_objects
from tests.convert.conftest import _randomize, assert_same_predictions

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md

ADDONS_OPTIMIZER = {"module": "tensorflow_addons.optimizers.rectified_adam", "class_name": "RectifiedAdam",
                    "config": {"name": "RectifiedAdam", "learning_rate": 0.001, "total_steps": 0},
                    "registered_name": "Addons>RectifiedAdam"}


def _function(name: str) -> dict:
    return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}


def test_keras_own_functions_by_name_are_data() -> None:
    assert code_objects({"loss": _function("sparse_categorical_crossentropy"),
                         "metrics": [_function("sparse_categorical_accuracy")],
                         "activation": _function("relu")}) == []
    for name in ("my_loss", "get", "deserialize", "os.system", "__import__"):
        found = code_objects({"loss": _function(name)})
        assert [item.class_name for item in found] == ["function"], name


def test_the_allowlist_is_read_without_importing_keras() -> None:
    import subprocess
    import sys

    probe = ("import sys; from convkit.policy.code import keras_function_names; "
             "names = keras_function_names(); print(len(names), 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    count, imported = done.stdout.split()
    assert int(count) > 50 and imported == "False"


@pytest.mark.node
def test_loss_compiled_as_a_keras_function_converts(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3)])
    model.compile("adam", loss=keras.losses.sparse_categorical_crossentropy,
                  metrics=[keras.metrics.sparse_categorical_accuracy])
    _randomize(model, 1)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert json.loads(archive.read("config.json"))["compile_config"]["loss"] == \
            _function("sparse_categorical_crossentropy")
    for target, out in (("tfjs", tmp_path / "tfjs"), ("h5", tmp_path / "m.h5")):
        convert(tmp_path / "m.keras", target, out)
        assert_same_predictions(tmp_path / "m.keras", out)

    def own_loss(y_true, y_pred):  # a function of the user's own: code, which only training runs
        return keras.ops.mean(y_pred)

    model.compile("adam", loss=own_loss)
    model.save(tmp_path / "own.keras")
    result = convert(tmp_path / "own.keras", "h5", tmp_path / "own.h5")
    assert any("function 'own_loss'" in warning for warning in result.warnings), result.warnings


def _with_addons_optimizer(archive_path: Path) -> None:
    """Rewrites a tf_keras .keras archive's optimizer as TensorFlow Addons writes RectifiedAdam (tf.keras 2.15)."""
    with zipfile.ZipFile(archive_path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["compile_config"]["optimizer"] = ADDONS_OPTIMIZER
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(archive_path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.node
def test_custom_optimizer_is_dropped_with_the_training_configuration(tmp_path: Path) -> None:
    import numpy as np
    import tf_keras

    L = tf_keras.layers
    model = tf_keras.Sequential([L.Dense(5, activation="relu", input_shape=(6,)), L.BatchNormalization(),
                                 L.Dense(3)])
    model.compile(tf_keras.optimizers.Adam(0.0), "mse")
    model.fit(np.zeros((4, 6), "float32"), np.zeros((4, 3), "float32"), verbose=0)
    _randomize(model, 1)
    src = tmp_path / "m.keras"
    model.save(src)
    _with_addons_optimizer(src)
    for target, out in (("keras", tmp_path / "copy.keras"), ("tfjs", tmp_path / "tfjs")):
        result = convert(src, target, out)
        assert any("Addons>RectifiedAdam" in warning and "training configuration" in warning
                   for warning in result.warnings), result.warnings
        assert_same_predictions(src, out)
    with zipfile.ZipFile(tmp_path / "copy.keras") as archive:
        assert "Addons" not in archive.read("config.json").decode()
    from convkit.errors import WriteError

    with pytest.raises(WriteError, match="--strict"):
        convert(src, "h5", tmp_path / "strict.h5", strict=True)
    # code the forward pass needs is still refused
    with zipfile.ZipFile(src) as archive:
        config = json.loads(archive.read("config.json"))
    config["config"]["layers"][-1]["config"]["kernel_initializer"] = {**ADDONS_OPTIMIZER, "class_name": "Init",
                                                                      "registered_name": "Addons>Init"}
    forward = tmp_path / "forward.keras"
    with zipfile.ZipFile(src) as archive, zipfile.ZipFile(forward, "w") as out:
        for name in archive.namelist():
            out.writestr(name, json.dumps(config) if name == "config.json" else archive.read(name))
    with pytest.raises(UnsafeModelError, match="Addons>Init"):
        convert(forward, "h5", tmp_path / "forward.h5")
