"""What real architectures and files written by other tools need, one small model per failure class.

Each test builds the smallest model that shows the class, converts it the way a
user would, and proves the output loads, runs and predicts the same in its own
runtime (TF.js under Node for TF.js outputs). Verification is on (the default)
in every conversion, so an exit 0 here also means the output ran once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from convkit import convert
from convkit.errors import ReadError, VerifyError
from convkit.registry import get_format
from convkit.runtimes.smoke import smoke_run
from tests.convert.conftest import _randomize, assert_same_predictions

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _save(model: Any, path: Path, seed: int = 1) -> Path:
    _randomize(model, seed)
    model.save(path)
    return path


def _tfjs_json(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "model.json").read_text())


def _to_tfjs(src: Path, out: Path, kind: str) -> Any:
    """Converts to TF.js, expects ``kind`` (layers or graph), and checks the copy in TF.js against ``src``."""
    result = convert(src, "tfjs", out)
    assert result.kind == kind, result.warnings
    assert_same_predictions(src, out)
    return result


def _manifest_names(folder: Path) -> list[str]:
    return [w["name"] for group in _tfjs_json(folder)["weightsManifest"] for w in group["weights"]]


# ---------------------------------------------------------------- verification


@pytest.mark.node
def test_verification_names_the_layer_and_leaves_nothing(tmp_path: Path) -> None:
    """A TF.js layers model TF.js refuses fails verification with TF.js' words and the layer to blame."""
    import keras

    src = _save(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="d")]),
                tmp_path / "m.keras")
    convert(src, "tfjs", tmp_path / "good", smoke_run=False)
    document = _tfjs_json(tmp_path / "good")
    document["modelTopology"]["config"]["layers"][-1]["config"]["activation"] = "no_such_activation"
    (tmp_path / "good" / "model.json").write_text(json.dumps(document))
    with pytest.raises(VerifyError) as caught:
        smoke_run(tmp_path / "good", get_format("tfjs"), final=tmp_path / "out")
    assert "layer 'd' (Dense, activation 'no_such_activation')" in str(caught.value)
    assert "Unknown activation" in caught.value.reason and str(tmp_path / "out") in str(caught.value)


@pytest.mark.node
def test_verification_refuses_an_output_that_is_nan_for_every_input(tmp_path: Path) -> None:
    """A runtime may answer NaN where it lacks what an op needs (TF.js' batch norm without statistics) rather
    than fail: an output NaN for every smoke input fails verification; NaN for some inputs does not."""
    import numpy as np
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    src = _save(model, tmp_path / "m.keras")
    convert(src, "tfjs", tmp_path / "out", smoke_run=False)
    shard = next((tmp_path / "out").glob("*.bin"))
    kernel_bytes = 4 * 3 * 4
    weights = np.frombuffer(shard.read_bytes(), np.float32).copy()
    weights[kernel_bytes // 4:] = np.nan  # the bias: every output
    shard.write_bytes(weights.tobytes())
    with pytest.raises(VerifyError, match="'d' is NaN|is NaN for every one of"):
        smoke_run(tmp_path / "out", get_format("tfjs"))
    weights[kernel_bytes // 4:] = [0.0, 0.0, np.nan]  # one output column only: the others are numbers
    weights[:kernel_bytes // 4] = 1.0
    shard.write_bytes(weights.tobytes())
    assert smoke_run(tmp_path / "out", get_format("tfjs"))


@pytest.mark.node
def test_layers_model_tfjs_cannot_run_falls_back_to_graph(tmp_path: Path) -> None:
    """Verification is what catches it: the static decision lets the layer through, TF.js refuses, graph it is."""
    import keras

    src = _save(keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.ELU(alpha=0.5)]),
                tmp_path / "m.keras")
    forced = tmp_path / "forced"
    result = convert(src, "tfjs", tmp_path / "out")
    # TF.js' ELU layer refuses alpha != 1 when it builds the model
    assert result.kind == "graph", result.warnings
    assert any("TF.js layers cannot run this model" in w and "ELU" in w for w in result.warnings), result.warnings
    assert_same_predictions(src, tmp_path / "out")
    with pytest.raises(VerifyError):
        convert(src, "tfjs", forced, tfjs_kind="layers")
    assert not forced.exists() and list(tmp_path.glob(".forced*")) == []


@pytest.mark.node
def test_no_verify_writes_what_tfjs_refuses(tmp_path: Path) -> None:
    import keras

    src = _save(keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.ELU(alpha=0.5)]),
                tmp_path / "m.keras")
    result = convert(src, "tfjs", tmp_path / "out", tfjs_kind="layers", smoke_run=False)
    assert result.kind == "layers"
    with pytest.raises(VerifyError, match="ELU"):
        smoke_run(tmp_path / "out", get_format("tfjs"))


