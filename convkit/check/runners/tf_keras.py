"""tf_keras (Keras 2) runner: HDF5 files and legacy SavedModels written by Keras 2."""

from __future__ import annotations

from pathlib import Path

from convkit.check.runners._keras_common import (
    KerasModelRunner,
    h5_keras_attributes,
    load_error,
    refuse_code_layers,
    refuse_forged_h5,
)
from convkit.errors import ConvkitError


def load_tf_keras(path: Path, format_name: str, *, allow_unsafe: bool = False, training: bool = False) -> KerasModelRunner:
    """Loads ``path`` with ``tf_keras.models.load_model(compile=False)``.

    Raises:
        UnsafeModelError: the model holds code layers and ``allow_unsafe`` is off.
        ReadError: tf_keras cannot load the file.
    """
    path = Path(path)
    if format_name == "h5":
        refuse_forged_h5(path)
    if not allow_unsafe:
        if format_name == "h5":
            refuse_code_layers(path, h5_keras_attributes(path).get("model_config"))
        elif (path / "keras_metadata.pb").is_file():
            refuse_code_layers(path, (path / "keras_metadata.pb").read_bytes())
    import tf_keras

    try:
        model = tf_keras.models.load_model(path, compile=False)
    except ConvkitError:
        raise
    except Exception as error:
        raise load_error(path, "tf_keras", error) from None
    return KerasModelRunner(model, generation=2, path=path, format_name=format_name, training=training)
