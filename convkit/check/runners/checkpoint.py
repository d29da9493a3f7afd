"""Weights-only files (TF checkpoints, ``.weights.h5``) run in the architecture of another model.

A checkpoint holds variables but no model; ``like`` names a model file whose
architecture receives them. :func:`convkit.live.load_keras_model` does the
loading (it maps checkpoints across Keras generations); when it cannot, the
``like`` model's own ``load_weights`` is tried.
"""

from __future__ import annotations

from pathlib import Path

from convkit.check.runners._keras_common import KerasModelRunner
from convkit.check.runners.base import load_failures
from convkit.errors import ConvkitError, ReadError, UsageError, error_text


def load_weights_runner(
    path: Path,
    format_name: str,
    *,
    like: Path | None,
    allow_unsafe: bool = False,
    training: bool = False,
) -> KerasModelRunner:
    """A runner for the weights in ``path`` placed into the architecture of ``like``.

    Raises:
        UsageError: ``like`` is missing or is not a Keras model.
        ReadError: the weights do not fit the architecture.
    """
    path = Path(path)
    if like is None:
        raise UsageError(
            f"{path}: a {format_name} file holds weights only; pass --like MODEL (a model file with the architecture)"
        )
    if format_name == "h5":
        from convkit.formats.hdf5 import refuse_forged

        refuse_forged(path)
    from convkit.live import load_keras_model

    try:
        loaded = load_keras_model(path, like=Path(like), allow_unsafe=allow_unsafe)
    except ReadError as error:
        # The architecture's own runtime may still take the weights (a tf_keras .keras with a TF checkpoint).
        try:
            return _load_into_like(path, format_name, Path(like), allow_unsafe=allow_unsafe, training=training)
        except ConvkitError:
            raise error from None
    return KerasModelRunner(
        loaded.model, generation=int(loaded.generation), path=path, format_name=format_name, training=training
    )


def _load_into_like(path: Path, format_name: str, like: Path, *, allow_unsafe: bool, training: bool) -> KerasModelRunner:
    from convkit.check.runners import open_runner

    architecture = open_runner(like, allow_unsafe=allow_unsafe)
    if not isinstance(architecture, KerasModelRunner):
        raise UsageError(f"{like}: --like needs a Keras model file (.keras, .h5 or Keras SavedModel)")
    model = architecture.model
    from convkit.formats.checkpoint import resolve_prefix
    from convkit.train.checkpoints import load_checkpoint

    target = str(resolve_prefix(path)) if format_name == "ckpt" else str(path)
    try:
        if format_name == "ckpt" and architecture.generation == 3:
            load_checkpoint(model, target)
        else:
            status = model.load_weights(target)
            if status is not None and hasattr(status, "expect_partial"):
                status.expect_partial()
    except load_failures() as error:
        raise ReadError(f"{path}: the weights do not fit the architecture of {like} ({error_text(error)})") from None
    return KerasModelRunner(model, generation=architecture.generation, path=path, format_name=format_name,
                            training=training)
