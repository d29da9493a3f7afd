"""The frozen GraphDef writer (``--to pb``): one ``GraphDef`` whose weights are constants.

A source that converts as a graph (:mod:`convkit.convert.writers.graph`; a
SavedModel without a Keras config included) is written as its graph, pruned to
what the outputs need, its input and output nodes keeping their names. Any
other source is served as one function (:mod:`convkit.convert.serving`: a Keras
model built live) and frozen by TensorFlow, each output given an ``Identity``
node named after it. The file is smoke-run in TensorFlow before it appears.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit._tf import quiet_tensorflow
from convkit.convert.conversion import Conversion, Written
from convkit.convert.serving import Serving, serving_of
from convkit.convert.writers.graph import graph_model
from convkit.errors import WriteError, error_text


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as a frozen ``.pb``; returns ``frozen-graph``."""
    notes = conversion.notes()
    model = graph_model(conversion, notes, as_graph=True)
    if model is not None:
        graph_def = model.pruned()
    else:
        serving, _unrolled = serving_of(conversion, notes)
        graph_def = freeze_serving(serving, conversion.request.src)
    with conversion.output() as temp:
        temp.write_bytes(graph_def.SerializeToString())
    return notes.written("frozen-graph")


def freeze_serving(serving: Serving, source: Path) -> Any:
    """The serving function frozen: placeholders named as its inputs, ``Identity`` nodes named as its outputs.

    Raises:
        WriteError: TensorFlow cannot freeze it.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    names = list(serving.output_names)
    call = serving.call

    @tf.function(input_signature=serving.specs())
    def serve(*inputs: Any) -> list[Any]:
        return list(call(list(inputs)))

    try:
        with quiet_tensorflow():  # grappler's C++ log lines, whatever the log level
            frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    except (ValueError, TypeError, tf.errors.OpError) as error:
        raise WriteError(f"{source}: TensorFlow cannot freeze the model ({error_text(error, limit=300)})") from None
    graph_def = frozen.graph.as_graph_def()
    taken = {node.name for node in graph_def.node}
    for name, tensor in zip(names, frozen.outputs):
        node_name = name if name not in taken else f"{name}_output"
        if node_name in taken:
            continue
        node = graph_def.node.add(name=node_name, op="Identity", input=[tensor.name])
        node.attr["T"].type = tensor.dtype.as_datatype_enum
        taken.add(node_name)
    return graph_def
