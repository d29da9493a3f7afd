"""Weights-only files (TF checkpoints, ``.weights.h5``) run in the architecture of another model.

A checkpoint holds variables but no model; ``like`` names a model file whose
architecture receives them. :func:`convkit.runtimes.keras.load.load_keras_model` does the
loading (it maps checkpoints across Keras generations); when it cannot, the
``like`` model's own ``load_weights`` is tried.
"""

from __future__ import annotations

from pathlib import Path

from convkit.errors import ConvkitError, ReadError, UsageError, error_text
from convkit.runtimes.base import load_failures
from convkit.runtimes.keras.runner import KerasModelRunner


def load_weights_runner(
    path: Path,
    *,
    like: Path | None,
    allow_unsafe: bool = False,
    training: bool = False,
    tf_checkpoint: bool = False,
) -> KerasModelRunner:
    """A runner for the weights in ``path`` placed into the architecture of ``like``.

    Args:
        tf_checkpoint: ``path`` names a TF checkpoint (a prefix, its folder or files), not an HDF5 file.

    Raises:
        UsageError: ``like`` is missing or is not a Keras model.
        ReadError: the weights do not fit the architecture.
    """
    from convkit.runtimes.keras.load import load_keras_model

    path = Path(path)
    if like is None:
        raise UsageError(f"{path}: holds weights only; pass --like MODEL (a model file with the architecture)")
    try:
        loaded = load_keras_model(path, like=Path(like), allow_unsafe=allow_unsafe)
    except ReadError as error:
        # The architecture's own runtime may still take the weights (a tf_keras .keras with a TF checkpoint).
        try:
            return _load_into_like(path, Path(like), allow_unsafe=allow_unsafe, training=training,
                                   tf_checkpoint=tf_checkpoint)
        except ConvkitError:
            raise error from None
    return KerasModelRunner(loaded.model, generation=int(loaded.generation), path=path, training=training)


def _load_into_like(path: Path, like: Path, *, allow_unsafe: bool, training: bool,
                    tf_checkpoint: bool) -> KerasModelRunner:
    from convkit.formats.checkpoint import resolve_prefix
    from convkit.runtimes.open import open_runner
    from convkit.train.checkpoints import load_checkpoint

    architecture = open_runner(like, allow_unsafe=allow_unsafe)
    if not isinstance(architecture, KerasModelRunner):
        raise UsageError(f"{like}: --like needs a Keras model file (.keras, .h5 or Keras SavedModel)")
    model = architecture.model
    target = str(resolve_prefix(path)) if tf_checkpoint else str(path)
    try:
        if tf_checkpoint and architecture.generation == 3:
            load_checkpoint(model, target)
        else:
            status = model.load_weights(target)
            if status is not None and hasattr(status, "expect_partial"):
                status.expect_partial()
    except load_failures() as error:
        raise ReadError(f"{path}: the weights do not fit the architecture of {like} ({error_text(error)})") from None
    return KerasModelRunner(model, generation=architecture.generation, path=path, training=training)
