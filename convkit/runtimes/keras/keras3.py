"""Keras 3 runner: ``.keras`` archives and HDF5 files written by Keras 3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit._tf import import_tensorflow
from convkit.policy.safe_mode import loading_custom_objects, unsafe_scope
from convkit.runtimes.base import load_failures
from convkit.runtimes.keras.runner import KerasModelRunner, load_error


def load_keras3(path: Path, *, allow_unsafe: bool = False, training: bool = False) -> KerasModelRunner:
    """Loads ``path`` with ``keras.models.load_model(compile=False)``, in safe mode unless ``allow_unsafe``.

    The code policy has judged the file before (``open_runner``).

    Raises:
        ReadError: Keras 3 cannot load the file.
    """
    path = Path(path)
    import_tensorflow()
    import keras

    with unsafe_scope(allow_unsafe, (3,)):
        try:
            model = keras.models.load_model(path, compile=False, safe_mode=not allow_unsafe,
                                             custom_objects=loading_custom_objects(3))
        except load_failures() as error:
            raise load_error(path, "Keras 3", error) from None
    return KerasModelRunner(model, generation=3, path=path, training=training)


def export_inference(model: Any, target: Path, input_signature: Any = None) -> None:
    """Keras 3's ``export()`` SavedModel of ``model``, called in inference mode.

    ``export()`` calls the model without ``training``, and the layers whose ``call`` defaults to
    training (``RandomFlip``, ``RandomRotation`` and the other augmentation layers) then augment every
    request the SavedModel serves. Here the model is called with ``training=False``, under the same
    ``serve`` and ``serving_default`` names and input signature ``export()`` gives.
    """
    import keras
    from keras.src.export.export_utils import get_input_signature

    signature = input_signature if input_signature is not None else get_input_signature(model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda *inputs: model(*inputs, training=False), input_signature=signature)
    archive.write_out(str(target), verbose=False)
