"""The TF checkpoint writer: the weights under the Keras object-graph names tf_keras ``save_weights`` writes."""

from __future__ import annotations

from pathlib import Path

from convkit._tf import quiet_tensorflow
from convkit.convert.conversion import Conversion, Written
from convkit.errors import ReadError
from convkit.keras_model.config import is_cell_name, layer_names
from convkit.keras_model.data import ModelData
from convkit.keras_model.weights import tfjs_weight_name
from convkit.runtimes.keras.build import build_model


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source's weights as a TF checkpoint at the request's prefix; returns ``weights``."""
    request, source, notes = conversion.request, conversion.source, conversion.notes()
    model = source.model()
    # Weights only is what a checkpoint is; say so, but --strict is about losses beyond that.
    notes.warn("the architecture is not stored (a checkpoint holds weights only; convert it back with --like MODEL)")
    notes.optimizer(model, carried=False)
    with conversion.output() as prefix:
        write_checkpoint(model, prefix, request.src, request.allow_unsafe)
    return notes.written("weights")


def write_checkpoint(model: ModelData, prefix: Path, source: Path, allow_unsafe: bool) -> None:
    """A TF checkpoint of ``model``'s weights at ``prefix`` (Keras object-graph names).

    tf_keras ``save_weights`` names tensors ``layer_with_weights-N/<attr>/...``,
    which tf_keras ``load_weights`` and ``tf.train.load_checkpoint`` read, and
    which convkit maps back with ``--like``.
    """
    quiet_tensorflow()
    try:
        live = build_model(model, 2, source, allow_unsafe)
    except ReadError:
        _write_checkpoint_by_structure(model, prefix)
        return
    live.save_weights(str(prefix))


def _write_checkpoint_by_structure(model: ModelData, prefix: Path) -> None:
    # Without a tf_keras model, build the same object graph from plain tf.Modules.
    from convkit.train.checkpoints import write_layer_weights

    known = layer_names(model.config)
    layers = []
    for items in model.layer_weights.values():
        entries = []
        for weight in items:
            owner, _, attribute = tfjs_weight_name(weight.name, known).rpartition("/")
            parts = weight.name.split("/")
            in_cell = len(parts) >= 3 and is_cell_name(parts[-2])
            entries.append((owner, f"cell/{attribute}" if in_cell else attribute, weight.read))
        layers.append(entries)
    write_layer_weights(layers, prefix)
