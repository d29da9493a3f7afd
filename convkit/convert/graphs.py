"""The graph route: graph-level sources written as SavedModel, frozen ``.pb``, TF.js graph model, ONNX or TFLite.

A source whose format record names a ``graph_reader`` (TF.js graph models, TF.js
0.x models, frozen ``.pb`` files, TF1 checkpoints with ``.meta``, TF1 SavedModels)
is read into a :class:`~convkit.graphdef.model.GraphModel` once, without running
anything from it, and the target's record names the writer that takes it
(``graph_writer``). Keras targets have none: a graph holds TensorFlow ops, not the
Keras layers those files store, and the refusal says so.

Also here: the frozen ``.pb`` writer for every other source (a Keras model or a
SavedModel signature frozen by TensorFlow).
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convkit import registry
from convkit.convert.atomic import atomic_output, copy_model_tree
from convkit.errors import UsageError, VerifyError, WriteError, error_text
from convkit.graphdef.model import INPUTS_FLAG, OUTPUTS_FLAG, GraphModel, parse_requests

if TYPE_CHECKING:
    from convkit.convert.engine import Job

GRAPH_OPTIONS = ("inputs", "outputs", "signature", "tag")


def takes_graph_route(job: Job) -> bool:
    """Whether ``job``'s source converts as a graph: its format holds one and it is not read as a Keras model."""
    record = registry.get_format(job.src_format)
    if record.graph_reader is None:
        return False
    if job.options["like"] is not None and record.reader is not None:
        return False  # --like maps the variables into a Keras architecture instead
    if any(job.options.get(option) for option in GRAPH_OPTIONS):
        return True
    return record.is_graph is None or record.is_graph(job.src)


def read_graph(job: Job) -> GraphModel:
    """The source as a ``GraphModel``, with the user's ``--inputs``/``--outputs``/``--signature``/``--tag``."""
    reader = registry.get_format(job.src_format).resolve("graph_reader")
    assert reader is not None
    model: GraphModel = reader(job.src, inputs=parse_requests(job.options.get("inputs"), INPUTS_FLAG),
                               outputs=parse_requests(job.options.get("outputs"), OUTPUTS_FLAG),
                               signature=job.options.get("signature"), tag=job.options.get("tag"))
    return model


def route(job: Job) -> str | None:
    """Writes a graph-level source through the target's ``graph_writer``; None when the source is not one."""
    if not takes_graph_route(job):
        given = [f"--{option}" for option in GRAPH_OPTIONS if job.options.get(option)]
        if given:
            graphs = ", ".join(fmt.name for fmt in registry.formats() if fmt.graph_reader)
            verb = "applies" if len(given) == 1 else "apply"
            raise UsageError(f"{job.src}: {' and '.join(given)} {verb} to sources converted as graphs ({graphs}; "
                             "without --like), not to this one")
        return None
    if job.options["like"] is not None:
        raise UsageError(f"{job.src}: --like applies to weights-only sources; this {job.src_format} file "
                         "converts as a graph")
    target = registry.get_format(job.target)
    writer = target.resolve("graph_writer")
    if writer is None:
        able = [fmt.name for fmt in registry.formats() if fmt.graph_writer]
        raise UsageError(f"{job.src}: holds a TensorFlow graph and no Keras layers, so convkit cannot write it as "
                         f"{target.name}, a format for Keras models; convert it to {', '.join(able[:-1])} or {able[-1]}")
    model = read_graph(job)
    model.require_shapes()
    job.warnings.extend(model.notes)
    if "inferred" in model.io_from:
        job.warnings.append(
            f"inputs and outputs inferred from the graph: {', '.join(i.tensor for i in model.inputs)} -> "
            f"{', '.join(o.tensor for o in model.outputs)} (name them with {INPUTS_FLAG}/{OUTPUTS_FLAG})")
    kind: str = writer(job, model)
    return kind


def savedmodel_from_graph(job: Job, model: GraphModel) -> str:
    """A TF2 SavedModel with a ``serving_default`` signature named as the graph names its inputs and outputs."""
    from convkit.graphdef.live import write_saved_model

    with job.output() as temp:
        write_saved_model(model, temp)
    return "graph"


def pb_from_graph(job: Job, model: GraphModel) -> str:
    """The graph itself, pruned to what the outputs need, as a frozen ``.pb``."""
    with job.output() as temp:
        temp.write_bytes(model.pruned().SerializeToString())
    return "frozen-graph"


