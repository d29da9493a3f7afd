"""The fused ops a TF.js graph may hold, unfused by convkit, compute what TensorFlow's own fused kernels compute.

TensorFlow runs ``_FusedMatMul`` and ``_FusedConv2D`` on the CPU for the activations and batch
normalisation they carry; the same graph with convkit's plain-op version of each must give the
same values (Prelu, which TensorFlow does not fuse, is compared with its definition).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convkit.graph_model import messages, tfjs

HERE = Path("fused.json")
RNG = np.random.default_rng(3)


def _run(graph_def, feed: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    tf_graph = tf.compat.v1.GraphDef.FromString(graph_def.SerializeToString())

    def imported() -> None:
        tf.compat.v1.import_graph_def(tf_graph, name="")

    wrapped = tf.compat.v1.wrap_function(imported, [])
    function = wrapped.prune(wrapped.graph.get_tensor_by_name("x:0"), wrapped.graph.get_tensor_by_name("y:0"))
    return function(tf.constant(feed)).numpy()


def _fused(op: str, fused_ops: list[bytes], arguments: list[np.ndarray], *, kernel: np.ndarray, **attrs: float):
    graph_def = messages.graph_def_class()()
    x = graph_def.node.add(name="x", op="Placeholder")
    x.attr["dtype"].type = 1
    names = ["x", "kernel"] + [f"arg_{i}" for i in range(len(arguments))]
    for name, value in zip(names[1:], [kernel, *arguments]):
        const = graph_def.node.add(name=name, op="Const")
        const.attr["dtype"].type = 1
        const.attr["value"].tensor.CopyFrom(messages.from_array(value.astype(np.float32), 1))
    node = graph_def.node.add(name="y", op=op, input=names)
    node.attr["T"].type = 1
    node.attr["fused_ops"].list.s.extend(fused_ops)
    node.attr["num_args"].i = len(arguments)
    if op == "_FusedConv2D":
        node.attr["strides"].list.i.extend([1, 1, 1, 1])
        node.attr["dilations"].list.i.extend([1, 1, 1, 1])
        node.attr["padding"].s = b"SAME"
        node.attr["data_format"].s = b"NHWC"
        node.attr["TArgs"].list.type.extend([1] * len(arguments))
    for key, value in attrs.items():
        node.attr[key].f = value
    return graph_def


def _unfused(graph_def):
    copy = type(graph_def)()
    copy.CopyFrom(graph_def)
    tfjs.undo_tfjs_ops(copy, HERE)
    assert not {node.op for node in copy.node} & set(tfjs.FUSED_CONTRACTIONS)
    return copy


@pytest.mark.parametrize("fused_ops, attrs", [
    ([b"BiasAdd"], {}), ([b"BiasAdd", b"Relu"], {}), ([b"BiasAdd", b"Relu6"], {}), ([b"BiasAdd", b"Elu"], {}),
    ([b"BiasAdd", b"Sigmoid"], {}), ([b"BiasAdd", b"Tanh"], {}), ([b"BiasAdd", b"LeakyRelu"], {"leakyrelu_alpha": 0.3}),
])
def test_fused_matmul(fused_ops: list[bytes], attrs: dict) -> None:
    graph = _fused("_FusedMatMul", fused_ops, [RNG.normal(size=5)], kernel=RNG.normal(size=(4, 5)), **attrs)
    feed = RNG.normal(size=(6, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(_unfused(graph), feed), _run(graph, feed), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fused_ops", [[b"BiasAdd", b"Relu"], [b"FusedBatchNorm"], [b"FusedBatchNorm", b"Relu"]])
def test_fused_conv2d(fused_ops: list[bytes]) -> None:
    channels = 3
    arguments = [RNG.normal(size=channels)] if fused_ops[0] == b"BiasAdd" else [
        RNG.uniform(0.5, 1.5, channels), RNG.normal(size=channels), RNG.normal(size=channels),
        RNG.uniform(0.5, 2.0, channels)]
    graph = _fused("_FusedConv2D", fused_ops, arguments, kernel=RNG.normal(size=(3, 3, 2, channels)), epsilon=0.001)
    feed = RNG.normal(size=(2, 5, 5, 2)).astype(np.float32)
    np.testing.assert_allclose(_run(_unfused(graph), feed), _run(graph, feed), rtol=1e-5, atol=1e-5)


def test_prelu_fused_and_alone() -> None:
    alpha = RNG.uniform(0.1, 0.5, 5)
    kernel = RNG.normal(size=(4, 5))
    bias = RNG.normal(size=5)
    graph = _unfused(_fused("_FusedMatMul", [b"BiasAdd", b"Prelu"], [bias, alpha], kernel=kernel))
    feed = RNG.normal(size=(6, 4)).astype(np.float32)
    dense = feed @ kernel + bias
    expected = np.where(dense > 0, dense, alpha * dense)
    np.testing.assert_allclose(_run(graph, feed), expected, rtol=1e-5, atol=1e-5)
