"""convkit's batch norm folding makes the graph the tensorflowjs converter's own folding makes, byte for byte."""

from __future__ import annotations

import numpy as np

from convkit.convert.writers.tfjs_batchnorm import fold_batch_norms


def _graph() -> tuple[object, list[str]]:
    """Convolutions (one with a bias add) each followed by a batch norm, and a batch norm after a ReLU."""
    import tensorflow as tf

    rng = np.random.default_rng(3)

    def const(*shape: int, low: float = -1.0) -> object:
        return tf.constant(rng.uniform(low, 1.0, shape).astype(np.float32))

    def norm(x: object, channels: int, name: str) -> object:
        return tf.raw_ops.FusedBatchNormV3(x=x, scale=const(channels), offset=const(channels), mean=const(channels),
                                           variance=const(channels, low=0.1), epsilon=1e-3, is_training=False,
                                           name=name)[0]

    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, (None, 8, 8, 3), name="image")
        conv = tf.raw_ops.Conv2D(input=image, filter=const(3, 3, 3, 4), strides=[1, 1, 1, 1], padding="SAME")
        biased = tf.raw_ops.BiasAdd(value=conv, bias=const(4))
        first = norm(biased, 4, "after_bias")
        depthwise = tf.raw_ops.DepthwiseConv2dNative(input=first, filter=const(3, 3, 4, 2), strides=[1, 1, 1, 1],
                                                     padding="SAME")
        second = norm(depthwise, 8, "after_depthwise")
        third = norm(tf.nn.relu(second), 8, "after_relu")
        tf.identity(third, name="out")
    return graph.as_graph_def(), ["out:0"]


def test_folding_in_arrays_makes_the_converters_graph_byte_for_byte() -> None:
    import tensorflow as tf
    from tensorflowjs.converters import fold_batch_norms as theirs

    graph_def, outputs = _graph()
    reference = tf.compat.v1.GraphDef()
    reference.CopyFrom(graph_def)  # the converter's folding edits its input
    expected = theirs.fold_batch_norms(reference)
    folded = fold_batch_norms(graph_def)
    assert folded.SerializeToString(deterministic=True) == expected.SerializeToString(deterministic=True)
    norms = [node.name for node in folded.node if node.op == "FusedBatchNormV3"]
    assert norms == ["after_relu"]  # the two after a convolution are folded, the one after the ReLU stays

    # and the folded graph computes what the graph computed
    image = np.random.default_rng(0).uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)
    results = []
    for graph in (graph_def, folded):
        with tf.Graph().as_default() as live, tf.compat.v1.Session(graph=live) as session:
            tf.graph_util.import_graph_def(graph, name="")
            results.append(session.run(outputs[0], {"image:0": image}))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-5)


def test_batch_norms_in_training_mode_become_ops_tfjs_runs_and_compute_the_same() -> None:
    """tf_keras' LayerNormalization is a training-mode batch norm over an NCHW reshape (TF.js gives NaN for it);
    an NHWC one normalises each channel over the rest."""
    import tensorflow as tf

    from convkit.convert.writers.tfjs_batchnorm import norms_from_batch_statistics

    rng = np.random.default_rng(1)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, (None, 4, 5, 3), name="x")
        rows = tf.reshape(x, (1, -1, 15, 1))  # tf_keras LayerNormalization's layout: one "channel" per row
        by_row = tf.compat.v1.nn.fused_batch_norm(rows, tf.ones_like(rows[0, :, 0, 0]), tf.zeros_like(rows[0, :, 0, 0]),
                                                  epsilon=1e-3, data_format="NCHW", is_training=True)[0]
        by_channel = tf.compat.v1.nn.fused_batch_norm(x, tf.constant(rng.uniform(0.5, 2, 3), tf.float32),
                                                      tf.constant(rng.normal(size=3), tf.float32), epsilon=1e-3,
                                                      data_format="NHWC", is_training=True)[0]
        tf.identity(tf.reshape(by_row, tf.shape(x)) + by_channel, name="out")
    graph_def = graph.as_graph_def()
    rewritten = tf.compat.v1.GraphDef()
    rewritten.CopyFrom(graph_def)
    assert norms_from_batch_statistics(rewritten)
    assert not [node for node in rewritten.node if node.op.startswith("FusedBatchNorm")]
    image = rng.normal(3.0, 2.0, (2, 4, 5, 3)).astype(np.float32)
    results = []
    for version in (graph_def, rewritten):
        with tf.Graph().as_default() as live, tf.compat.v1.Session(graph=live) as session:
            tf.graph_util.import_graph_def(version, name="")
            results.append(session.run("out:0", {"x:0": image}))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-5)
    assert np.abs(results[0]).max() > 0.5  # normalised values, not zeros
