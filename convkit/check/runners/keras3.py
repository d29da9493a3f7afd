"""Keras 3 runner: ``.keras`` archives and HDF5 files written by Keras 3."""

from __future__ import annotations

from pathlib import Path

from convkit.check.runners._keras_common import (
    KerasModelRunner,
    h5_keras_attributes,
    load_error,
    refuse_code_layers,
    refuse_forged_h5,
)
from convkit.errors import ConvkitError, UnsafeModelError


def load_keras3(path: Path, format_name: str, *, allow_unsafe: bool = False, training: bool = False) -> KerasModelRunner:
    """Loads ``path`` with ``keras.models.load_model(compile=False, safe_mode=True)``.

    Raises:
        UnsafeModelError: the model holds code layers and ``allow_unsafe`` is off.
        ReadError: Keras 3 cannot load the file.
    """
    path = Path(path)
    if format_name == "h5":
        refuse_forged_h5(path)
        if not allow_unsafe:
            refuse_code_layers(path, h5_keras_attributes(path).get("model_config"))
    import keras

    try:
        model = keras.models.load_model(path, compile=False, safe_mode=not allow_unsafe)
    except ConvkitError:
        raise
    except Exception as error:
        if "safe_mode" in str(error) or "Lambda" in str(error):
            raise UnsafeModelError(
                f"{path}: the model would run Python code from the file when loaded; "
                "pass --unsafe (allow_unsafe=True) if you trust it"
            ) from None
        raise load_error(path, "Keras 3", error) from None
    return KerasModelRunner(model, generation=3, path=path, format_name=format_name, training=training)
