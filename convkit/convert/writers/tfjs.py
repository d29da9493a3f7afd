"""The TF.js writer: a layers model where TF.js layers holds and runs the model, else a graph model.

Keras sources become TF.js layers models, streamed without TensorFlow
(:mod:`~convkit.convert.writers.tfjs_layers`); a model TF.js layers cannot hold
(:func:`convkit.formats.tfjs.names.tfjs_unsupported`) or run (its smoke run in
TF.js fails) becomes a graph model (:mod:`~convkit.convert.writers.tfjs_graph`),
with a warning, unless the request asks for layers. A SavedModel without a
Keras config becomes a graph model. A TF.js graph model is copied (its TF1-style
loops' control inputs left out where TF.js cannot schedule them), unless the
request quantizes or names inputs or outputs, or the copy does not run in TF.js;
then it, like every other source that converts as a graph
(:mod:`convkit.convert.writers.graph`), is written through a SavedModel of the
graph and tensorflowjs' converter.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from convkit.convert.atomic import copy_model_tree
from convkit.convert.conversion import Conversion, Notes, Written
from convkit.convert.serving import save_inference, serving_of
from convkit.convert.writers import graph, producer
from convkit.convert.writers.tfjs_graph import drop_loop_control_edges, export_for_graph, write_tfjs_graph
from convkit.convert.writers.tfjs_layers import write_tfjs_layers
from convkit.errors import UsageError, VerifyError
from convkit.formats.savedmodel import PlainSavedModel
from convkit.formats.tfjs.names import tfjs_unsupported
from convkit.graph_model.model import GraphModel, GraphSource
from convkit.keras_model.data import ModelData


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as a TF.js model; returns ``layers`` or ``graph``."""
    request, source, notes = conversion.request, conversion.source, conversion.notes()
    graph_source = source.graph
    if isinstance(graph_source, GraphSource) and request.kind == "layers":
        raise UsageError(f"{request.src}: TF.js layers models hold Keras layers; {graph_source.what} converts to "
                         "--tfjs-kind graph only")
    model_graph = graph.graph_model(conversion, notes)
    if model_graph is not None:
        return _graph_from_graph(conversion, model_graph, notes)
    if request.input_shapes and request.kind == "layers":
        raise UsageError(f"{request.src}: a TF.js layers model keeps the shapes its layers were built with; "
                         "--input-shape applies to --tfjs-kind graph")
    if request.signature is not None and request.kind == "layers":
        raise UsageError(f"{request.src}: a TF.js layers model holds no signatures; --signature applies to "
                         "--tfjs-kind graph")
    if request.input_shapes or request.signature is not None:
        return _graph_at_shapes(conversion, notes)
    if isinstance(graph_source, PlainSavedModel) and request.kind != "layers":
        with conversion.output() as temp:
            _write_graph(conversion, graph_source.path, temp)
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
                    quantize_weights=request.quantize_weights, generated_by=producer(),
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


def _graph_from_graph(conversion: Conversion, model: GraphModel, notes: Notes) -> Written:
    request, source = conversion.request, conversion.source
    if source.format is conversion.target and not request.quantize and model.io_from != "given":
        noted = notes.mark()
        try:
            with conversion.output() as temp:
                copy_model_tree(source.graph.folder, temp)
                if drop_loop_control_edges(temp / "model.json"):
                    notes.warn("the control inputs of the graph's TF1-style loops, which TF.js's executeAsync cannot "
                               "schedule, were left out of the copy (they change no value)")
            return notes.written("graph")
        except VerifyError as error:  # the source itself does not run in TF.js: written anew, it may
            notes.rollback(noted)
            blamed = f"{error.culprit}: {error.reason}" if error.culprit else error.reason
            notes.warn(f"the source does not run in TF.js as it is ({blamed}); rewritten through TensorFlow and "
                       "the TF.js converter")
    with conversion.output() as temp:
        with tempfile.TemporaryDirectory(prefix="convkit-graph-") as scratch:
            saved_model = Path(scratch) / "saved_model"
            graph.write_saved_model(model, saved_model)
            _write_graph(conversion, saved_model, temp)
    return notes.written("graph")


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
            save_inference(serving, saved_model)
            _write_graph(conversion, saved_model, temp)
    return notes.written("graph")


def _write_graph(conversion: Conversion, saved_model: Path, temp: Path) -> None:
    request = conversion.request
    write_tfjs_graph(saved_model, temp, shard_size=conversion.shard_size, quantize=request.quantize,
                     quantize_weights=request.quantize_weights)

