"""load_keras_model: any Keras-bearing file, either generation, as a live model (the check engine's loader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convkit.convert import convert
from convkit.errors import UsageError
from convkit.runtimes.keras.load import load_keras_model


def _predict(model, x: np.ndarray) -> np.ndarray:
    out = model(x, training=False)
    return np.asarray(out.numpy() if hasattr(out, "numpy") else out)


def test_every_kind_of_source_loads_with_the_same_weights(trained_k3: Path, trained_k2: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((5, 784)).astype("float32")
    reference = load_keras_model(trained_k3 / "my_model.keras")
    assert (reference.generation, reference.format) == (3, "keras")
    expected = _predict(reference.model, x)

    tfjs = tmp_path / "tfjs"
    convert(trained_k3 / "my_model.keras", "tfjs", tfjs)
    prefix = tmp_path / "ck" / "w"
    convert(trained_k3 / "my_model.keras", "ckpt", prefix)
    for path, like, fmt in [
        (trained_k3 / "my_model.h5", None, "h5"),
        (tfjs, None, "tfjs"),
        (prefix, trained_k3 / "my_model.keras", "ckpt"),
        (trained_k3 / "saved_model" / "my_model", trained_k3 / "my_model.h5", "savedmodel"),
    ]:
        loaded = load_keras_model(path, like=like)
        assert loaded.format == fmt
        np.testing.assert_allclose(_predict(loaded.model, x), expected, atol=1e-5, err_msg=str(path))

    legacy = load_keras_model(trained_k2 / "saved_model" / "my_model")
    assert (legacy.generation, legacy.format) == (2, "savedmodel")
    same_run = load_keras_model(trained_k2 / "my_model.h5")
    np.testing.assert_allclose(_predict(legacy.model, x), _predict(same_run.model, x), atol=1e-5)


def test_weights_only_without_like_is_a_usage_error(trained_k3: Path) -> None:
    with pytest.raises(UsageError, match="--like"):
        load_keras_model(trained_k3 / "checkpoints" / "my_checkpoint")
