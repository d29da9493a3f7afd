"""ConvNeXt's ``LayerScale``: a Layer class both Keras generations ship in their applications without exporting it.

tf_keras configs name it without a module, and a legacy ``.h5`` config names it
so in both generations, so neither Keras loads such an ``.h5`` by itself. convkit
finds the class in the installed Keras' own applications modules to read and
build it, and writes it into ``.h5`` outputs as a BatchNormalization computing
the same ``x * gamma``, which plain ``load_model`` of either generation loads.
Each model here has a random layer scale (not the 1e-6 initial value, which
would hide a dropped or misplaced one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convkit import check, convert
from convkit.errors import VerifyError

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _model(K: Any, layer_scale: type, rank: int = 4) -> Any:
    """Conv (or Dense on a sequence) -> LayerNormalization -> Dense -> LayerScale, added back as in a ConvNeXt
    block; random weights."""
    K.utils.set_random_seed(3)
    L = K.layers
    inputs = K.Input((6, 6, 3) if rank == 4 else (5, 3))
    x = L.Conv2D(8, 3, padding="same", name="stem")(inputs) if rank == 4 else L.Dense(8, name="stem")(inputs)
    branch = L.LayerNormalization(epsilon=1e-6, name="norm")(x)
    branch = layer_scale(1e-6, 8, name="block_layer_scale")(L.Dense(8, name="pointwise")(branch))
    x = L.Add(name="add")([x, branch])
    pooled = L.GlobalAveragePooling2D()(x) if rank == 4 else L.GlobalAveragePooling1D()(x)
    model = K.Model(inputs, L.Dense(4, name="logits")(pooled))
    rng = np.random.default_rng(5)
    for variable in model.weights:
        if len(variable.shape) == 1:  # biases and the layer scale
            variable.assign(rng.uniform(0.5, 1.5, tuple(variable.shape)).astype("float32"))
    return model


def _tf_keras_model(rank: int = 4) -> Any:
    import tf_keras
    from tf_keras.src.applications.convnext import LayerScale

    return _model(tf_keras, LayerScale, rank)


def _keras3_model(rank: int = 4) -> Any:
    import keras
    from keras.src.applications.convnext import LayerScale

    return _model(keras, LayerScale, rank)


def _inputs(model: Any) -> np.ndarray:
    shape = (3, *tuple(model.inputs[0].shape)[1:])
    return np.random.default_rng(9).normal(size=shape).astype("float32")


def _relative_error(got: Any, reference: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(got) - reference)) / np.max(np.abs(reference)))


def _assert_checks(src: Path, *outputs: Path) -> None:
    report = check(src, list(outputs), random=16)
    assert report.passed, report.to_dict()


@pytest.mark.parametrize("saved_as", ["savedmodel", "h5"])
def test_tf_keras_layer_scale_to_keras(saved_as: str, tmp_path: Path) -> None:
    """tf_keras SavedModel and .h5 (which tf_keras itself cannot load back) -> .keras that plain Keras 3 loads."""
    import keras

    model = _tf_keras_model()
    x = _inputs(model)
    reference = model(x).numpy()
    src = tmp_path / ("k2_savedmodel" if saved_as == "savedmodel" else "k2.h5")
    if saved_as == "savedmodel":
        model.save(str(src), save_format="tf")
    else:
        model.save(src)
    out = tmp_path / "out.keras"
    result = convert(src, "keras", out)
    assert result.kind == "keras3"
    loaded = keras.models.load_model(out, compile=False)
    assert type(loaded.get_layer("block_layer_scale")).__module__ == "keras.src.applications.convnext"
    assert _relative_error(loaded(x), reference) <= 1e-6
    _assert_checks(src, out)


@pytest.mark.parametrize("generation, target", [(3, "keras"), (2, "h5")])
def test_legacy_h5_keras_cannot_load_back(generation: int, target: str, tmp_path: Path) -> None:
    """A legacy .h5 names LayerScale without its module: the Keras that wrote it cannot load it back, convkit
    converts it (Keras 3's -> .keras, tf_keras' -> an .h5 tf_keras loads)."""
    import keras
    import tf_keras

    model = _keras3_model() if generation == 3 else _tf_keras_model()
    load = keras.models.load_model if generation == 3 else tf_keras.models.load_model
    x = _inputs(model)
    reference = np.asarray(model(x))
    src = tmp_path / "source.h5"
    model.save(src)
    with pytest.raises(ValueError, match="LayerScale"):
        load(src, compile=False)
    out = tmp_path / f"out.{target}"
    convert(src, target, out)
    assert _relative_error(load(out, compile=False)(x), reference) <= 1e-6
    _assert_checks(src, out)


@pytest.mark.parametrize("rank", [4, 3])
def test_keras3_layer_scale_to_h5_loads_in_plain_keras(rank: int, tmp_path: Path) -> None:
    """.keras -> .h5: the layer scale becomes a BatchNormalization both generations load without custom objects."""
    import keras
    import tf_keras

    model = _keras3_model(rank)
    x = _inputs(model)
    reference = np.asarray(model(x))
    src = tmp_path / "k3.keras"
    model.save(src)
    out = tmp_path / "out.h5"
    result = convert(src, "h5", out)
    assert any("'block_layer_scale'" in w and "BatchNormalization" in w for w in result.warnings), result.warnings
    for load in (keras.models.load_model, tf_keras.models.load_model):
        loaded = load(out, compile=False)
        layer = loaded.get_layer("block_layer_scale")
        assert type(layer).__name__ == "BatchNormalization"
        assert sorted(w.name.split("/")[-1].split(":")[0] for w in layer.weights) == \
            ["gamma", "moving_mean", "moving_variance"]
        assert _relative_error(loaded(x), reference) <= 1e-6
    _assert_checks(src, out)


@pytest.mark.parametrize("source", ["k3.keras", "k2.h5"])
def test_layer_scale_checkpoint_round_trip(source: str, tmp_path: Path) -> None:
    """Either generation's model -> checkpoint (written by tf_keras, which names the scale ``gamma``; Keras 3
    leaves it unnamed) -> back into the source's architecture with ``--like``."""
    model = _keras3_model() if source == "k3.keras" else _tf_keras_model()
    src = tmp_path / source
    model.save(src)
    convert(src, "ckpt", tmp_path / "ckpt" / "ckpt")
    report = check(src, [tmp_path / "ckpt" / "ckpt"], like=src, random=16)
    assert report.passed, report.to_dict()
    convert(tmp_path / "ckpt" / "ckpt", "keras", tmp_path / "back.keras", like=src)
    _assert_checks(src, tmp_path / "back.keras")


