"""TF.js graph models: tensorflowjs' SavedModel converter, on an inference SavedModel of the model.

The graph is rewritten where TF.js 4.22 lacks an op and an exact equivalent
exists, and the fusing pass is skipped where it would create a fused op TF.js
cannot run (see :func:`_graph_rewrites`).
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from convkit._tf import quiet_tensorflow
from convkit.convert.atomic import copy_model_tree
from convkit.convert.serving import from_live, recurrent_layers, save_inference, unrolled
from convkit.convert.writers.tfjs_batchnorm import add_node, folding_in_arrays, norms_from_batch_statistics
from convkit.errors import ConvkitError, ReadError, UnsafeModelError, WriteError, error_text
from convkit.graph_model.analysis import node_of, split_inputs
from convkit.keras_model.data import ModelData
from convkit.keras_model.dialect import generations_differ
from convkit.runtimes.keras.build import build_model


# Freezing a SavedModel's function and grappler's passes copy the graph several times over, weights included: on
# ConvNeXtBase (350 MB of weights) freezing peaked at 4.9 GiB and grappler at 7.8. In a graph whose constants hold
# HOLD_OUT_GRAPH_BYTES or more, each constant of HOLD_OUT_CONST_BYTES or more is kept aside as its bytes: in the
# frozen graph it is a zero of its shape, through grappler a placeholder of its shape, and after grappler the
# constant again. Nothing folds into a held-out weight (a batch norm into a large kernel stays a batch norm); the
# values are the same.
HOLD_OUT_CONST_BYTES = 1 << 20
HOLD_OUT_GRAPH_BYTES = 256 << 20


def export_for_graph(model: ModelData, target: Path, source: Path, allow_unsafe: bool) -> None:
    """An inference SavedModel of ``model`` for the TF.js graph converter, built in the Keras generation that reads
    the source.

    A Keras 3 source is built in tf_keras where tf_keras computes the same (tf_keras SavedModels convert to graphs
    TF.js runs, recurrent layers included; the while loops of Keras 3 ``export()`` graphs fail in TF.js 4.22),
    else in Keras 3. A Keras 2 source (tf_keras, Keras 2.x, TF.js layers) is built in tf_keras, else loaded whole
    by tf_keras as a user loads it; never in Keras 3, which computes some Keras 2 functions differently under the
    same name. The error is the reading generation's.
    """
    quiet_tensorflow()
    if model.generation == 3:
        generations = [3] if generations_differ(model.config) else [2, 3]
    else:
        generations = [2]
    # Recurrent layers over a fixed number of steps go unrolled: TF.js cannot run the while loop
    # of a Keras 3 LSTM's graph; an open number of steps cannot unroll, and keeps its loop.
    variants = [unrolled(model), model] if recurrent_layers(model) else [model]
    failure: ConvkitError | None = None
    for generation in generations:
        for variant in variants:
            try:
                live = build_model(variant, generation, source, allow_unsafe)
            except (ReadError, UnsafeModelError) as error:
                failure = error if failure is None or generation == model.generation else failure
                continue
            _save_for_graph(live, generation, target)
            return
    if model.generation != 3:
        live = _loaded_whole(source, allow_unsafe)
        if live is not None:
            _save_for_graph(live, 2, target)
            return
    # A Keras SavedModel carries its own serving graph: neither Keras generation needs to rebuild
    # the model (tf_keras ships classes such as ConvNeXt's LayerScale without exporting them).
    if (source / "saved_model.pb").is_file() and (source / "keras_metadata.pb").is_file():
        copy_model_tree(source, target)
        return
    assert failure is not None
    raise failure


def _save_for_graph(live: Any, generation: int, target: Path) -> None:
    save_inference(from_live(live, "Keras 3" if generation == 3 else "tf_keras"), target)


def _loaded_whole(source: Path, allow_unsafe: bool) -> Any:
    """The source as tf_keras loads the file itself, or None when tf_keras does not load it."""
    from convkit.runtimes.keras.runner import KerasModelRunner
    from convkit.runtimes.open import open_runner

    try:
        runner = open_runner(source, allow_unsafe=allow_unsafe)
        runner.load()
    except ConvkitError:
        return None
    if not isinstance(runner, KerasModelRunner) or runner.generation != 2:
        return None
    return runner.model


def write_tfjs_graph(
    saved_model: Path,
    target: Path,
    *,
    shard_size: int,
    quantize: str | None,
    quantize_weights: tuple[str, ...],
    hold_out_above: int = HOLD_OUT_GRAPH_BYTES,
) -> None:
    """A TF.js graph model of a SavedModel's ``serving_default`` signature (tensorflowjs converter API).

    The graph is rewritten where TF.js 4.22 lacks an op and an exact equivalent
    exists, and the fusing pass is skipped where it would create a fused op TF.js
    cannot run (see :func:`_graph_rewrites`). The large weights of a graph whose
    constants hold ``hold_out_above`` bytes or more stay out of the graph while
    it is frozen and optimised.
    """
    quiet_tensorflow()
    import tensorflow as tf
    from tensorflowjs.converters import tf_saved_model_conversion_v2 as converter

    if (saved_model / "saved_model.pb").is_file() and not (saved_model / "variables").is_dir() \
            and _saved_model_has_variables(saved_model):
        raise ReadError(f"{saved_model}: the SavedModel's variables/ folder is missing, so its weights cannot be read")
    quantization = None
    if quantize:
        quantization = {quantize: list(quantize_weights) if quantize_weights else True}
    try:
        # grappler logs from C++ whatever TF_CPP_MIN_LOG_LEVEL says
        with quiet_tensorflow(), _graph_rewrites(converter, hold_out_above), folding_in_arrays():
            converter.convert_tf_saved_model(
                str(saved_model),
                str(target),
                signature_def="serving_default",
                saved_model_tags="serve",
                quantization_dtype_map=quantization,
                weight_shard_size_bytes=shard_size,
            )
    except (ValueError, KeyError, RuntimeError, IndexError, tf.errors.OpError) as error:
        raise WriteError(f"{saved_model}: the TF.js graph converter failed ({error_text(error)})") from None
    drop_loop_control_edges(target / "model.json")


# TF1-style loop ops: a graph holding them runs in TF.js's dynamic executor (executeAsync).
_LOOP_OPS = frozenset({"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond"})


def drop_loop_control_edges(model_json: Path) -> bool:
    """Removes control inputs and the no-ops that only carry them from a graph model with TF1-style loops.

    TF.js reads a control input (``^node``) as a data input, and its dynamic executor never
    schedules a node whose "input" is a no-op grouping loop variables across frames (a lowered
    Keras 3 LSTM: "Cannot compute the outputs [Identity]"). In an inference graph of pure ops a
    control edge changes no value, so the written model runs with ``executeAsync`` instead.
    Returns whether anything was dropped.
    """
    import json

    document = json.loads(model_json.read_text())
    nodes = (document.get("modelTopology") or {}).get("node") or []
    if not any(node.get("op") in _LOOP_OPS for node in nodes):
        return False
    if not any(name.startswith("^") for node in nodes for name in node.get("input", [])):
        return False
    for node in nodes:
        if "input" in node:
            node["input"] = [name for name in node["input"] if not name.startswith("^")]
    document["modelTopology"]["node"] = [node for node in nodes if node.get("op") != "NoOp"]
    model_json.write_text(json.dumps(document))
    return True


def _saved_model_has_variables(saved_model: Path) -> bool:
    from convkit.formats.savedmodel import read_saved_model

    try:
        message = read_saved_model(saved_model)
        return any(node.WhichOneof("kind") == "variable"
                   for meta_graph in message.meta_graphs for node in meta_graph.object_graph_def.nodes)
    except Exception:  # unreadable: the converter's own error says more
        return False


# Activations TF.js 4.22 runs fused into _FusedConv2D / _FusedMatMul / FusedDepthwiseConv2dNative
# (tfjs-backend-cpu fused_utils.js); any other fused activation fails at run time.
TFJS_FUSED_ACTIVATIONS = frozenset({"linear", "relu", "elu", "relu6", "prelu", "leakyrelu", "sigmoid"})


_FUSED_OPS = frozenset({"_FusedConv2D", "_FusedMatMul", "FusedDepthwiseConv2dNative", "_FusedDepthwiseConv2dNative"})


@contextlib.contextmanager
def _graph_rewrites(converter: Any, hold_out_above: int = HOLD_OUT_GRAPH_BYTES) -> Iterator[None]:
    """Scopes three changes to the tensorflowjs converter's freezing and graph optimisation, restored on exit.

    - Ops TF.js lacks, replaced where an exact identity exists: ``Erfc(x) = 1 - Erf(x)``
      (exact GELU in Keras 3 graphs).
    - When the fusing pass (grappler ``remap``) creates a fused activation TF.js
      cannot run (fused hard-swish) or an op it lacks (``_MklLayerNorm``), the
      optimisation runs again without it.
    - In a graph whose constants hold ``hold_out_above`` bytes or more, the large ones stay out of the
      frozen graph and of grappler's passes (:func:`_frozen_holding_out`, :func:`_hold_out_weights`).
    """
    optimize = converter.optimize_graph
    grappler = converter._run_grappler
    freeze = converter._freeze_saved_model_v2
    held: dict[str, Any] = {}
    functions_frozen = 0

    def frozen(concrete_func: Any, control_flow_v2: bool = False) -> Any:
        # the first function frozen is the signature's; a later one (the tables' initializer) is written as frozen
        nonlocal functions_frozen
        functions_frozen += 1
        if functions_frozen > 1:
            return freeze(concrete_func, control_flow_v2)
        return _frozen_holding_out(concrete_func, not control_flow_v2, hold_out_above, held)

    def without_remap(config: Any, graph_def: Any, graph: Any, signature_def: Any) -> Any:
        rewrites = config.graph_options.rewrite_options
        rewrites.optimizers[:] = [name for name in rewrites.optimizers if name != "remap"]
        return grappler(config, graph_def, graph, signature_def)

    def rewritten(graph: Any, signature_def: Any, **options: Any) -> Any:
        graph = _hold_out_weights(_exact_rewrites(graph), hold_out_above, held)
        try:
            optimized = optimize(graph, signature_def, **options)
            retry = bool(_unrunnable_fusions(optimized))  # a held-out weight is a placeholder: a bias carrier
        except ValueError as error:  # the fusing pass made an op TF.js lacks (oneDNN's _MklLayerNorm)
            if "after optimization" not in str(error):
                raise
            retry = True
        if retry:
            converter._run_grappler = without_remap
            try:
                optimized = optimize(graph, signature_def, **options)
            finally:
                converter._run_grappler = grappler
        _put_back_weights(optimized, held)
        _rank1_fused_bias(optimized)
        return optimized

    converter.optimize_graph = rewritten
    converter._freeze_saved_model_v2 = frozen
    try:
        yield
    finally:
        converter.optimize_graph = optimize
        converter._run_grappler = grappler
        converter._freeze_saved_model_v2 = freeze


def _frozen_holding_out(func: Any, lower_control_flow: bool, above: int, held: dict[str, Any]) -> Any:
    """The graph tensorflowjs freezes a SavedModel's function into (``convert_variables_to_constants_v2`` with
    aggressive inlining), each large constant a zero of its shape, its bytes in ``held``, when its constants hold
    ``above`` bytes or more."""
    from tensorflow.python.framework import convert_to_constants as freezing

    data = freezing._FunctionConverterDataInEager(func=func, lower_control_flow=lower_control_flow,
                                                  aggressive_inlining=True)
    graph_def, converted = freezing._replace_variables_by_constants(converter_data=data)
    del data  # the variables' values, read for the constants
    large, total = _large_constants(graph_def)
    if total >= above:
        from tensorflow.python.framework import tensor_util

        for node in _read_as_constants(graph_def, large):
            value = node.attr["value"].tensor
            held[node.name] = _kept_aside(value)
            shape = [dim.size for dim in value.tensor_shape.dim]
            value.CopyFrom(tensor_util.make_tensor_proto(0, dtype=value.dtype, shape=shape))  # one value, stored once
    return freezing._construct_concrete_function(func, graph_def, converted).graph


def _read_as_constants(graph_def: Any, constants: list[Any]) -> list[Any]:
    """Each constant that only a chain of ``Identity`` nodes reads (a captured variable, then its read), moved into
    the chain's last node: the constant grappler makes of them, under the read's name (``.../Conv2D/ReadVariableOp``,
    not the capture's ``unknown_12``), which it cannot make of a placeholder. Returns the constants as they now are."""
    readers: dict[str, list[Any]] = {}
    for node in graph_def.node:
        for name in node.input:
            readers.setdefault(node_of(name), []).append(node)
    moved: dict[str, str] = {}
    result = []
    for node in constants:
        chain, control = [node], []
        while True:
            users = readers.get(chain[-1].name, [])
            if len(users) != 1 or users[0].op != "Identity":
                break
            data, more = split_inputs(users[0])
            if [node_of(name) for name in data] != [chain[-1].name]:
                break
            chain.append(users[0])
            control.extend(more)
        read = chain[-1]
        if read is node:
            result.append(node)
            continue
        read.op = "Const"
        del read.input[:]
        read.input.extend(dict.fromkeys(control))
        del read.attr["T"]
        read.attr["dtype"].CopyFrom(node.attr["dtype"])
        read.attr["value"].CopyFrom(node.attr["value"])
        moved.update((link.name, read.name) for link in chain[:-1])
        result.append(read)
    for index in reversed([index for index, node in enumerate(graph_def.node) if node.name in moved]):
        del graph_def.node[index]
    for node in graph_def.node:  # colocation with a node moved away: with the node it went to
        if "_class" in node.attr:
            places = [f"loc:@{moved.get(entry.decode()[5:], entry.decode()[5:])}" for entry in node.attr["_class"].list.s]
            places = [place for place in dict.fromkeys(places) if place != f"loc:@{node.name}"]
            del node.attr["_class"]
            if places:
                node.attr["_class"].list.s.extend(place.encode() for place in places)
    return result


def _kept_aside(value: Any) -> tuple[int, bytes, bytes]:
    """A constant's TensorProto as (dtype, serialized shape, bytes): what :func:`_put_back_weights` rebuilds."""
    return value.dtype, value.tensor_shape.SerializeToString(), value.tensor_content


def _large_constants(graph_def: Any) -> tuple[list[Any], int]:
    """The graph's constants of HOLD_OUT_CONST_BYTES or more, and their bytes in all."""
    large = [node for node in graph_def.node
             if node.op == "Const" and len(node.attr["value"].tensor.tensor_content) >= HOLD_OUT_CONST_BYTES]
    return large, sum(len(node.attr["value"].tensor.tensor_content) for node in large)


def _hold_out_weights(graph: Any, above: int, held: dict[str, Any]) -> Any:
    """``graph`` with the constants ``held`` stands in for, and its other large constants when they hold ``above``
    bytes or more (a graph frozen by TF1's means), as placeholders of their shape; the graph as it is otherwise."""
    graph_def = graph.as_graph_def()
    large, total = _large_constants(graph_def)
    if not held and total < above:
        return graph
    standing_in = [node for node in graph_def.node if node.op == "Const" and node.name in held]
    for node in [*standing_in, *(node for node in large if node.name not in held)]:
        value = node.attr["value"].tensor
        if node.name not in held:
            held[node.name] = _kept_aside(value)
        node.attr["shape"].shape.CopyFrom(value.tensor_shape)
        del node.attr["value"]
        node.op = "Placeholder"
    return _graph_of(graph_def)


def _put_back_weights(graph_def: Any, held: dict[str, Any]) -> None:
    """Turns the placeholders :func:`_hold_out_weights` made back into their constants (those grappler kept), once
    grappler is done with the graph."""
    if not held:
        return
    for node in graph_def.node:
        if node.name not in held:
            continue
        if node.op != "Placeholder":  # a stand-in that went round grappler: its zeros must not be written
            raise ValueError(f"the weight {node.name!r} came out of grappler as a {node.op} node")  # named with the
            # SavedModel by write_tfjs_graph
        dtype, shape, content = held.pop(node.name)  # the bytes live once: in the graph from here on
        del node.attr["shape"]
        node.op = "Const"
        tensor = node.attr["value"].tensor
        tensor.dtype = dtype
        tensor.tensor_shape.ParseFromString(shape)
        tensor.tensor_content = content


def _exact_rewrites(graph: Any) -> Any:
    import tensorflow as tf

    graph_def = graph.as_graph_def()
    changed = _inline_conv_calls(graph_def)
    if changed:
        graph = _graph_of(graph_def)
        graph_def = graph.as_graph_def()
    changed = _depthwise_for_grouped(graph, graph_def) or changed
    changed = norms_from_batch_statistics(graph_def) or changed
    changed = _band_parts_in_ops(graph_def) or changed
    erfc = [node for node in graph_def.node if node.op == "Erfc"]
    if not erfc and not changed:
        return graph
    for node in erfc:
        data, control = split_inputs(node)
        dtype = node.attr["T"].type
        erf = add_node(graph_def, node.name, "erf", "Erf", data, T=dtype)
        one = add_node(graph_def, node.name, "one", "Const", [], value=np.asarray(1, tf.as_dtype(dtype).as_numpy_dtype))
        node.op = "Sub"
        del node.input[:]
        node.input.extend([one, erf, *control])
    return _graph_of(graph_def)


def _band_parts_in_ops(graph_def: Any) -> bool:
    """Replaces each band part with constant bounds (a causal attention mask) by the comparisons it makes: TF.js
    4.22 reads its upper bound from the lower one's input, so a lower triangle came out whole (each step
    attended to the later ones)."""
    import tensorflow as tf

    nodes = {node.name: node for node in graph_def.node}
    index, boolean = tf.int32.as_datatype_enum, tf.bool.as_datatype_enum
    changed = False
    for node in list(graph_def.node):
        if node.op != "MatrixBandPart":
            continue
        data, control = split_inputs(node)
        bounds = [found for name in data[1:3] if (found := nodes.get(node_of(name))) is not None
                  and found.op == "Const"]
        if len(data) != 3 or len(bounds) != 2:
            continue
        lower, upper = (int(tf.make_ndarray(bound.attr["value"].tensor)) for bound in bounds)
        add = functools.partial(add_node, graph_def, node.name)
        shape = add("shape", "Shape", [data[0]], T=node.attr["T"].type, out_type=index)
        ends = [add(f"{end}_{axis}", "Const", [], value=np.asarray([axis + offset], np.int32))
                for axis in (-2, -1) for end, offset in (("begin", 0), ("end", 1))]
        one = add("one", "Const", [], value=np.asarray([1], np.int32))
        zero = add("zero", "Const", [], value=np.asarray(0, np.int32))
        step = add("step", "Const", [], value=np.asarray(1, np.int32))
        counts = []
        for axis, (begin, end) in zip(("rows", "columns"), (ends[:2], ends[2:])):
            size = add(f"{axis}_size", "StridedSlice", [shape, begin, end, one], T=index, Index=index,
                       shrink_axis_mask=(1,), end_mask=(1,) if axis == "columns" else (0,))
            counts.append(add(axis, "Range", [zero, size, step], Tidx=index))
        rows = add("rows_column", "ExpandDims", [counts[0], add("axis1", "Const", [], value=np.asarray(1, np.int32))],
                   T=index, Tdim=index)
        below = add("below", "Sub", [rows, counts[1]], T=index)  # row - column
        conditions = []
        if lower >= 0:
            conditions.append(add("lower", "LessEqual", [below, add("lower_bound", "Const", [], value=np.asarray(
                lower, np.int32))], T=index))
        if upper >= 0:
            conditions.append(add("upper", "GreaterEqual", [below, add("upper_bound", "Const", [], value=np.asarray(
                -upper, np.int32))], T=index))
        dtype = node.attr["T"].type
        for key in list(node.attr):
            del node.attr[key]
        del node.input[:]
        if not conditions:  # both bounds open: the matrix itself
            node.op = "Identity"
            node.attr["T"].type = dtype
            node.input.extend([data[0], *control])
        else:
            band = conditions[0] if len(conditions) == 1 else add("band", "LogicalAnd", conditions)
            if dtype == boolean:
                node.op = "LogicalAnd"
                node.input.extend([data[0], band, *control])
            else:
                node.op = "SelectV2"
                node.attr["T"].type = dtype
                zeros = add("zeros", "ZerosLike", [data[0]], T=dtype)
                node.input.extend([band, data[0], zeros, *control])
        changed = True
    return changed


def _graph_of(graph_def: Any) -> Any:
    import tensorflow as tf

    rebuilt = tf.Graph()
    with rebuilt.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
    return rebuilt


_CONV_ATTRS = ("T", "strides", "padding", "data_format", "dilations", "explicit_paddings")


def _inline_conv_calls(graph_def: Any) -> bool:
    """Replaces calls of functions holding one Conv2D (Keras 3 compiles grouped convolutions with XLA,
    which freezing cannot inline) by that Conv2D."""
    functions = {function.signature.name: function for function in graph_def.library.function}
    changed = False
    for node in graph_def.node:
        if node.op not in ("StatefulPartitionedCall", "PartitionedCall"):
            continue
        function = functions.get(node.attr["f"].func.name)
        if function is None or {n.op for n in function.node_def} - {"Conv2D", "Identity", "NoOp"}:
            continue
        convs = [n for n in function.node_def if n.op == "Conv2D"]
        if len(convs) != 1:
            continue
        arguments = {arg.name: name for arg, name in zip(function.signature.input_arg,
                                                         split_inputs(node)[0])}
        identities = {n.name: n.input[0] for n in function.node_def if n.op == "Identity"}
        inputs = [_argument_of(reference, arguments, identities)
                  for reference in split_inputs(convs[0])[0]]
        if len(inputs) != 2 or None in inputs:
            continue
        attrs = {key: convs[0].attr[key] for key in _CONV_ATTRS if key in convs[0].attr}
        node.op = "Conv2D"
        del node.input[:]
        node.input.extend(inputs)
        node.attr.clear()
        for key, value in attrs.items():
            node.attr[key].CopyFrom(value)
        changed = True
    return changed


def _argument_of(reference: str, arguments: dict[str, str], identities: dict[str, str]) -> str | None:
    """The call's input a function-internal tensor reference stands for, through Identity nodes."""
    name = node_of(reference)
    while name not in arguments and name in identities:
        name = node_of(identities[name])
    return arguments.get(name)


def _depthwise_for_grouped(graph: Any, graph_def: Any) -> bool:
    """A Conv2D with one input channel per group and one filter per group (ConvNeXt's depthwise
    convolution written as Conv2D(groups=channels)) is a DepthwiseConv2dNative with the kernel's
    last two axes swapped, which TF.js runs; TF.js has no grouped Conv2D."""
    import tensorflow as tf

    changed = False
    by_name = {node.name: node for node in graph_def.node}
    for operation in graph.get_operations():
        if operation.type != "Conv2D" or operation.get_attr("data_format") != b"NHWC":
            continue
        channels = operation.inputs[0].shape[-1] if operation.inputs[0].shape.rank else None
        kernel = operation.inputs[1].shape
        if channels is None or kernel.rank != 4 or kernel[2] != 1 or kernel[3] != channels or channels == 1:
            continue
        node = by_name[operation.name]
        shape = graph_def.node.add(name=f"{node.name}/convkit_depthwise_shape", op="Const")
        shape.attr["dtype"].type = tf.int32.as_datatype_enum
        shape.attr["value"].tensor.CopyFrom(tf.make_tensor_proto([kernel[0], kernel[1], channels, 1], dtype=tf.int32))
        reshape = graph_def.node.add(name=f"{node.name}/convkit_depthwise_kernel", op="Reshape",
                                     input=[node.input[1], shape.name])
        reshape.attr["T"].CopyFrom(node.attr["T"])
        reshape.attr["Tshape"].type = tf.int32.as_datatype_enum
        node.op = "DepthwiseConv2dNative"
        node.input[1] = reshape.name
        for key in [key for key in node.attr if key not in _CONV_ATTRS]:
            del node.attr[key]
        changed = True
    return changed


def _rank1_fused_bias(graph_def: Any) -> None:
    """Gives each fused op a rank-1 bias where its bias is a ``[1, ..., 1, C]`` constant.

    Keras 3 batch normalisation after a convolution folds into a fused convolution
    whose bias has the broadcast shape ``[1, 1, 1, C]``; TF.js runs only rank-1
    biases ("FusedConv2D only supports rank-1 bias"). The values are the same.
    """
    import tensorflow as tf

    nodes = {node.name: node for node in graph_def.node}
    flattened: dict[str, str] = {}
    for node in list(graph_def.node):
        if node.op not in _FUSED_OPS:
            continue
        data = [index for index, name in enumerate(node.input) if not name.startswith("^")]
        if len(data) < 3:
            continue
        index = data[2]
        name = node.input[index]
        if name not in flattened:
            const = nodes.get(name.split(":")[0])
            if const is None or const.op != "Const" or name.count(":") and not name.endswith(":0"):
                continue
            value = tf.make_ndarray(const.attr["value"].tensor)
            if value.ndim <= 1 or any(size != 1 for size in value.shape[:-1]):
                continue
            flat = graph_def.node.add(name=f"{const.name}/convkit_rank1", op="Const")
            flat.attr["dtype"].CopyFrom(const.attr["dtype"])
            flat.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value.reshape(-1)))
            flattened[name] = flat.name
        node.input[index] = flattened[name]


