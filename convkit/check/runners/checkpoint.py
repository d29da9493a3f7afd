"""Weights-only files (TF checkpoints, ``.weights.h5``) run in the architecture of another model.

A checkpoint holds variables but no model; ``like`` names a model file whose
architecture receives them. ``convkit.convert.loading.load_keras_model`` does
the loading when it is available (it maps checkpoints across Keras
generations); otherwise the ``like`` model's own ``load_weights`` is used.
"""

from __future__ import annotations

from pathlib import Path

from convkit.check.runners._keras_common import KerasModelRunner
from convkit.errors import ConvkitError, ReadError, UsageError


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
        from convkit.check.runners._keras_common import refuse_forged_h5

        refuse_forged_h5(path)
    try:
        from convkit.convert.loading import load_keras_model
    except ImportError:
        load_keras_model = None
    if load_keras_model is None:
        return _load_into_like(path, format_name, Path(like), allow_unsafe=allow_unsafe, training=training)
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
    target = str(_checkpoint_prefix(path)) if format_name == "ckpt" else str(path)
    try:
        if format_name == "ckpt" and architecture.generation == 3:
            _restore_tf_checkpoint_into_keras3(model, target)
        else:
            status = model.load_weights(target)
            if status is not None and hasattr(status, "expect_partial"):
                status.expect_partial()
    except ConvkitError:
        raise
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0][:300]
        raise ReadError(f"{path}: the weights do not fit the architecture of {like} ({first_line})") from None
    return KerasModelRunner(model, generation=architecture.generation, path=path, format_name=format_name,
                            training=training)


def _checkpoint_prefix(path: Path) -> Path:
    try:
        from convkit.formats.checkpoint import resolve_prefix

        return resolve_prefix(path)
    except ImportError:
        pass
    if path.is_dir():
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(path))
        if latest is None:
            raise ReadError(f"{path}: the folder holds no checkpoint")
        return Path(latest)
    if path.suffix == ".index":
        return path.with_suffix("")
    return path


def _restore_tf_checkpoint_into_keras3(model, prefix: str) -> None:
    # Keras 3 cannot read TF checkpoints; match tf_keras-style variable paths by order of layers.
    import numpy as np
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    keys = sorted(key for key in shapes if key.startswith("layer_with_weights-") and "OPTIMIZER_SLOT" not in key)
    layers = [layer for layer in model.layers if layer.weights]
    for index, layer in enumerate(layers):
        values = []
        for variable in layer.weights:
            short = variable.name.split("/")[-1].split(":")[0]
            key = f"layer_with_weights-{index}/{short}/.ATTRIBUTES/VARIABLE_VALUE"
            if key not in shapes:
                raise ReadError(f"{prefix}: the checkpoint has no {key}")
            values.append(np.asarray(reader.get_tensor(key)))
        layer.set_weights(values)
    if not keys:
        raise ReadError(f"{prefix}: the checkpoint holds no layer weights")
