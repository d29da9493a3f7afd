"""The Keras runtimes the Keras formats' records name: each file in the generation that wrote it.

A whole-model ``.h5`` or ``.keras`` loads in the Keras generation its
``keras_version`` names (tf_keras for 2.x, else Keras 3); a weights-only file
(checkpoint, weights-only ``.h5``) runs in the architecture of ``like``. HDF5
files whose datasets declare more bytes than they store are refused before
Keras would allocate them.

Where the stock loader cannot load a file that ``convert`` reads (Keras 3's own
``.h5`` of MobileNetV3, whose ``x + 3.0`` records lost their module), the model
is built the way ``convert`` reads it (convkit's reader, then a live model of the
generation that wrote it), with a note saying so; never for the smoke run of a
written output, which must load as a user's plain ``load_model`` loads it.
"""

from __future__ import annotations

from pathlib import Path

from convkit.containers.hdf5 import refuse_forged
from convkit.errors import ConvkitError, RunError, UnsafeModelError
from convkit.policy.safe_mode import in_plain_load
from convkit.runtimes.base import Runner
from convkit.runtimes.keras.keras3 import load_keras3
from convkit.runtimes.keras.runner import KerasModelRunner
from convkit.runtimes.keras.tf_keras import load_tf_keras
from convkit.runtimes.keras.weights import load_weights_runner


def open_keras(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """A ``.keras`` archive in the Keras generation that wrote it."""
    from convkit.formats.keras_archive import keras_version

    return _in_its_generation(path, keras_version(path) or "3", allow_unsafe=allow_unsafe, training=training)


def open_h5(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """A whole-model ``.h5`` in the Keras generation that wrote it; a weights-only one in ``like``."""
    refuse_forged(path)  # before Keras would allocate what a dataset declares
    return _open_h5(path, like=like, allow_unsafe=allow_unsafe, training=training)


def _open_h5(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    from convkit.formats.hdf5 import keras_attributes

    attributes = keras_attributes(path)
    if "model_config" not in attributes:
        return load_weights_runner(path, like=like, allow_unsafe=allow_unsafe, training=training)
    return _in_its_generation(path, attributes.get("keras_version", "3"), allow_unsafe=allow_unsafe,
                              training=training)


def open_h5_either_generation(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """A whole-model ``.h5`` as :func:`open_h5` opens it, loaded; else in Keras 3, when that loads it.

    For the smoke run of a written ``.h5``: the Keras 2 dialect file loads in tf_keras, and
    one holding a layer only Keras 3 has may still load there.
    """
    refuse_forged(path)  # before either Keras would allocate what a dataset declares
    try:
        runner = _open_h5(path, like=like, allow_unsafe=allow_unsafe, training=training)
        runner.load()
        return runner
    except UnsafeModelError:
        raise
    except Exception:
        return load_keras3(path, allow_unsafe=allow_unsafe, training=training)


def open_checkpoint(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """A TF checkpoint in the architecture of ``like``."""
    return load_weights_runner(path, like=like, allow_unsafe=allow_unsafe, training=training, tf_checkpoint=True)


def _in_its_generation(path: Path, version: str, *, allow_unsafe: bool, training: bool) -> Runner:
    try:
        if version.startswith("2."):
            return load_tf_keras(path, allow_unsafe=allow_unsafe, training=training)
        return load_keras3(path, allow_unsafe=allow_unsafe, training=training)
    except RunError as error:
        if in_plain_load():
            raise
        if version.startswith("2."):  # a Keras 2 dialect file holding a layer only Keras 3 has (RMSNormalization)
            try:
                runner = load_keras3(path, allow_unsafe=allow_unsafe, training=training)
            except RunError:
                pass
            else:
                runner.notes.append(f"loaded in Keras 3: {str(error).removeprefix(f'{path}: ')}")
                return runner
        return _as_convert_reads_it(path, error, allow_unsafe=allow_unsafe, training=training)


def _as_convert_reads_it(path: Path, refusal: RunError, *, allow_unsafe: bool, training: bool) -> Runner:
    """The model built from convkit's reading of the file, when the stock loader refused it (``refusal``)."""
    from convkit.runtimes.keras.load import load_keras_model

    try:
        loaded = load_keras_model(path, allow_unsafe=allow_unsafe)
    except ConvkitError:
        raise refusal from None
    runner = KerasModelRunner(loaded.model, generation=loaded.generation, path=path, training=training)
    runner.notes.append(f"built by convkit's reader, as convert reads the file ({str(refusal).removeprefix(f'{path}: ')})")
    return runner