# ---------------------------------------------------------------- one Keras <-> TF.js name table


@pytest.mark.node
def test_initializers_regularizers_constraints_translated_or_dropped(tmp_path: Path) -> None:
    import keras

    L = keras.layers
    model = keras.Sequential([
        keras.Input((6,)),
        L.Dense(5, kernel_initializer="orthogonal", kernel_regularizer="l2", bias_constraint="non_neg",
                name="a"),
        L.Dense(4, kernel_initializer="lecun_normal", kernel_constraint=keras.constraints.MaxNorm(2.0),
                activity_regularizer=keras.regularizers.OrthogonalRegularizer(0.1), name="b"),
        L.Dense(3, activation="silu", name="c"),
    ])
    src = _save(model, tmp_path / "m.keras")
    result = convert(src, "tfjs", tmp_path / "out")
    assert result.kind == "layers"
    layers = {layer["config"]["name"]: layer["config"] for layer in
              _tfjs_json(tmp_path / "out")["modelTopology"]["config"]["layers"]}
    assert layers["a"]["kernel_initializer"]["class_name"] == "Orthogonal"
    assert layers["a"]["kernel_regularizer"] == {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.01}}
    assert layers["b"]["kernel_initializer"]["class_name"] == "LeCunNormal"
    assert layers["b"]["activity_regularizer"] is None
    assert layers["c"]["activation"] == "swish"
    assert layers["a"]["bias_constraint"] is None and layers["b"]["kernel_constraint"] is None
    for what in ("activity_regularizer of layer 'b'", "bias_constraint of layer 'a'", "kernel_constraint of layer 'b'"):
        assert any(what in w for w in result.warnings), result.warnings
    assert_same_predictions(src, tmp_path / "out")


@pytest.mark.node
@pytest.mark.parametrize("activation", ["hard_silu", "gelu_tanh_exact"])
def test_activations_tfjs_layers_lacks_go_to_graph(activation: str, tmp_path: Path) -> None:
    """hard_silu (MobileNetV3) has no TF.js layers activation; exact GELU's Erfc is rewritten as 1 - Erf."""
    import keras

    first = "hard_silu" if activation == "hard_silu" else "relu"
    layers = [keras.Input((6,)), keras.layers.Dense(5, activation=first)]
    if activation != "hard_silu":
        # Keras 3's sigmoid of a learned gate, then exact GELU in an Activation layer behind a
        # layer TF.js layers lacks, so the graph route has to carry Erfc
        layers += [keras.layers.Activation("gelu"), keras.layers.UnitNormalization()]
    layers.append(keras.layers.Dense(3))
    src = _save(keras.Sequential(layers), tmp_path / "m.keras")
    result = convert(src, "tfjs", tmp_path / "out")
    assert result.kind == "graph"
    ops = {node["op"] for node in _tfjs_json(tmp_path / "out")["modelTopology"]["node"]}
    assert "Erfc" not in ops
    assert_same_predictions(src, tmp_path / "out")


