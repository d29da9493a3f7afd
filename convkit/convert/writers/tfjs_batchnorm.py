"""Batch normalisation folded into the convolution before it, for the TF.js graph converter, in array operations.

The tensorflowjs converter folds each inference batch norm that follows a ``Conv2D`` or
``DepthwiseConv2dNative`` (a bias add between them allowed) into the convolution's weights
and a ``BiasAdd``, scaling the weights one element at a time in Python: about 1.5 s per
million weights, 6 s of an 18 s EfficientNetB0 conversion and minutes on the largest
EfficientNets. :func:`fold_batch_norms` makes the same graph, node for node and name for
name, with the weights scaled as whole arrays; :func:`folding_in_arrays` puts it in the
converter's place for a conversion.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

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


def _name(reference: str) -> str:
    return reference.lstrip("^").split(":")[0]


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
        conv = nodes.get(_name(node.input[place["conv"]]))
        add = bias = None
        if conv is not None and conv.op in _ADDS:
            add = conv
            first, second = nodes.get(_name(add.input[0])), nodes.get(_name(add.input[1]))
            conv, bias = (first, second) if first is not None and first.op in _CONVOLUTIONS else (second, first)
        if conv is None or conv.op not in _CONVOLUTIONS or (add is not None and (bias is None or bias.op != "Const")):
            continue
        weights_node = nodes.get(_name(conv.input[1]))
        if weights_node is None or weights_node.op != "Const":
            continue
        weights = _values(weights_node)
        channels = weights.shape[3] if conv.op == "Conv2D" else weights.shape[2] * weights.shape[3]
        sources = {role: nodes.get(_name(node.input[place[role]])) for role in ("mean", "var", "beta", "gamma")}
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
        offset_node.attr["dtype"].CopyFrom(nodes[_name(node.input[place["mean"]])].attr["dtype"])
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