# Ops that pass a stored bias along unchanged (into and around loops); a fused op's bias computed
# by anything else (the recurrent MatMul of an LSTM step, fused as x @ W + h @ U) is a full tensor.
_BIAS_CARRIERS = frozenset({"Const", "Identity", "Switch", "Enter", "Merge", "NextIteration", "ReadVariableOp",
                            "Placeholder", "Exit"})


def _unrunnable_fusions(graph_def: Any) -> list[str]:
    found = []
    producers = {node.name: node.op for node in graph_def.node}
    for node in graph_def.node:
        if node.op in _FUSED_OPS and "fused_ops" in node.attr:
            names = [item.decode().lower() for item in node.attr["fused_ops"].list.s]
            if "fusedbatchnorm" in names:  # TF.js: "FusedConv2d ... with FusedBatchNorm is not supported"
                found.append(node.name)
                continue
            activations = [name for name in names if name not in ("biasadd", "add")]
            if any(name not in TFJS_FUSED_ACTIVATIONS for name in activations):
                found.append(node.name)
                continue
            data = [name for name in node.input if not name.startswith("^")]
            if names[:1] in (["biasadd"], ["add"]) and len(data) >= 3:
                producer = producers.get(data[2].split(":")[0].lstrip("^"))
                if producer is not None and producer not in _BIAS_CARRIERS:
                    found.append(node.name)  # TF.js runs only rank-1 biases
    return found
