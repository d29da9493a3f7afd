"""Batch normalisation folded into the convolution before it, for the TF.js graph converter, in array operations.

The tensorflowjs converter folds each inference batch norm that follows a ``Conv2D`` or
``DepthwiseConv2dNative`` (a bias add between them allowed) into the convolution's weights
and a ``BiasAdd``, scaling the weights one element at a time in Python: about 1.5 s per
million weights, 6 s of an 18 s EfficientNetB0 conversion and minutes on the largest
EfficientNets. :func:`fold_batch_norms` makes the same graph, node for node and name for
name, with the weights scaled as whole arrays; :func:`folding_in_arrays` puts it in the
converter's place for a conversion.

A batch norm in training mode normalises by its input's own statistics: tf_keras computes
``LayerNormalization`` so (when its epsilon is at least 1.001e-5, the default 1e-3
included). TF.js runs every batch norm with the given statistics, which are empty there,
and outputs NaN; :func:`norms_from_batch_statistics` computes those as TF.js can.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator

import numpy as np

from convkit.graph_model.analysis import node_of

BATCH_NORMS = ("BatchNormWithGlobalNormalization", "FusedBatchNorm", "FusedBatchNormV3")
# which input of each batch norm op is which
_INPUTS = {
    "BatchNormWithGlobalNormalization": {"conv": 0, "mean": 1, "var": 2, "beta": 3, "gamma": 4},
    "FusedBatchNorm": {"conv": 0, "gamma": 1, "beta": 2, "mean": 3, "var": 4},
    "FusedBatchNormV3": {"conv": 0, "gamma": 1, "beta": 2, "mean": 3, "var": 4},
}
_EPSILON = {"BatchNormWithGlobalNormalization": "variance_epsilon", "FusedBatchNorm": "epsilon",
            "FusedBatchNormV3": "epsilon"}
_CONVOLUTIONS = ("Conv2D", "DepthwiseConv2dNative")
_ADDS = ("BiasAdd", "Add", "AddV2")


@contextlib.contextmanager
def folding_in_arrays() -> Iterator[None]:
    """Scopes :func:`fold_batch_norms` in place of the tensorflowjs converter's own, restored on exit."""
    from tensorflowjs.converters import fold_batch_norms as module

    own = module.fold_batch_norms
    module.fold_batch_norms = fold_batch_norms
    try:
        yield
    finally:
        module.fold_batch_norms = own


def _values(node: Any) -> np.ndarray:
    from tensorflow.python.framework import tensor_util

    return tensor_util.MakeNdarray(node.attr["value"].tensor)


def fold_batch_norms(graph_def: Any) -> Any:
    """``graph_def`` with each batch norm after a convolution of constant weights folded into it.

    A batch norm whose convolution, bias, weights or statistics are not constants, or whose
    statistics do not have one value per output channel, stays as it is.

    Raises:
        ValueError: two nodes share a name.
    """
    from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2
    from tensorflow.python.framework import tensor_util

    nodes: dict[str, Any] = {}
    for node in graph_def.node:
        if node.name in nodes:
            raise ValueError(f"two nodes are named {node.name!r}")
        nodes[node.name] = node
    skipped: set[str] = set()
    added: list[Any] = []
    for node in graph_def.node:
        if node.op not in BATCH_NORMS:
            continue
        place = _INPUTS[node.op]
        conv = nodes.get(node_of(node.input[place["conv"]]))
        add = bias = None
        if conv is not None and conv.op in _ADDS:
            add = conv
            first, second = nodes.get(node_of(add.input[0])), nodes.get(node_of(add.input[1]))
            conv, bias = (first, second) if first is not None and first.op in _CONVOLUTIONS else (second, first)
        if conv is None or conv.op not in _CONVOLUTIONS or (add is not None and (bias is None or bias.op != "Const")):
            continue
        weights_node = nodes.get(node_of(conv.input[1]))
        if weights_node is None or weights_node.op != "Const":
            continue
        weights = _values(weights_node)
        channels = weights.shape[3] if conv.op == "Conv2D" else weights.shape[2] * weights.shape[3]
        sources = {role: nodes.get(node_of(node.input[place[role]])) for role in ("mean", "var", "beta", "gamma")}
        if any(source is None or source.op != "Const" for source in sources.values()):
            continue
        statistics = {role: _values(source) for role, source in sources.items()}
        if any(value.shape != (channels,) for value in statistics.values()):
            continue
        mean = statistics["mean"] - _values(bias) if bias is not None else statistics["mean"]
        epsilon = node.attr[_EPSILON[node.op]].f
        scale = 1.0 / np.sqrt((statistics["var"] + epsilon).astype(np.float64))
        if node.op != "BatchNormWithGlobalNormalization" or node.attr["scale_after_normalization"].b:
            scale = scale * statistics["gamma"]
        offset = -mean * scale + statistics["beta"]
        scaled = (weights * scale.reshape(weights.shape[2:] if conv.op != "Conv2D" else (channels,))).astype(weights.dtype)
        skipped.update({node.name, weights_node.name, conv.name, *([add.name] if add is not None else [])})

        scaled_node = node_def_pb2.NodeDef(op="Const", name=conv.name + "_weights")
        scaled_node.attr["dtype"].CopyFrom(weights_node.attr["dtype"])
        scaled_node.attr["value"].CopyFrom(attr_value_pb2.AttrValue(
            tensor=tensor_util.make_tensor_proto(scaled, weights.dtype.type, weights.shape)))
        new_conv = node_def_pb2.NodeDef()
        new_conv.CopyFrom(conv)
        new_conv.input[:] = [scaled_node.name if name == weights_node.name else name for name in conv.input]
        offset_node = node_def_pb2.NodeDef(op="Const", name=conv.name + "_bn_offset")
        offset_node.attr["dtype"].CopyFrom(nodes[node_of(node.input[place["mean"]])].attr["dtype"])
        offset_node.attr["value"].CopyFrom(attr_value_pb2.AttrValue(
            tensor=tensor_util.make_tensor_proto(offset, mean.dtype.type, offset.shape)))
        bias_add = node_def_pb2.NodeDef(op="BiasAdd", name=node.name, input=[new_conv.name, offset_node.name])
        bias_add.attr["T"].CopyFrom(conv.attr["T"])
        bias_add.attr["data_format"].CopyFrom(conv.attr["data_format"])
        added += [scaled_node, new_conv, offset_node, bias_add]

    folded = graph_pb2.GraphDef()
    for node in graph_def.node:
        if node.name in skipped:
            continue
        kept = folded.node.add()
        kept.CopyFrom(node)
        kept.input[:] = [name for name in node.input if not (name.startswith("^") and name[1:] in skipped)]
    folded.node.extend(added)
    folded.library.CopyFrom(graph_def.library)
    folded.versions.CopyFrom(graph_def.versions)
    return folded


