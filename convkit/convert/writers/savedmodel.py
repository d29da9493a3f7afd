"""The SavedModel writer: tf_keras ``model.save`` (Keras metadata kept), else a Keras 3 ``export()``.

A SavedModel without a Keras config as the source is copied as it is; a source
that converts as a graph (:mod:`convkit.convert.writers.graph`) becomes a TF2
SavedModel of the graph, one ``serving_default`` signature named as the graph
names its inputs and outputs (shapes from ``--inputs``). With ``--input-shape``,
the ``serving_default`` signature is traced at the shapes asked for
(:func:`convkit.convert.serving.save_serving`); a SavedModel source is then
saved anew through its signature (kind ``signature``), as a SavedModel with
Keras layers is with ``--signature``, whose signature becomes the output's
``serving_default``.
"""

from __future__ import annotations

from pathlib import Path

from convkit._tf import quiet_tensorflow
from convkit.convert.atomic import copy_model_tree
from convkit.convert.conversion import Conversion, Written
from convkit.convert.serving import save_serving, serving_of
from convkit.convert.writers import graph
from convkit.errors import ReadError
from convkit.formats.savedmodel import PlainSavedModel
from convkit.keras_model.data import ModelData
from convkit.runtimes.keras.build import build_model
from convkit.runtimes.keras.keras3 import export_inference
from convkit.runtimes.keras.tf_keras import save_keras_savedmodel


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as a SavedModel; returns ``keras-savedmodel``, ``export``, ``copy`` or ``graph``."""
    request, source, notes = conversion.request, conversion.source, conversion.notes()
    model_graph = graph.graph_model(conversion, notes)
    if model_graph is not None:
        with conversion.output() as temp:
            graph.write_saved_model(model_graph, temp)
        return notes.written("graph")
    if request.input_shapes or request.signature is not None:
        serving, _unrolled = serving_of(conversion, notes)
        with conversion.output() as temp:
            save_serving(serving, temp)
        return notes.written({"tf_keras": "keras-savedmodel", "Keras 3": "export"}.get(serving.origin, "signature"))
    if isinstance(source.graph, PlainSavedModel):
        with conversion.output() as temp:
            copy_model_tree(request.src, temp)
        return notes.written("copy")
    model = source.model()
    notes.optimizer(model, carried=False)
    with conversion.output() as temp:
        kind = write_saved_model(model, temp, request.src, request.allow_unsafe)
    if kind == "export":
        notes.warn("tf_keras cannot build this architecture, so the SavedModel is a Keras 3 "
                   "export (inference only, no Keras config)")
    return notes.written(kind)


def write_saved_model(model: ModelData, target: Path, source: Path, allow_unsafe: bool) -> str:
    """A SavedModel of ``model`` at ``target``; returns its kind.

    ``keras-savedmodel``: tf_keras ``model.save`` (TF serving signature plus
    ``keras_metadata.pb``, so tf_keras and convkit can read the Keras model back).
    ``export``: Keras 3 ``model.export`` when tf_keras cannot build the
    architecture (inference only, no Keras config).
    """
    quiet_tensorflow()
    try:
        live = build_model(model, 2, source, allow_unsafe)
    except ReadError:
        live = build_model(model, 3, source, allow_unsafe)
        export_inference(live, target)
        return "export"
    save_keras_savedmodel(live, target)
    return "keras-savedmodel"
