"""tf_keras (Keras 2) runner: HDF5 files and legacy SavedModels written by Keras 2."""

from __future__ import annotations

from pathlib import Path

from convkit.policy.safe_mode import loading_custom_objects, unsafe_scope
from convkit.runtimes.base import load_failures
from convkit.runtimes.keras.runner import KerasModelRunner, load_error


def load_tf_keras(path: Path, *, allow_unsafe: bool = False, training: bool = False) -> KerasModelRunner:
    """Loads ``path`` with ``tf_keras.models.load_model(compile=False)``, in safe mode unless ``allow_unsafe``.

    The code policy has judged the file before (``open_runner``).

    Raises:
        ReadError: tf_keras cannot load the file.
    """
    path = Path(path)
    import tf_keras

    with unsafe_scope(allow_unsafe, (2,)):
        try:
            model = tf_keras.models.load_model(path, compile=False, custom_objects=loading_custom_objects(2))
        except load_failures() as error:
            raise load_error(path, "tf_keras", error) from None
    return KerasModelRunner(model, generation=2, path=path, training=training)
