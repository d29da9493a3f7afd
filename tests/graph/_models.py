"""The MobileNet-like model the graph tests draw and measure, in every format convkit writes.

Keras 3 builds it (a stem convolution, two inverted-residual blocks with
depthwise convolutions, batch normalisation and ReLU6, a residual addition,
global pooling, a dense head) and saves ``.keras`` and ``.h5``; convkit's own
converter writes the SavedModel, TF.js layers and graph models, ONNX, TFLite
and the checkpoint. Batch-normalisation statistics and biases are random, so
no statistic is trivially 0 or 1. Kept between runs (tests/_cache.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from tests import _cache

os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")

FORMATS = {
    "h5": "model.h5",
    "keras": "model.keras",
    "savedmodel": "model_savedmodel",
    "tfjs-layers": "model_tfjs",
    "tfjs-graph": "model_tfjs_graph",
    "onnx": "model.onnx",
    "tflite": "model.tflite",
    "pb": "model.pb",
    "ckpt": "model_ckpt/ckpt",
}


def mobilenet_like():  # type: ignore[no-untyped-def]
    import keras
    import numpy as np

    keras.utils.set_random_seed(7)
    layers = keras.layers
    image = keras.Input((32, 32, 3), name="image")
    x = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(image)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    for index, (expand, filters, stride) in enumerate([(2, 8, 1), (3, 16, 2)]):
        y = layers.Conv2D(x.shape[-1] * expand, 1, use_bias=False, name=f"block{index}_expand")(x)
        y = layers.BatchNormalization(name=f"block{index}_expand_bn")(y)
        y = layers.ReLU(6.0, name=f"block{index}_expand_relu")(y)
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"block{index}_dw")(y)
        y = layers.BatchNormalization(name=f"block{index}_dw_bn")(y)
        y = layers.ReLU(6.0, name=f"block{index}_dw_relu")(y)
        y = layers.Conv2D(filters, 1, use_bias=False, name=f"block{index}_project")(y)
        y = layers.BatchNormalization(name=f"block{index}_project_bn")(y)
        x = layers.Add(name=f"block{index}_add")([x, y]) if stride == 1 and filters == x.shape[-1] else y
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    logits = layers.Dense(10, name="logits")(x)
    model = keras.Model(image, logits, name="mobilenet_like")
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, variance.shape)])
        elif isinstance(layer, layers.Dense):
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
    return model


def _build(out: Path) -> None:
    import convkit

    model = mobilenet_like()
    model.save(out / FORMATS["keras"])
    model.save(out / FORMATS["h5"])
    keras_file = out / FORMATS["keras"]
    # The pictures are the point here, not the copies' runs: convert's own tests verify those.
    convkit.convert(keras_file, "savedmodel", out / FORMATS["savedmodel"], smoke_run=False)
    convkit.convert(out / FORMATS["h5"], "tfjs", out / FORMATS["tfjs-layers"], tfjs_kind="layers", smoke_run=False)
    convkit.convert(keras_file, "tfjs", out / FORMATS["tfjs-graph"], tfjs_kind="graph", smoke_run=False)
    convkit.convert(keras_file, "onnx", out / FORMATS["onnx"], smoke_run=False)
    convkit.convert(keras_file, "tflite", out / FORMATS["tflite"], smoke_run=False)
    convkit.convert(keras_file, "ckpt", out / FORMATS["ckpt"], smoke_run=False)
    convkit.convert(out / FORMATS["savedmodel"], "pb", out / FORMATS["pb"], smoke_run=False)


def _writer_modules() -> list[str]:
    # The registry names each writer by a string, which following imports does not reach.
    from convkit.registry import formats

    return [fmt.writer.partition(":")[0] for fmt in formats() if fmt.writer]


def built(root: Path) -> Path:
    """The folder holding the model in every format (``FORMATS`` names each file), built once and kept."""
    sources = _cache.source_files("convkit.convert", *_writer_modules())
    key = _cache.key_of("graph_mobilenet_like", sources=_cache.digest(Path(__file__), *sources))
    return _cache.built(key, _build, root)