@pytest.mark.node
def test_keras3_hard_sigmoid_is_not_tfjs_hard_sigmoid(tmp_path: Path) -> None:
    """Keras 3's hard_sigmoid is relu6(x+3)/6, TF.js' clip(0.2x+0.5): same name, another function."""
    import keras

    src = _save(keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="hard_sigmoid")]),
                tmp_path / "m.keras")
    result = convert(src, "tfjs", tmp_path / "out")
    assert result.kind == "graph" and any("computes differently" in w for w in result.warnings)
    assert_same_predictions(src, tmp_path / "out")


# ---------------------------------------------------------------- weight names


@pytest.mark.node
def test_keras3_h5_depthwise_kernel_named_for_tfjs(tmp_path: Path) -> None:
    import keras

    src = _save(keras.Sequential([keras.Input((8, 8, 3)), keras.layers.DepthwiseConv2D(3, name="dw"),
                                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)]), tmp_path / "m.h5")
    result = convert(src, "tfjs", tmp_path / "out")
    assert result.kind == "layers"
    assert "dw/depthwise_kernel" in _manifest_names(tmp_path / "out")
    assert_same_predictions(src, tmp_path / "out")
    convert(src, "keras", tmp_path / "m2.keras")
    assert_same_predictions(src, tmp_path / "m2.keras")


@pytest.mark.node
def test_weights_named_by_their_layer_not_their_variable_path(tmp_path: Path) -> None:
    """An .h5 whose weight paths do not name their layer (``embedding_1_2/embeddings``)."""
    import h5py
    import tf_keras

    L = tf_keras.layers
    a = tf_keras.Input((5,), dtype="int32", name="a")
    b = tf_keras.Input((5,), dtype="int32", name="b")
    x = L.Concatenate()([L.Embedding(20, 4, name="embedding")(a), L.Embedding(20, 4, name="embedding_1")(b)])
    src = _save(tf_keras.Model([a, b], L.Dense(2)(L.Flatten()(x))), tmp_path / "m.h5")
    with h5py.File(src, "r+") as h5:  # as a model rebuilt in a busy session writes them
        group = h5["model_weights"]["embedding_1"]
        group.move("embedding_1", "embedding_1_2")
        group.attrs["weight_names"] = [b"embedding_1_2/embeddings:0"]
    convert(src, "tfjs", tmp_path / "out")
    assert "embedding_1/embeddings" in _manifest_names(tmp_path / "out")
    assert_same_predictions(src, tmp_path / "out")


# ---------------------------------------------------------------- classes Keras ships but does not export


@pytest.mark.node
def test_layer_scale_is_keras_shipped_and_goes_to_graph(tmp_path: Path) -> None:
    import keras
    from keras.src.applications.convnext import LayerScale

    inputs = keras.Input((6,))
    model = keras.Model(inputs, LayerScale(1e-6, 4)(keras.layers.Dense(4)(inputs)))
    src = _save(model, tmp_path / "m.keras")
    result = convert(src, "tfjs", tmp_path / "out")
    assert result.kind == "graph" and any("LayerScale" in w for w in result.warnings)
    assert_same_predictions(src, tmp_path / "out")


@pytest.mark.node
def test_tf_keras_tfoplambda_goes_to_graph(tmp_path: Path) -> None:
    """``x + 3.0`` in a functional tf_keras model is a TFOpLambda (MobileNetV3's hard sigmoid)."""
    import tf_keras

    inputs = tf_keras.Input((6,))
    x = tf_keras.layers.Dense(4)(inputs)
    outputs = tf_keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    src = _save(tf_keras.Model(inputs, outputs), tmp_path / "m.h5")
    result = convert(src, "tfjs", tmp_path / "out")
    assert result.kind == "graph"
    from convkit import check

    # The code policy takes a TFOpLambda calling an allowlisted TensorFlow function as data
    assert check(src, [tmp_path / "out"], random=16).passed


# ---------------------------------------------------------------- configs TF.js refuses as Keras writes them


