"""Graph-level model files the tests build: one Keras model per case, made into every graph-level format.

Each case is a small Keras 3 model with non-trivial weights (every weight moved
away from its initial value, BatchNorm statistics drawn at random), saved as
``model.keras`` (the reference ``convkit check`` compares against) and then:

- ``saved_model``: ``model.export`` (TF2, ``serving_default``);
- ``frozen.pb``: that signature frozen by TensorFlow (``outputs.json`` lists its output nodes);
- ``tfjs``, ``tfjs_uint8``, ``tfjs_uint16``, ``tfjs_float16``: ``tensorflowjs_converter
  --input_format tf_saved_model`` (with ``--quantize_*``);
- ``tfjs_frozen``: ``tensorflowjs_converter --input_format tf_frozen_model`` (no input signature);
- ``tfjs_cf2``: ``--control_flow_v2`` (a while loop as library functions, their constants prefixed);
- ``tfjs_sharded``: ``--weight_shard_size_bytes 1024`` (the weights spread over many shards);
- ``tf1``: a TF1 checkpoint (``tf.compat.v1.train.Saver``: ``model.ckpt.meta/.index/.data``) of the
  frozen graph with its weights turned back into ``VariableV2`` variables;
- ``tf1_savedmodel``: the same graph saved by ``tf.compat.v1.saved_model.Builder`` under the tag
  ``train`` only, without signatures;
- ``tfjs_legacy``: the pre-1.0 TF.js layout (``tensorflowjs_model.pb`` + ``weights_manifest.json``)
  holding ``tfjs_frozen``'s graph and weights, as the 0.x converter wrote them.

The converters run in the test process (``converter.convert(argv)``, the function behind
``tensorflowjs_converter``); builds are kept between runs (tests/_cache.py).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from tests import _cache

os.environ.setdefault("TFDF_DISABLE_WELCOME_MESSAGE", "1")

CASES = ("cnn", "mobilenet", "prelu", "lstm", "two", "embed")
VARIANTS = ("saved_model", "frozen.pb", "tfjs", "tfjs_frozen", "tfjs_uint8", "tfjs_uint16", "tfjs_float16",
            "tfjs_cf2", "tfjs_sharded", "tf1", "tf1_savedmodel", "tfjs_legacy")
# The layer whose bias the perturbation tests move: each case's output layer.
OUTPUT_LAYER = {"cnn": "logits", "mobilenet": "logits", "prelu": "logits", "lstm": "logits", "two": "first",
                "embed": "logits"}


def keras_model(case: str) -> Any:
    """The Keras 3 model of ``case`` with seeded, non-trivial weights."""
    import keras
    import numpy as np
    from keras import layers

    keras.utils.set_random_seed(7)
    if case == "cnn":
        inputs = keras.Input((16, 16, 3), name="image")
        x = layers.Conv2D(8, 3, activation="relu")(inputs)
        x = layers.MaxPooling2D()(x)
        x = layers.Conv2D(8, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        outputs = layers.Dense(5, name="logits")(layers.Flatten()(x))
    elif case == "mobilenet":  # a MobileNetV2-like block: expand, depthwise, project, ReLU6 and BatchNorm
        inputs = keras.Input((16, 16, 4), name="image")
        x = layers.ReLU(6.0)(layers.BatchNormalization()(layers.Conv2D(8, 1, use_bias=False)(inputs)))
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
        x = layers.ReLU(6.0)(layers.BatchNormalization()(x))
        x = layers.ReLU(6.0)(layers.DepthwiseConv2D(3, padding="same")(x))
        x = layers.BatchNormalization()(layers.Conv2D(4, 1, use_bias=False)(x))
        outputs = layers.Dense(3, name="logits")(layers.GlobalAveragePooling2D()(x))
    elif case == "prelu":  # fused into the convolution and the dense layer, and standing alone after pooling
        inputs = keras.Input((12, 12, 2), name="image")
        x = layers.PReLU(shared_axes=[1, 2])(layers.Conv2D(6, 3)(inputs))
        x = layers.PReLU()(layers.MaxPooling2D()(x))
        x = layers.PReLU()(layers.Dense(8)(layers.Flatten()(x)))
        outputs = layers.Dense(4, name="logits")(x)
    elif case == "lstm":
        inputs = keras.Input((6, 5), name="sequence")
        outputs = layers.Dense(3, name="logits")(layers.LSTM(7)(inputs))
    elif case == "two":
        a = keras.Input((10,), name="a")
        b = keras.Input((6,), name="b")
        x = layers.Concatenate()([layers.Dense(8, activation="tanh")(a), b])
        inputs = [a, b]
        outputs = [layers.Dense(3, name="first")(x), layers.Dense(2, activation="sigmoid", name="second")(x)]
    elif case == "embed":
        inputs = keras.Input((7,), dtype="int32", name="tokens")
        x = layers.GlobalAveragePooling1D()(layers.Embedding(20, 6)(inputs))
        outputs = layers.Dense(3, name="logits")(x)
    else:
        raise ValueError(case)
    model = keras.Model(inputs, outputs, name=case)
    rng = np.random.default_rng(CASES.index(case))
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, layers.BatchNormalization):
            gamma, beta, mean, variance = weights
            new = [rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape), rng.normal(0, 0.3, mean.shape),
                   rng.uniform(0.5, 2.0, variance.shape)]
        elif isinstance(layer, layers.PReLU):
            new = [rng.uniform(0.05, 0.5, weight.shape) for weight in weights]
        else:
            new = [weight + rng.normal(0, 0.1, weight.shape) for weight in weights]
        layer.set_weights([np.asarray(value, dtype=weight.dtype) for value, weight in zip(new, weights)])
    return model


def _convert(argv: list[str]) -> None:
    from tensorflowjs.converters import converter

    converter.convert(argv)


def _frozen(saved_model: Path, out: Path) -> list[str]:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    loaded = tf.saved_model.load(str(saved_model))  # kept alive: the signature reads its variables
    frozen = convert_variables_to_constants_v2(loaded.signatures["serving_default"])
    out.write_bytes(frozen.graph.as_graph_def().SerializeToString())
    return [tensor.name.split(":")[0] for tensor in frozen.outputs]


def _tf1(frozen_pb: Path, prefix: Path | None, saved_model: Path | None) -> None:
    """The frozen graph with its weights as TF1 ``VariableV2`` variables, saved by a TF1 Saver or Builder."""
    import numpy as np
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef.FromString(frozen_pb.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        mapping = {}
        for index, node in enumerate(graph_def.node):
            if node.op != "Const" or node.attr["dtype"].type != tf.float32.as_datatype_enum:
                continue
            value = tf.make_ndarray(node.attr["value"].tensor)
            if value.size < 2:
                continue
            variable = tf.compat.v1.get_variable(f"layer_{index}/weight", initializer=value, use_resource=False)
            mapping[f"{node.name}:0"] = variable.value()
            # The constant stays (import_graph_def maps only what exists) but holds nothing any more.
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.zeros((), value.dtype)))
        tf.graph_util.import_graph_def(graph_def, input_map=mapping, name="")
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            if prefix is not None:
                tf.compat.v1.train.Saver().save(session, str(prefix))
            if saved_model is not None:
                builder = tf.compat.v1.saved_model.Builder(str(saved_model))
                builder.add_meta_graph_and_variables(session, ["train"])
                builder.save()


def _legacy(tfjs_model: Path, out: Path) -> None:
    """The 0.x layout: the topology as a binary GraphDef beside the manifest and the same shards."""
    from convkit.graph_model.tfjs import graph_def_from_json

    out.mkdir()
    document = json.loads((tfjs_model / "model.json").read_text())
    graph_def = graph_def_from_json(document["modelTopology"], tfjs_model)
    (out / "tensorflowjs_model.pb").write_bytes(graph_def.SerializeToString())
    (out / "weights_manifest.json").write_text(json.dumps(document["weightsManifest"]))
    for group in document["weightsManifest"]:
        for shard in group["paths"]:
            shutil.copy2(tfjs_model / shard, out / shard)


def build(case: str, out: Path, variants: Sequence[str]) -> None:
    """Writes ``model.keras`` and each of ``variants`` of ``case`` under ``out``."""
    model = keras_model(case)
    model.save(out / "model.keras")
    model.export(str(out / "saved_model"), verbose=False)
    outputs = _frozen(out / "saved_model", out / "frozen.pb")
    (out / "outputs.json").write_text(json.dumps(outputs))
    saved_model = str(out / "saved_model")
    for variant in variants:
        if variant == "tfjs":
            _convert(["--input_format", "tf_saved_model", saved_model, str(out / variant)])
        elif variant.startswith("tfjs_") and variant.split("_")[1] in ("uint8", "uint16", "float16"):
            _convert(["--input_format", "tf_saved_model", f"--quantize_{variant.split('_')[1]}", "*", saved_model,
                      str(out / variant)])
        elif variant == "tfjs_sharded":
            _convert(["--input_format", "tf_saved_model", "--weight_shard_size_bytes", "1024", saved_model,
                      str(out / variant)])
        elif variant == "tfjs_cf2":
            _convert(["--input_format", "tf_saved_model", "--control_flow_v2=True", saved_model, str(out / variant)])
        elif variant in ("tfjs_frozen", "tfjs_legacy") and not (out / "tfjs_frozen").exists():
            _convert(["--input_format", "tf_frozen_model", "--output_node_names", ",".join(outputs),
                      str(out / "frozen.pb"), str(out / "tfjs_frozen")])
        if variant == "tf1":
            (out / "tf1").mkdir()
            _tf1(out / "frozen.pb", out / "tf1" / "model.ckpt", None)
        elif variant == "tf1_savedmodel":
            _tf1(out / "frozen.pb", None, out / "tf1_savedmodel")
        elif variant == "tfjs_legacy":
            _legacy(out / "tfjs_frozen", out / "tfjs_legacy")


def built(case: str, root: Path, variants: Sequence[str] = VARIANTS) -> Path:
    """The folder of ``case`` with ``variants`` built (kept between runs), copied under ``root``."""
    key = _cache.key_of(f"graph_{case}", variants=sorted(variants),
                        sources=_cache.digest(Path(__file__), *_cache.source_files("convkit.graph_model.tfjs")))
    return _cache.built(key, lambda out: build(case, out, variants), root / f"{case}-{'-'.join(sorted(variants))}")


def variant_path(folder: Path, variant: str) -> Path:
    """The path ``convkit`` takes for a built variant (a checkpoint by its prefix)."""
    if variant == "tf1":
        return folder / "tf1" / "model.ckpt"
    return folder / variant


def perturb_tfjs_bias(model: Path, out: Path, layer: str, delta: float = 1.0) -> str:
    """A copy of the float32 TF.js graph model ``model`` whose output layer ``layer`` has ``delta`` added to
    element 0 of its bias (a live path: an output bias moves that output for every input); returns the weight."""
    import numpy as np

    shutil.copytree(model, out)
    document = json.loads((out / "model.json").read_text())
    for group in document["weightsManifest"]:
        data = bytearray(b"".join((out / shard).read_bytes() for shard in group["paths"]))
        offset = 0
        for weight in group["weights"]:
            count = int(np.prod(weight["shape"]))
            size = count * 4
            if f"{layer}_1/BiasAdd" in weight["name"] or f"/{layer}/BiasAdd" in weight["name"]:
                assert weight.get("dtype", "float32") == "float32" and "quantization" not in weight
                value = np.frombuffer(bytes(data[offset : offset + 4]), "<f4")[0] + np.float32(delta)
                data[offset : offset + 4] = np.float32(value).astype("<f4").tobytes()
                assert len(group["paths"]) == 1
                (out / group["paths"][0]).write_bytes(bytes(data))
                return str(weight["name"])
            offset += size
    raise AssertionError(f"no bias of layer {layer!r} in {model}")
