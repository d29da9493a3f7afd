"""Any Keras-bearing model file as a live Keras model, for running it."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convkit._tf import quiet_tensorflow
from convkit.errors import ReadError
from convkit.registry import detect
from convkit.runtimes.keras.build import build_model
from convkit.runtimes.keras.read import read_model


@dataclass
class LoadedModel:
    """A live Keras model and where it came from.

    Attributes:
        model: a Keras 3 ``keras.Model`` or a tf_keras model.
        generation: 3 for Keras 3, 2 for tf_keras.
        format: the registry name of the source file's format.
    """

    model: Any
    generation: int
    format: str


def load_keras_model(path: str | Path, like: str | Path | None = None, allow_unsafe: bool = False) -> LoadedModel:
    """Loads any Keras-bearing file into a live Keras model.

    The file is read as the in-memory model (:func:`~convkit.runtimes.keras.read.read_model`) and built in
    the Keras generation that wrote it: Keras 3 for ``.keras`` and Keras 3 ``.h5`` files, tf_keras for tf_keras
    ``.h5`` files, legacy Keras SavedModels and TF.js layers models (Keras 3 where tf_keras cannot build the
    architecture); weights-only files (checkpoints, ``.weights.h5``, legacy weights ``.h5``, Keras 3
    ``export()`` SavedModels) take the architecture of ``like``. The caller has screened ``path``.

    Args:
        path: the model file.
        like: a model file of the same architecture, for weights-only files.
        allow_unsafe: allow Lambda layers and custom functions (runs code from the file).

    Raises:
        ConvkitError: the file cannot be read or is refused as unsafe.
    """
    path = Path(path)
    fmt = detect(path).name
    quiet_tensorflow()
    with contextlib.ExitStack() as stack:
        data = read_model(path, stack, like=Path(like) if like else None, allow_unsafe=allow_unsafe, fmt=fmt)
        generation = 3 if data.generation == 3 else 2
        try:
            model = build_model(data, generation, path, allow_unsafe)
        except ReadError:
            if generation == 3:
                raise
            model = build_model(data, 3, path, allow_unsafe)
            generation = 3
    return LoadedModel(model, generation, fmt)