@pytest.mark.node
def test_tf_keras_separable_conv_config(tmp_path: Path) -> None:
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((8, 8, 3)), tf_keras.layers.SeparableConv2D(4, 3, name="sep"),
                                 tf_keras.layers.GlobalAveragePooling2D(), tf_keras.layers.Dense(2)])
    src = _save(model, tmp_path / "m.h5")
    result = convert(src, "tfjs", tmp_path / "out")
    assert result.kind == "layers"
    sep = next(layer["config"] for layer in _tfjs_json(tmp_path / "out")["modelTopology"]["config"]["layers"]
               if layer["config"]["name"] == "sep")
    assert "kernel_initializer" not in sep and "depthwise_initializer" in sep
    assert_same_predictions(src, tmp_path / "out")


@pytest.mark.node
def test_keras2_depthwise_groups_argument_to_keras3(tmp_path: Path) -> None:
    """tf_keras writes ``groups`` for DepthwiseConv2D, which Keras 3 refuses."""
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((8, 8, 3)), tf_keras.layers.DepthwiseConv2D(3),
                                 tf_keras.layers.Flatten(), tf_keras.layers.Dense(2)])
    src = _save(model, tmp_path / "m.h5")
    convert(src, "keras", tmp_path / "m.keras")
    assert_same_predictions(src, tmp_path / "m.keras")


# ---------------------------------------------------------------- graph models


@pytest.mark.node
def test_saved_model_without_variables_is_a_read_error(tmp_path: Path) -> None:
    import shutil

    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.export(str(tmp_path / "sm"), verbose=False)
    shutil.rmtree(tmp_path / "sm" / "variables")
    with pytest.raises(ReadError, match="variables/ folder is missing"):
        convert(tmp_path / "sm", "tfjs", tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- TF.js sources written by TF.js tools


@pytest.mark.node
def test_first_layer_with_batch_input_shape_to_keras(tmp_path: Path) -> None:
    """TF.js' own model.save writes no InputLayer: the first layer carries batch_input_shape."""
    import keras

    src = _save(keras.Sequential([keras.Input((6,)), keras.layers.Dense(4), keras.layers.Dense(2)]),
                tmp_path / "m.keras")
    convert(src, "tfjs", tmp_path / "tfjs")
    document = _tfjs_json(tmp_path / "tfjs")
    layers = document["modelTopology"]["config"]["layers"]
    shape = layers.pop(0)["config"]["batch_input_shape"]
    layers[0]["config"]["batch_input_shape"] = shape
    (tmp_path / "tfjs" / "model.json").write_text(json.dumps(document))
    convert(tmp_path / "tfjs", "keras", tmp_path / "back.keras")
    assert_same_predictions(tmp_path / "tfjs", tmp_path / "back.keras")


# ---------------------------------------------------------------- Keras 3 functional models


@pytest.mark.node
def test_keras3_nested_functional_two_in_two_out_to_tfjs(tmp_path: Path) -> None:
    import keras

    L = keras.layers
    ia, ib = keras.Input((4,), name="ia"), keras.Input((3,), name="ib")
    inner = keras.Model([ia, ib], [L.Dense(2, name="p")(ia), L.Dense(2, name="q")(ib)], name="inner")
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    p, q = inner([a, b])
    model = keras.Model([a, b], [L.Add(name="sum")([p, q]), L.Dense(1, name="r")(q)], name="outer")
    src = _save(model, tmp_path / "m.keras")
    _to_tfjs(src, tmp_path / "out", "layers")


@pytest.mark.node
def test_functional_tf_keras_to_keras(tmp_path: Path) -> None:
    """Functional tf_keras models (two inputs, two outputs, a nested model) from .h5, SavedModel and checkpoint."""
    import tf_keras

    from tests.convert.conftest import two_io

    model = two_io(tf_keras)
    src = _save(model, tmp_path / "m.h5")
    model.save(str(tmp_path / "sm"), save_format="tf")
    model.save_weights(str(tmp_path / "ckpt" / "ck"))
    for source, like in ((src, None), (tmp_path / "sm", None), (tmp_path / "ckpt" / "ck", src)):
        out = tmp_path / f"{source.name}.keras"
        convert(source, "keras", out, like=like)
        assert_same_predictions(src, out)


@pytest.mark.node
def test_teachable_machine_like_nested_sequential(tmp_path: Path) -> None:
    """A Sequential whose first layer is a Sequential, without an InputLayer of its own (TF.js tools write these)."""
    import keras

    from convkit.runtimes.tfjs.runner import TfjsRunner

    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu")], name="features")
    src = _save(keras.Sequential([inner, keras.layers.Dense(3, name="head")], name="outer"), tmp_path / "m.keras")
    convert(src, "tfjs", tmp_path / "tfjs")
    document = _tfjs_json(tmp_path / "tfjs")
    layers = document["modelTopology"]["config"]["layers"]
    document["modelTopology"]["config"]["layers"] = [layer for layer in layers if layer["class_name"] != "InputLayer"]
    assert document["modelTopology"]["config"]["layers"][0]["class_name"] == "Sequential"
    (tmp_path / "tfjs" / "model.json").write_text(json.dumps(document))
    assert TfjsRunner(tmp_path / "tfjs").inputs[0].shape == (None, 6)
    assert_same_predictions(src, tmp_path / "tfjs")
    convert(tmp_path / "tfjs", "keras", tmp_path / "back.keras")
    assert_same_predictions(src, tmp_path / "back.keras")


@pytest.mark.node
def test_tfjs_source_with_recurrent_cell_weight_names(tmp_path: Path) -> None:
    """TF.js names an LSTM's weights by its cell (``lstm_cell_1/kernel``)."""
    import keras

    src = _save(keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4, name="lstm_1"),
                                  keras.layers.Dense(2)]), tmp_path / "m.keras")
    convert(src, "tfjs", tmp_path / "tfjs")
    document = _tfjs_json(tmp_path / "tfjs")
    for group in document["weightsManifest"]:
        for weight in group["weights"]:
            weight["name"] = weight["name"].replace("lstm_1/", "lstm_cell_1/")
    (tmp_path / "tfjs" / "model.json").write_text(json.dumps(document))
    assert "lstm_cell_1/kernel" in _manifest_names(tmp_path / "tfjs")
    convert(tmp_path / "tfjs", "keras", tmp_path / "back.keras")
    assert_same_predictions(src, tmp_path / "back.keras")


