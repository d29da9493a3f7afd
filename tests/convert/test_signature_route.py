"""A tf_keras SavedModel to ONNX and TFLite through its own serving signature, loaded into Keras only to unroll.

Spies wrap the real functions (counting, passing every call through): a SavedModel without recurrent layers
is neither loaded into tf_keras nor rebuilt, and TFLite reads it from disk as a plain converter script does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from convkit.convert import convert
from tests.convert.conftest import assert_same_predictions
from tests.convert.test_engine import _spy

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md


def _keras_spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    from convkit.convert import serving
    from convkit.runtimes.keras import read

    return {"load_whole": _spy(monkeypatch, read, "load_whole"), "build_model": _spy(monkeypatch, serving, "build_model")}


def test_a_savedmodel_goes_to_tflite_as_saved_without_keras(k2_saved_model: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import tensorflow as tf

    keras = _keras_spies(monkeypatch)
    converter = tf.lite.TFLiteConverter
    from_saved_model = _spy(monkeypatch, converter, "from_saved_model")
    from_functions = _spy(monkeypatch, converter, "from_concrete_functions")
    out = tmp_path / "cnn.tflite"
    result = convert(k2_saved_model, "tflite", out)
    assert result.kind == "builtin"
    assert keras == {"load_whole": [], "build_model": []}
    assert len(from_saved_model) == 1 and from_functions == []
    assert_same_predictions(k2_saved_model, out)


def test_a_savedmodel_goes_to_onnx_through_tf2onnx_without_keras(k2_saved_model: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The tf2onnx route reads the signature; the native route writes from the Keras config and weights.
    keras = _keras_spies(monkeypatch)
    out = tmp_path / "cnn.onnx"
    result = convert(k2_saved_model, "onnx", out, onnx_route="tf2onnx")
    assert result.kind.startswith("tf2onnx")
    assert keras == {"load_whole": [], "build_model": []}
    assert_same_predictions(k2_saved_model, out)


def test_a_recurrent_savedmodel_still_goes_through_keras_to_be_unrolled(zoo_k2: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import tf_keras

    saved = tmp_path / "rnn_savedmodel"
    tf_keras.models.load_model(zoo_k2 / "rnn.h5", compile=False).save(str(saved), save_format="tf")
    keras = _keras_spies(monkeypatch)
    out = tmp_path / "rnn.tflite"
    result = convert(saved, "tflite", out)
    assert result.kind == "builtin-unrolled"
    assert len(keras["load_whole"]) == 1 and keras["build_model"]
    assert_same_predictions(saved, out)
