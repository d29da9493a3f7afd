"""The ONNX writer: convkit's own from the Keras config where it covers the model, tf2onnx otherwise.

The native writer (:mod:`convkit.convert.writers.onnx_native`) makes the ONNX
graph from the model's config and streams its weights, without TensorFlow.
Where it has no exact form for a layer, and for SavedModels without a Keras
config, tf2onnx (``from_function``) converts the function of
:mod:`convkit.convert.serving`; either way the graph's inputs and outputs
carry the Keras names and the batch dimension stays open. A source that
converts as a graph (a TF.js graph model, a frozen ``.pb``, a TF1 checkpoint)
goes through tf2onnx's GraphDef route instead
(:func:`convkit.convert.writers.graph.write_onnx`), its names kept. Like every
output, the written file is smoke-run in onnxruntime before it is renamed
into place: a file that onnxruntime refuses is an error, not an output.
"""

from __future__ import annotations

import logging
from pathlib import Path

from convkit._tf import silenced_stderr
from convkit.convert.conversion import Conversion, Notes, Written
from convkit.convert.serving import Serving, serving_of
from convkit.convert.writers import graph, producer
from convkit.errors import UsageError, VerifyError, WriteError, error_text
from convkit.graph_model.model import GraphModel


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as an ONNX model; returns ``native-opset-N`` or ``tf2onnx-opset-N``.

    The request's ``route`` forces a writer: ``native`` on a model the native writer does not
    cover is a UsageError naming the layer. Without one, a model it does not cover goes through
    tf2onnx with a warning naming the first layer that sent it there.
    """
    notes = conversion.notes()
    request, source = conversion.request, conversion.source
    model = graph.graph_model(conversion, notes)
    if request.route == "native" and (model is not None or source.graph is not None):
        raise UsageError(f"{request.src}: an inference graph without a Keras config holds no layers for the native "
                         "ONNX writer; use --onnx-route tf2onnx")
    if model is not None:
        _write_graph(conversion, model)
        return notes.written(f"tf2onnx-opset-{conversion.opset}")
    if request.route != "tf2onnx" and source.graph is None:
        written = _write_native(conversion, notes)
        if written is not None:
            return written
    serving, _unrolled = serving_of(conversion, notes)
    with conversion.output() as temp:
        write_onnx(serving, temp, request.src, opset=conversion.opset)
    return notes.written(f"tf2onnx-opset-{conversion.opset}")


def _write_native(conversion: Conversion, notes: Notes) -> Written | None:
    """Writes the Keras source through the native writer; None where it does not cover the model."""
    from convkit.convert.writers import onnx_native

    model = conversion.source.model()
    try:
        onnx_graph = onnx_native.build(model, conversion.opset)
    except onnx_native.Uncovered as error:
        if conversion.request.route == "native":
            raise UsageError(f"{conversion.request.src}: the native ONNX writer does not cover {error}; "
                             "use --onnx-route tf2onnx") from None
        notes.warn(f"the native ONNX writer does not cover {error}; tf2onnx wrote the model")
        return None
    notes.optimizer(model, carried=False)
    with conversion.output() as temp:
        onnx_graph.write(temp, producer=producer(), progress=conversion.say)
    return notes.written(f"native-opset-{conversion.opset}")


def _write_graph(conversion: Conversion, model: GraphModel) -> None:
    """Writes a graph-level source through tf2onnx's GraphDef route."""
    try:
        with conversion.output() as temp:
            graph.write_onnx(model, temp, opset=conversion.opset)
    except VerifyError as error:
        if graph.lowered_tensor_list_loop(model):
            raise WriteError(
                f"{conversion.request.src}: tf2onnx 1.17 cannot convert a TF1-style while loop over TensorLists "
                "into ONNX that onnxruntime loads, and this graph's loops do not follow the pattern convkit raises "
                f"into While ops (nested loops) ({error.reason}); convert the model with --control_flow_v2 or "
                "from its Keras or SavedModel source") from None
        raise


def write_onnx(serving: Serving, target: Path, source: Path, *, opset: int) -> None:
    """Writes ``serving`` as an ONNX model at ``target``.

    Args:
        serving: the model as a named function.
        target: the ``.onnx`` file to write (does not exist yet).
        source: the source path, for messages.
        opset: ONNX opset.

    Raises:
        WriteError: tf2onnx cannot convert the model.
    """
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    tf2onnx.logging.set_level(logging.ERROR)
    try:
        with silenced_stderr(replay=False):
            tf2onnx.convert.from_function(serving.function(), input_signature=serving.specs(), opset=opset,
                                          output_path=str(target))
    except Exception as error:  # tf2onnx raises bare Exceptions, ValueErrors and KeyErrors alike
        raise WriteError(f"{source}: tf2onnx cannot convert this model to ONNX opset {opset} "
                         f"({type(error).__name__}: {error_text(error)})") from None