@pytest.mark.node
def test_keras_2_0_h5_with_list_config(tmp_path: Path) -> None:
    """Keras 2.0 stored a Sequential's config as the bare list of its layers."""
    import h5py
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((6,)), tf_keras.layers.Dense(4, activation="tanh"),
                                 tf_keras.layers.Dense(2)])
    src = _save(model, tmp_path / "m.h5")
    with h5py.File(src, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        layers = [layer for layer in config["config"]["layers"] if layer["class_name"] != "InputLayer"]
        layers[0]["config"]["batch_input_shape"] = [None, 6]
        h5.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": layers})
        h5.attrs["keras_version"] = "2.0.8"
    _to_tfjs(src, tmp_path / "out", "layers")


@pytest.mark.node
def test_keras3_object_checkpoint_as_weights_source(tmp_path: Path) -> None:
    """``tf.train.Checkpoint(model=m)`` of a Keras 3 model: Keras 3 object paths, not layer_with_weights-N."""
    import keras
    import tensorflow as tf

    L = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 3)), L.DepthwiseConv2D(3), L.BatchNormalization(), L.Flatten(),
                              L.Dense(2)])
    like = _save(model, tmp_path / "like.keras", seed=4)
    _randomize(model, 5)  # other values than like's, so a fallback to like's weights would show
    tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt" / "ck"))
    model.save(tmp_path / "truth.keras")
    convert(tmp_path / "ckpt" / "ck", "keras", tmp_path / "out.keras", like=like)
    assert_same_predictions(tmp_path / "truth.keras", tmp_path / "out.keras")


