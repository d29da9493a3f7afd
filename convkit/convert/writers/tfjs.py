"""The TF.js writer: a layers model where TF.js layers holds and runs the model, else a graph model.

Keras sources become TF.js layers models, streamed without TensorFlow
(:mod:`~convkit.convert.writers.tfjs_layers`); a model TF.js layers cannot hold
(:func:`convkit.formats.tfjs.names.tfjs_unsupported`) or run (its smoke run in
TF.js fails) becomes a graph model (:mod:`~convkit.convert.writers.tfjs_graph`),
with a warning, unless the request asks for layers. A SavedModel without a
Keras config becomes a graph model; a TF.js graph model is copied.
"""

from __future__ import annotations

import tempfile
from importlib import metadata
from pathlib import Path

from convkit.convert.atomic import copy_model_tree
from convkit.convert.conversion import Conversion, Notes, Written
from convkit.convert.serving import save_serving, serving_of
from convkit.convert.writers.tfjs_graph import export_for_graph, write_tfjs_graph
from convkit.convert.writers.tfjs_layers import write_tfjs_layers
from convkit.errors import UsageError, VerifyError
from convkit.formats.savedmodel import PlainSavedModel
from convkit.formats.tfjs import GraphModel
from convkit.formats.tfjs.names import tfjs_unsupported
from convkit.keras_model.data import ModelData


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as a TF.js model; returns ``layers`` or ``graph``."""
    request, source, notes = conversion.request, conversion.source, conversion.notes()
    graph = source.graph
    if isinstance(graph, GraphModel):
        if request.kind == "layers" or request.quantize:
            raise UsageError(graph.refusal(request.to))
        if request.input_shapes:
            raise UsageError(f"{request.src}: a TF.js graph model is copied as it is, so --input-shape cannot change "
                             "its shapes")
        with conversion.output() as temp:
            copy_model_tree(graph.folder, temp)
        return notes.written("graph")
    if request.input_shapes:
        if request.kind == "layers":
            raise UsageError(f"{request.src}: a TF.js layers model keeps the shapes its layers were built with; "
                             "--input-shape applies to --tfjs-kind graph")
        return _graph_at_shapes(conversion, notes)
    if request.signature is not None:
        if request.kind == "layers":
            raise UsageError(f"{request.src}: a TF.js layers model holds no signatures; --signature applies to "
                             "--tfjs-kind graph")
        return _graph_at_shapes(conversion, notes)
    if isinstance(graph, PlainSavedModel) and request.kind != "layers":
        with conversion.output() as temp:
            _write_graph(conversion, graph.path, temp)
        return notes.written("graph")
    model = source.model()
    kind = request.kind or "layers"
    reasons = tfjs_unsupported(model.config, model.generation)
    if kind == "layers" and reasons:
        if request.kind == "layers":
            raise UsageError(f"{request.src}: TF.js layers cannot hold this model: {reasons[0]}; use --tfjs-kind graph")
        notes.warn(f"{reasons[0]}; wrote a TF.js graph model instead")
        kind = "graph"
    if kind == "layers":
        # TF.js compiles a model whose model.json has a trainingConfig and fails on
        # Keras optimizer names (Custom>Adam), so neither optimizer nor training config goes in.
        notes.optimizer(model, carried=False)
        noted = notes.mark()
        try:
            with conversion.output() as temp:
                written = write_tfjs_layers(
                    model, temp, shard_size=conversion.shard_size, quantize=request.quantize,
                    quantize_weights=request.quantize_weights, generated_by=f"convkit {_version()}",
                    progress=request.progress)
                for warning in written.warnings:  # what TF.js cannot hold, or holds narrowed
                    notes.lose(warning, warning)
            return notes.written("layers")
        except VerifyError as error:  # the fallback: what TF.js layers cannot run, a graph model may
            if request.kind == "layers":
                raise
            notes.rollback(noted)
            blamed = f"{error.culprit}: {error.reason}" if error.culprit else error.reason
            notes.warn(f"TF.js layers cannot run this model ({blamed}); wrote a TF.js graph model instead")
    notes.lose("the Keras architecture and optimizer state (a TF.js graph model is an inference graph)")
    return _graph_from_model(conversion, model, notes)


def _graph_from_model(conversion: Conversion, model: ModelData, notes: Notes) -> Written:
    request = conversion.request
    with conversion.output() as temp:
        with tempfile.TemporaryDirectory(prefix="convkit-export-") as scratch:
            saved_model = Path(scratch) / "saved_model"
            export_for_graph(model, saved_model, request.src, request.allow_unsafe)
            _write_graph(conversion, saved_model, temp)
    return notes.written("graph")


def _graph_at_shapes(conversion: Conversion, notes: Notes) -> Written:
    """A graph model of the request's signature at its input shapes (a layers model keeps its layers' and holds
    no signatures)."""
    if conversion.source.graph is None:
        if conversion.request.kind is None:
            notes.warn("--input-shape: wrote a TF.js graph model (a layers model keeps the shapes its layers were "
                       "built with)" if conversion.request.input_shapes else
                       "--signature: wrote a TF.js graph model (a layers model holds no signatures)")
        notes.lose("the Keras architecture and optimizer state (a TF.js graph model is an inference graph)")
    serving, _unrolled = serving_of(conversion, notes)
    with conversion.output() as temp:
        with tempfile.TemporaryDirectory(prefix="convkit-export-") as scratch:
            saved_model = Path(scratch) / "saved_model"
            save_serving(serving, saved_model)
            _write_graph(conversion, saved_model, temp)
    return notes.written("graph")


def _write_graph(conversion: Conversion, saved_model: Path, temp: Path) -> None:
    request = conversion.request
    write_tfjs_graph(saved_model, temp, shard_size=conversion.shard_size, quantize=request.quantize,
                     quantize_weights=request.quantize_weights)


def _version() -> str:
    """convkit's installed version, for the ``convertedBy`` field."""
    try:
        return metadata.version("convkit")
    except metadata.PackageNotFoundError:
        return "0"
