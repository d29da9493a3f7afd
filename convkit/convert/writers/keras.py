"""The ``.keras`` writer: a Keras 3 archive saved by Keras 3 from the model built live."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from convkit.convert.atomic import copy_model_tree
from convkit.convert.conversion import Conversion, Written
from convkit.keras_model.data import ModelData
from convkit.keras_model.renames import keras3_renamed_layers
from convkit.runtimes.keras.build import build_model


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as a ``.keras`` archive; returns ``keras3``."""
    request, source, notes = conversion.request, conversion.source, conversion.notes()
    model = source.model()  # config and weights layout under convkit's limits; refuses code layers
    if source.format.name == conversion.target.name and request.keep_optimizer and model.generation == 3 \
            and not model.training_code:
        # a Keras 3 archive goes over as it is (a tf_keras .keras, with TFOpLambda layers, is rewritten below)
        with conversion.output() as temp:
            copy_model_tree(request.src, temp)
        return notes.written("keras3")
    notes.optimizer(model, carried=False)
    renamed = {} if model.generation == 3 and model.raw_config else keras3_renamed_layers(model.config)
    if renamed:
        first, new = next(iter(renamed.items()))
        more = f" and {len(renamed) - 1} more" if len(renamed) > 1 else ""
        notes.warn(f"layers renamed, since Keras 3 allows no '/' in a name: {first!r} -> {new!r}{more}")
    with conversion.output() as temp:
        write_keras_archive(model, temp, request.src, request.allow_unsafe)
    return notes.written("keras3")


def write_keras_archive(model: ModelData, target: Path, source: Path, allow_unsafe: bool) -> None:
    """A Keras 3 ``.keras`` archive of ``model`` at ``target`` (a file path that does not exist yet)."""
    live = build_model(model, 3, source, allow_unsafe)
    # Keras insists on the .keras ending; the atomic temporary may not have it.
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        staged = Path(scratch) / "model.keras"
        live.save(staged)
        os.replace(staged, target)