def test_h5_layer_names_that_nest(tmp_path: Path) -> None:
    """Layer "block/pad" (no weights) before layer "block" (MobileNetV3's naming): the .h5 writer nests both."""
    import tf_keras

    inputs = tf_keras.Input((6, 6, 2))
    x = tf_keras.layers.ZeroPadding2D(1, name="block/pad")(inputs)
    x = tf_keras.layers.Conv2D(3, 3, name="block")(x)
    x = tf_keras.layers.BatchNormalization(name="block/BatchNorm")(x)
    src = _save(tf_keras.Model(inputs, x), tmp_path / "m.h5")
    out = tmp_path / "copy.h5"
    convert(src, "h5", out)
    assert_same_predictions(src, out)


@pytest.mark.node
def test_batch_norm_on_axis_3_folds_into_a_rank1_fused_bias(tmp_path: Path) -> None:
    """Keras 3 BatchNormalization(axis=3) after a convolution (EfficientNet's stem) folds into a [1, 1, 1, C] bias."""
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Normalization(axis=-1)(x)
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(x)
    x = keras.layers.Conv2D(32, 3, strides=2, use_bias=False)(x)
    x = keras.layers.BatchNormalization(axis=3)(x)
    x = keras.layers.Activation("swish")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization(axis=3)(x)
    x = keras.layers.Activation("swish")(x)
    src = _save(keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x)), tmp_path / "m.keras")
    convert(src, "tfjs", tmp_path / "graph", tfjs_kind="graph")
    assert_same_predictions(src, tmp_path / "graph")


@pytest.mark.node
def test_tensorflow_initializer_in_a_tf_keras_config(tmp_path: Path) -> None:
    """tf.constant_initializer(0) (tf_keras' EfficientNetV2) is recorded with TensorFlow's module: data, not code."""
    import tensorflow as tf
    import tf_keras

    inputs = tf_keras.Input((6,))
    outputs = tf_keras.layers.Dense(4, bias_initializer=tf.constant_initializer(0))(inputs)
    src = _save(tf_keras.Model(inputs, outputs), tmp_path / "m.h5")
    assert "tensorflow.python.ops.init_ops_v2" in json.dumps(_h5_config(src))
    for target, out in (("keras", tmp_path / "m.keras"), ("tfjs", tmp_path / "tfjs")):
        convert(src, target, out)
        assert_same_predictions(src, out)


def _h5_config(path: Path) -> Any:
    import h5py

    with h5py.File(path) as h5:
        return json.loads(h5.attrs["model_config"])


def test_layer_names_with_a_slash_to_keras3(tmp_path: Path) -> None:
    """tf_keras names layers "conv1/conv" (DenseNet); Keras 3 allows no "/": renamed, weights follow, said so."""
    import tf_keras

    inputs = tf_keras.Input((6, 6, 2), name="in/put")
    x = tf_keras.layers.Conv2D(3, 3, name="conv1/conv")(inputs)
    x = tf_keras.layers.BatchNormalization(name="conv1/bn")(x)
    x = tf_keras.layers.Conv2D(3, 1, name="conv1_bn")(x)  # the name "conv1/bn" would take
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf_keras.layers.Dense(2, name="head/dense")(x)
    model = tf_keras.Model(inputs, outputs)
    src = _save(model, tmp_path / "m.h5")
    model.save(str(tmp_path / "sm"), save_format="tf")
    for source in (src, tmp_path / "sm"):
        out = tmp_path / f"{source.name}.keras"
        result = convert(source, "keras", out)
        assert any("'in/put' -> 'in_put' and 3 more" in warning for warning in result.warnings), result.warnings
        assert_same_predictions(src, out)
    import zipfile

    with zipfile.ZipFile(tmp_path / "m.h5.keras") as archive:
        names = [layer["config"]["name"] for layer in json.loads(archive.read("config.json"))["config"]["layers"]]
    assert names[:4] == ["in_put", "conv1_conv", "conv1_bn_1", "conv1_bn"] and "head_dense" in names, names


