"""What the writers of graphs share: a graph-level source read once, and written as a SavedModel or ONNX.

A source converts as a graph when its format's ``inference_graph`` is a
:class:`~convkit.graph_model.model.GraphSource` (TF.js graph models, TF.js 0.x
models, frozen ``.pb`` files, TF1 checkpoints with ``.meta``, TF1 SavedModels), or
a SavedModel without a Keras config that is asked for as a graph (``--inputs``,
``--outputs``, ``--signature``, ``--tag``, or a frozen ``.pb`` target). The writers
whose records say ``WriteOptions(graphs=True)`` take such sources: SavedModel,
frozen ``.pb``, TF.js, ONNX and TFLite. Keras targets refuse them with the source's
own ``refusal``: a graph holds TensorFlow ops, not Keras layers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from convkit._tf import silenced_stderr
from convkit.convert.conversion import Conversion, Notes
from convkit.errors import WriteError, error_text
from convkit.graph_model.model import INPUTS_FLAG, OUTPUTS_FLAG, GraphModel


def graph_model(conversion: Conversion, notes: Notes, *, as_graph: bool = False) -> GraphModel | None:
    """The source as a frozen graph, read once, its shapes required and what the rebuild did noted; None when the
    source does not convert as a graph (``as_graph``: a SavedModel without a Keras config does).

    Raises:
        UsageError: an input's shape is open beyond the batch (the message names ``--inputs``).
    """
    model = conversion.source.graph_model(as_graph=as_graph)
    if model is None:
        return None
    model.require_shapes()
    for note in model.notes:
        notes.warn(note)
    if "inferred" in model.io_from:
        notes.warn(f"inputs and outputs inferred from the graph: {', '.join(info.tensor for info in model.inputs)} -> "
                   f"{', '.join(info.tensor for info in model.outputs)} (name them with {INPUTS_FLAG}/{OUTPUTS_FLAG})")
    return model


def write_saved_model(model: GraphModel, target: Path) -> None:
    """A TF2 SavedModel of ``model`` at ``target``: one ``serving_default`` signature named as the graph names
    its inputs and outputs, the weights inside the function as constants.

    Raises:
        WriteError: TensorFlow cannot save it.
    """
    import tensorflow as tf

    from convkit.runtimes.graph import GraphFunction

    # While loops, not TF1-style ones: a function holding those cannot be inlined, which TF.js's converter needs.
    graph = GraphFunction(model, functional_loops=True)
    module = tf.Module()
    module.serve = graph.serving_function()
    try:
        tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve.get_concrete_function()})
    except (ValueError, TypeError, tf.errors.OpError) as error:
        raise WriteError(f"{model.source}: TensorFlow cannot save the graph as a SavedModel "
                         f"({error_text(error, limit=300)})") from None


def write_onnx(model: GraphModel, target: Path, *, opset: int) -> None:
    """ONNX through tf2onnx's own GraphDef route (what ``tf2onnx --graphdef`` runs), its inputs and outputs renamed
    to the graph's names (``image``, not ``image:0``); TF1-style loops are raised into ``While`` ops first, which
    is how tf2onnx takes a loop over TensorLists.

    Raises:
        WriteError: tf2onnx cannot convert the graph.
    """
    import tf2onnx

    from convkit.runtimes.graph import tf_graph_def

    graph_def = tf_graph_def(model, functional_loops=True)
    renames = {info.tensor: info.name for info in [*model.inputs, *model.outputs] if info.tensor != info.name}
    shapes = {info.tensor: list(info.shape) for info in model.inputs if info.shape_given and info.shape is not None}
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    tf2onnx.logging.set_level(logging.ERROR)
    try:
        with silenced_stderr(replay=False):
            tf2onnx.convert.from_graph_def(
                graph_def, input_names=[info.tensor for info in model.inputs],
                output_names=[info.tensor for info in model.outputs], opset=opset, shape_override=shapes or None,
                tensors_to_rename=renames or None, output_path=str(target))
    except Exception as error:  # tf2onnx raises bare Exceptions, ValueErrors and KeyErrors alike
        raise WriteError(f"{model.source}: tf2onnx cannot convert this graph to ONNX opset {opset} "
                         f"({type(error).__name__}: {error_text(error)})") from None


def lowered_tensor_list_loop(model: GraphModel) -> bool:
    """Whether the graph holds a TF1-style loop over TensorLists (what tf2onnx 1.17 converts into ONNX that
    onnxruntime cannot load, unless convkit raised the loop into a ``While`` op first)."""
    ops = {node.op for node in model.graph_def.node}
    return bool(ops & {"Enter", "NextIteration"}) and any(op.startswith("TensorList") for op in ops)
