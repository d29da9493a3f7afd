"""Writers for the targets that need a live Keras model or TensorFlow.

``.h5`` and TF.js layers outputs are streamed without TensorFlow (see
:mod:`convkit.convert.streaming`); ``.keras`` archives, SavedModels,
checkpoints and TF.js graph models are written here through Keras,
tf_keras, TensorFlow and tensorflowjs, imported only when called.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from convkit._tf import quiet_tensorflow
from convkit.errors import ReadError, WriteError, error_text
from convkit.formats.portable import PortableModel
from convkit.live import live_from_portable


def write_keras_archive(model: PortableModel, target: Path, source: Path, allow_unsafe: bool) -> None:
    """A Keras 3 ``.keras`` archive of ``model`` at ``target`` (a file path that does not exist yet)."""
    live = live_from_portable(model, 3, source, allow_unsafe)
    # Keras insists on the .keras ending; the atomic temporary may not have it.
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        staged = Path(scratch) / "model.keras"
        live.save(staged)
        os.replace(staged, target)


def write_saved_model(model: PortableModel, target: Path, source: Path, allow_unsafe: bool) -> str:
    """A SavedModel of ``model`` at ``target``; returns its kind.

    ``keras-savedmodel``: tf_keras ``model.save`` (TF serving signature plus
    ``keras_metadata.pb``, so tf_keras and convkit can read the Keras model back).
    ``export``: Keras 3 ``model.export`` when tf_keras cannot build the
    architecture (inference only, no Keras config).
    """
    quiet_tensorflow()
    try:
        live = live_from_portable(model, 2, source, allow_unsafe)
    except ReadError:
        live = live_from_portable(model, 3, source, allow_unsafe)
        live.export(str(target), verbose=False)
        return "export"
    live.save(str(target), save_format="tf", include_optimizer=False)
    return "keras-savedmodel"


def write_checkpoint(model: PortableModel, prefix: Path, source: Path, allow_unsafe: bool) -> None:
    """A TF checkpoint of ``model``'s weights at ``prefix`` (Keras object-graph names).

    tf_keras ``save_weights`` names tensors ``layer_with_weights-N/<attr>/...``,
    which tf_keras ``load_weights`` and ``tf.train.load_checkpoint`` read, and
    which convkit maps back with ``--like``.
    """
    quiet_tensorflow()
    try:
        live = live_from_portable(model, 2, source, allow_unsafe)
    except ReadError:
        _write_checkpoint_by_structure(model, prefix)
        return
    live.save_weights(str(prefix))


def _write_checkpoint_by_structure(model: PortableModel, prefix: Path) -> None:
    # Without a tf_keras model, build the same object graph from plain tf.Modules.
    from convkit.convert.tfjs_layers import tfjs_weight_name
    from convkit.train.checkpoints import write_layer_weights

    layers = [[(tfjs_weight_name(weight.name), weight.read) for weight in items] for items in model.layer_weights.values()]
    write_layer_weights(layers, prefix)


def export_for_graph(model: PortableModel, target: Path, source: Path, allow_unsafe: bool) -> None:
    """An inference SavedModel of ``model`` for the TF.js graph converter."""
    quiet_tensorflow()
    # tf_keras SavedModels convert to graphs TF.js runs, recurrent layers included;
    # the while loops of Keras 3 export() graphs fail in TF.js 4.22, so Keras 3 is the fallback.
    generation = 2
    try:
        live = live_from_portable(model, generation, source, allow_unsafe)
    except ReadError:
        generation = 3
        live = live_from_portable(model, generation, source, allow_unsafe)
    if generation == 3:
        live.export(str(target), verbose=False)
    else:
        live.save(str(target), save_format="tf", include_optimizer=False)


def write_tfjs_graph(
    saved_model: Path,
    target: Path,
    *,
    shard_size: int,
    quantize: str | None,
    quantize_weights: tuple[str, ...],
) -> None:
    """A TF.js graph model of a SavedModel's ``serving_default`` signature (tensorflowjs converter API)."""
    quiet_tensorflow()
    from tensorflowjs.converters import tf_saved_model_conversion_v2 as converter

    quantization = None
    if quantize:
        quantization = {quantize: list(quantize_weights) if quantize_weights else True}
    try:
        with quiet_tensorflow():  # grappler logs from C++ whatever TF_CPP_MIN_LOG_LEVEL says
            converter.convert_tf_saved_model(
                str(saved_model),
                str(target),
                signature_def="serving_default",
                saved_model_tags="serve",
                quantization_dtype_map=quantization,
                weight_shard_size_bytes=shard_size,
            )
    except (ValueError, KeyError, RuntimeError) as error:
        raise WriteError(f"{saved_model}: the TF.js graph converter failed ({error_text(error)})") from None