@pytest.mark.node
def test_recurrent_step_not_fused_as_a_bias(tmp_path: Path) -> None:
    """An LSTM step's x @ W + h @ U fused into one MatMul with h @ U as its "bias": TF.js runs only rank-1 biases."""
    import tf_keras

    from tests.convert.conftest import recurrent

    src = _save(recurrent(tf_keras, reset_after=True), tmp_path / "rnn.h5")
    _to_tfjs(src, tmp_path / "tfjs", "graph")  # GRU(reset_after=True) is no TF.js layer


def test_nested_sequential_feeding_an_operation_to_keras3(tmp_path: Path) -> None:
    """ConvNeXt's stem: a nested Sequential (node 1 in tf_keras) feeding `x + y` and the output, to Keras 3."""
    import tf_keras

    inputs = tf_keras.Input((6, 6, 2))
    stem = tf_keras.Sequential([tf_keras.layers.Conv2D(4, 1), tf_keras.layers.LayerNormalization()], name="stem")
    x = stem(inputs)
    y = tf_keras.layers.Conv2D(4, 1, name="branch")(x)
    model = tf_keras.Model(inputs, [x + y, x])
    src = _save(model, tmp_path / "m.h5")
    model.save(str(tmp_path / "sm"), save_format="tf")
    for source in (src, tmp_path / "sm"):
        out = tmp_path / f"{source.name}.keras"
        convert(source, "keras", out)
        assert_same_predictions(src, out)


def test_tf_keras_keras_archive_with_layers_read_through_keras(tmp_path: Path) -> None:
    """A tf_keras .keras whose Normalization variables convkit reads through Keras: tf_keras reads it, not Keras 3."""
    import tf_keras

    import numpy as np

    normalization = tf_keras.layers.Normalization()  # mean, variance and count variables (EfficientNet)
    normalization.adapt(np.random.default_rng(0).normal(2.0, 3.0, (64, 4)).astype("float32"))
    inputs = tf_keras.Input((4,))
    src = _save(tf_keras.Model(inputs, tf_keras.layers.Dense(3)(normalization(inputs))), tmp_path / "m.keras")
    out = tmp_path / "copy.keras"
    convert(src, "keras", out)
    assert_same_predictions(src, out)


def test_export_with_an_integer_weight_and_seed_states_with_like(tmp_path: Path) -> None:
    """A Keras 3 export() SavedModel holds Normalization's integer count (a weight) and Dropout's seed states (not)."""
    import keras
    import numpy as np

    normalization = keras.layers.Normalization()
    normalization.adapt(np.random.default_rng(0).normal(2.0, 3.0, (64, 4)).astype("float32"))
    inputs = keras.Input((4,))
    x = keras.layers.Dropout(0.2)(keras.layers.Dense(5)(normalization(inputs)))
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    like = _save(model, tmp_path / "m.keras")
    model.export(str(tmp_path / "export"), verbose=False)
    out = tmp_path / "copy.keras"
    convert(tmp_path / "export", "keras", out, like=like)
    assert_same_predictions(like, out)


@pytest.mark.node
def test_custom_scale_layer_of_inception_resnet_v2(tmp_path: Path) -> None:
    """InceptionResNetV2's CustomScaleLayer: tf_keras names it "Custom>CustomScaleLayer" (in its .keras with the
    applications module), Keras 3 by its module."""
    import keras
    import tf_keras
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer as Keras3Scale
    from tf_keras.src.applications.inception_resnet_v2 import CustomScaleLayer as TfKerasScale

    for K, Scale, name in ((tf_keras, TfKerasScale, "k2.h5"), (tf_keras, TfKerasScale, "k2.keras"),
                           (keras, Keras3Scale, "k3.keras")):
        a, b = K.Input((4,), name="a"), K.Input((4,), name="b")
        src = _save(K.Model([a, b], Scale(0.17)([K.layers.Dense(4)(a), b])), tmp_path / name)
        for target, out in (("keras", tmp_path / f"{name}.keras"), ("h5", tmp_path / f"{name}.h5"),
                            ("tfjs", tmp_path / f"{name}_tfjs")):
            convert(src, target, out)
            assert_same_predictions(src, out)