_LAYOUT_AXES = {"NHWC": ([0, 1, 2], None), "NCHW": ([0, 2, 3], [1, -1, 1, 1])}


def norms_from_batch_statistics(graph_def: Any) -> bool:
    """Replaces each batch norm in training mode whose statistics outputs nothing reads by the same function in
    plain ops: ``(x - mean(x)) * rsqrt(var(x) + epsilon) * scale + offset`` over every axis but the channel's
    (``var`` the population variance, as the fused op normalises by). Returns whether any was replaced.
    """
    import tensorflow as tf

    read = {reference.lstrip("^") for node in graph_def.node for reference in node.input}
    changed = False
    for node in list(graph_def.node):
        layout = node.attr["data_format"].s.decode() or "NHWC"
        if node.op not in BATCH_NORMS[1:] or not node.attr["is_training"].b or layout not in _LAYOUT_AXES:
            continue
        if any(f"{node.name}:{index}" in read for index in range(1, 6)):
            continue  # the batch statistics themselves are used
        axes, shape = _LAYOUT_AXES[layout]
        dtype = node.attr["T"].type
        x, scale, offset = node.input[:3]
        control = [name for name in node.input if name.startswith("^")]

        add = functools.partial(add_node, graph_def, node.name)
        index = tf.int32.as_datatype_enum
        axes_node = add("axes", "Const", [], value=np.asarray(axes, np.int32))
        mean = add("mean", "Mean", [x, axes_node], T=dtype, Tidx=index, keep_dims=True)
        centred = add("centred", "Sub", [x, mean], T=dtype)
        squared = add("squared", "Square", [centred], T=dtype)
        variance = add("variance", "Mean", [squared, axes_node], T=dtype, Tidx=index, keep_dims=True)
        epsilon = add("epsilon", "Const", [], value=np.asarray(node.attr["epsilon"].f, tf.as_dtype(dtype).as_numpy_dtype))
        inverse = add("rsqrt", "Rsqrt", [add("shifted", "AddV2", [variance, epsilon], T=dtype)], T=dtype)
        normalised = add("normalised", "Mul", [centred, inverse], T=dtype)
        if shape is not None:  # scale and offset along the channel axis
            shape_node = add("shape", "Const", [], value=np.asarray(shape, np.int32))
            scale = add("scale", "Reshape", [scale, shape_node], T=dtype, Tshape=index)
            offset = add("offset", "Reshape", [offset, shape_node], T=dtype, Tshape=index)
        scaled = add("scaled", "Mul", [normalised, scale], T=dtype)
        del node.input[:]
        node.op = "AddV2"
        for key in list(node.attr):
            if key != "T":
                del node.attr[key]
        node.input.extend([scaled, offset, *control])
        changed = True
    return changed


def add_node(graph_def: Any, owner: str, suffix: str, op: str, inputs: list[str], **attrs: Any) -> str:
    """Adds node ``owner/convkit_suffix`` to ``graph_def`` (for the TF.js graph rewrites); ``value=`` makes a
    constant, an int or bool attribute is set as one, any other as a dtype. Returns the node's name."""
    import tensorflow as tf

    made = graph_def.node.add(name=f"{owner}/convkit_{suffix}", op=op, input=inputs)
    for key, value in attrs.items():
        if key == "value":
            made.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
            made.attr["dtype"].type = made.attr["value"].tensor.dtype
        elif isinstance(value, bool):
            made.attr[key].b = value
        elif isinstance(value, tuple):  # an int attribute, given as (value,)
            made.attr[key].i = value[0]
        else:
            made.attr[key].type = value
    return made.name