def test_verification_is_a_plain_load(tmp_path: Path) -> None:
    """An .h5 still naming LayerScale loads in convkit's check, but verification refuses it as users' Keras would."""
    import contextlib

    from convkit.convert.writers.h5 import write_keras2_h5
    from convkit.registry import get_format
    from convkit.runtimes.keras.read import read_model
    from convkit.runtimes.smoke import smoke_run

    src = tmp_path / "k3.keras"
    _keras3_model().save(src)
    raw = tmp_path / "raw.h5"
    with contextlib.ExitStack() as stack:
        write_keras2_h5(read_model(src, stack), raw)
    _assert_checks(src, raw)
    with pytest.raises(VerifyError, match="LayerScale"):
        smoke_run(raw, get_format("h5"))


def test_shipped_classes_found_by_name_in_keras_own_applications() -> None:
    from keras.src.applications.convnext import LayerScale
    from tf_keras.src.applications.convnext import LayerScale as LegacyLayerScale

    from convkit.policy.shipped import keras_shipped_layer

    assert keras_shipped_layer("LayerScale", 3) is LayerScale
    assert keras_shipped_layer("LayerScale", 2) is LegacyLayerScale
    # public layers, names that are no class, and classes of other modules are not looked up there
    for name in ("Dense", "Lambda", "os.system", "Layer", "ConvNeXt", "NoSuchLayer", None, ""):
        assert keras_shipped_layer(name, 3) is None and keras_shipped_layer(name, 2) is None