def tfjs_from_graph(job: Job, model: GraphModel) -> str:
    """A TF.js graph model: a copy of a TF.js graph source, else tensorflowjs' converter over a SavedModel of it."""
    from convkit.convert import writers

    if job.options["tfjs_kind"] == "layers":
        raise UsageError(f"{job.src}: TF.js layers models hold Keras layers; a graph converts to --tfjs-kind graph only")
    same_format = registry.get_format(job.src_format).name == registry.get_format(job.target).name
    if same_format and not job.options["quantize"] and model.io_from != "given":
        try:
            with job.output() as temp:
                copy_model_tree(job.src if job.src.is_dir() else job.src.parent, temp)
                if writers.drop_loop_control_edges(temp / "model.json"):
                    job.warnings.append("the control inputs of the graph's TF1-style loops, which TF.js's executeAsync "
                                        "cannot schedule, were left out of the copy (they change no value)")
            return "graph"
        except VerifyError as error:  # the source itself does not run in TF.js: written anew, it may
            blamed = f"{error.culprit}: {error.reason}" if error.culprit else error.reason
            job.warnings.append(f"the source does not run in TF.js as it is ({blamed}); rewritten through "
                                "TensorFlow and the TF.js converter")
    from convkit.graphdef.live import write_saved_model

    with job.output() as temp:
        with tempfile.TemporaryDirectory(prefix="convkit-graph-") as scratch:
            saved_model = Path(scratch) / "saved_model"
            write_saved_model(model, saved_model)
            writers.write_tfjs_graph(saved_model, temp, shard_size=job.options["shard_size"],
                                     quantize=job.options["quantize"], quantize_weights=job.options["quantize_weights"])
    return "graph"


def onnx_from_graph(job: Job, model: GraphModel) -> str:
    """ONNX through tf2onnx's own GraphDef route, inputs and outputs renamed to the graph's names."""
    import logging

    import tf2onnx

    from convkit.convert.to_onnx import check_opset, run_once
    from convkit.graphdef.live import tf_graph_def
    from convkit._tf import silenced_stderr

    opset = check_opset(job.options["opset"])
    graph_def = tf_graph_def(model, functional_loops=True)  # tf2onnx reads TensorList loops only as While ops
    renames = {info.tensor: info.name for info in [*model.inputs, *model.outputs] if info.tensor != info.name}
    shapes = {info.tensor: list(info.shape)
              for info in model.inputs if info.shape_given and info.shape is not None}
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    tf2onnx.logging.set_level(logging.ERROR)
    with atomic_output(job.out, job.options["overwrite"]) as temp:
        try:
            with silenced_stderr(replay=False):
                tf2onnx.convert.from_graph_def(
                    graph_def, input_names=[info.tensor for info in model.inputs],
                    output_names=[info.tensor for info in model.outputs], opset=opset,
                    shape_override=shapes or None, tensors_to_rename=renames or None, output_path=str(temp))
        except Exception as error:  # tf2onnx raises bare Exceptions, ValueErrors and KeyErrors alike
            raise WriteError(f"{job.src}: tf2onnx cannot convert this graph to ONNX opset {opset} "
                             f"({type(error).__name__}: {error_text(error)})") from None
        try:
            run_once(temp)
        except WriteError as error:
            if _lowered_tensor_list_loop(model):
                raise WriteError(
                    f"{job.src}: tf2onnx 1.17 cannot convert a TF1-style while loop over TensorLists into ONNX that "
                    "onnxruntime loads, and this graph's loops do not follow the pattern convkit raises into While "
                    f"ops (nested loops) ({error}); convert the model with --control_flow_v2 or from its Keras or "
                    "SavedModel source") from None
            raise
    return f"opset-{opset}"


def _lowered_tensor_list_loop(model: GraphModel) -> bool:
    ops = {node.op for node in model.graph_def.node}
    return bool(ops & {"Enter", "NextIteration"}) and any(op.startswith("TensorList") for op in ops)


def serving_of(model: GraphModel) -> Any:
    """The graph as the ``Serving`` function the TFLite writer converts."""
    from convkit.convert.serving import Serving
    from convkit.graphdef.live import GraphFunction

    import tensorflow as tf

    graph = GraphFunction(model, functional_loops=True)  # the TFLite converter lowers While loops to builtin ops
    owner = tf.Module()  # the TFLite converter writes a signature only for functions of a trackable object
    owner.graph = graph
    return Serving(
        input_names=graph.input_names,
        output_names=graph.output_names,
        input_shapes=[tuple(shape[1:]) if shape else () for shape in graph.input_shapes],
        input_dtypes=graph.input_dtypes,
        call=graph,
        owner=owner,
        origin=model.origin,
    )


def tflite_from_graph(job: Job, model: GraphModel) -> str:
    """TFLite through TensorFlow's converter on the graph's function, by the first route LiteRT runs."""
    from convkit.convert.to_tflite import write_tflite

    quantize = job.options["quantize"]
    with atomic_output(job.out, job.options["overwrite"]) as temp:
        written = write_tflite(serving_of(model), temp, job.src, quantize=quantize)
    job.warnings.extend(written.warnings)
    return f"{written.kind}-{quantize}" if quantize else written.kind


def to_pb(job: Job) -> str:
    """A frozen ``.pb`` of any other source: its serving function (a Keras model's, or a SavedModel's signature)
    frozen by TensorFlow, each output given an ``Identity`` node named after it."""
    from convkit.convert.routes import serving_source

    with contextlib.ExitStack() as stack:
        serving, _ = serving_source(job, stack)
        graph_def = freeze_serving(serving, job.src)
        with job.output() as temp:
            temp.write_bytes(graph_def.SerializeToString())
    return "frozen-graph"


def freeze_serving(serving: Any, source: Path) -> Any:
    """The serving function frozen: placeholders named as its inputs, ``Identity`` nodes named as its outputs."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    names = list(serving.output_names)
    call = serving.call

    @tf.function(input_signature=serving.specs())
    def serve(*inputs: Any) -> list[Any]:
        return list(call(list(inputs)))

    try:
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