@pytest.mark.parametrize("generation", [3, 2])
def test_adapted_normalization_in_a_traced_graph_holds_the_stored_statistics(tmp_path: Path, generation: int) -> None:
    """Normalization computes its mean and variance tensors from its variables when built; the model convkit builds
    and then assigns the stored weights must compute them again (EfficientNet's stem: tf_keras, built with zeros,
    divided by sqrt(0) in TFLite and TF.js graph models)."""
    import numpy as np

    if generation == 3:
        import keras as K
    else:
        import tf_keras as K  # type: ignore[no-redef]
    normalization = K.layers.Normalization(axis=-1)
    normalization.adapt(np.random.default_rng(0).normal(2.0, 3.0, (64, 4)).astype("float32"))
    inputs = K.Input((4,))
    src = tmp_path / ("m.keras" if generation == 3 else "m.h5")
    K.Model(inputs, K.layers.Dense(3)(normalization(inputs))).save(src)  # as adapted: variances above 0
    convert(src, "tflite", tmp_path / "m.tflite")
    assert_same_predictions(src, tmp_path / "m.tflite")


@pytest.mark.parametrize("augmentation", ["RandomFlip", "RandomRotation"])
def test_augmentation_layers_pass_through_a_keras3_export(augmentation: str, tmp_path: Path) -> None:
    """Keras 3's export() calls the model without training=, and its augmentation layers default to training:
    the SavedModel flipped or rotated every request. convkit's export calls the model in inference mode."""
    import keras

    from tests.convert.conftest import _randomize

    layer = getattr(keras.layers, augmentation)(**({"factor": 0.2} if augmentation == "RandomRotation" else {}))
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Rescaling(1 / 255.0), layer,
                              keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(2)])
    _randomize(model, 3)
    src = _save(model, tmp_path / "m.keras")
    result = convert(src, "savedmodel", tmp_path / "out")
    assert result.kind in ("export", "keras-savedmodel")
    assert_same_predictions(src, tmp_path / "out")


@pytest.mark.node
@pytest.mark.parametrize("generation", [2, 3])
def test_bilinear_upsampling_goes_to_tfjs_as_a_graph(generation: int, tmp_path: Path) -> None:
    """TF.js layers' bilinear UpSampling2D samples without Keras' half-pixel centers: the layers model loaded, ran
    and was off by up to 1.4 (exit 0). The graph's ResizeBilinear keeps Keras' sampling."""
    K = __import__("keras" if generation == 3 else "tf_keras")
    model = K.Sequential([K.Input((6, 6, 2)), K.layers.UpSampling2D(interpolation="bilinear"),
                          K.layers.Conv2D(2, 3), K.layers.Flatten(), K.layers.Dense(2)])
    src = _save(model, tmp_path / ("m.keras" if generation == 3 else "m.h5"))
    result = convert(src, "tfjs", tmp_path / "out")
    assert result.kind == "graph" and any("half-pixel" in warning for warning in result.warnings), result.warnings
    assert_same_predictions(src, tmp_path / "out")


@pytest.mark.parametrize(("generation", "target"), [(2, "keras"), (3, "h5")])
def test_a_time_distributed_rnn_crosses_keras_generations(generation: int, target: str, tmp_path: Path) -> None:
    """Keras 3 names a TimeDistributed LSTM's weights td/lstm/lstm_cell/kernel, tf_keras' .h5 td/lstm_cell/kernel:
    a tf_keras file did not convert to .keras ("no stored value for weight 'lstm_1/kernel'")."""
    K = __import__("keras" if generation == 3 else "tf_keras")
    model = K.Sequential([K.Input((3, 4, 2)), K.layers.TimeDistributed(K.layers.LSTM(3)),
                          K.layers.TimeDistributed(K.layers.Dense(2)), K.layers.Flatten(), K.layers.Dense(2)])
    src = _save(model, tmp_path / ("m.keras" if generation == 3 else "m.h5"))
    convert(src, target, tmp_path / f"out.{target}")
    assert_same_predictions(src, tmp_path / f"out.{target}")
