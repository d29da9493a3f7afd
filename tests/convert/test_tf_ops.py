"""Operations on symbolic tensors across Keras generations: tf_keras ``TFOpLambda`` <-> Keras 3 ops.

``x + 3.0`` in a functional tf_keras model is a ``TFOpLambda`` layer naming
``tf.__operators__.add``; in Keras 3 it is an operation record
(``keras.src.ops.numpy.Add``) with 3.0 among its call arguments. MobileNetV3's
hard sigmoid and hard swish are built this way. Each test builds a small
hard-swish model with random weights, converts it as a user would (verification
on) and checks the copy in its own runtime against the source.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convkit import convert
from convkit.cli.main import app
from convkit.formats.tfjs.names import tfjs_unsupported
from convkit.keras_model.config import iter_layers
from convkit.keras_model.dialect import to_keras2_config
from convkit.keras_model.operations import keras3_op_of, tf_op_lambda_of
from tests.convert.conftest import _randomize, assert_same_predictions

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _hard_swish_block(K: Any, ops: Any) -> Any:
    """Input -> Conv -> x + 3 -> ReLU(6) -> * 1/6 -> multiply with the branch, then a few more ops."""
    L = K.layers
    inputs = K.Input((6, 6, 3), name="image")
    x = L.Conv2D(4, 3, padding="same", name="conv")(inputs)
    gate = L.ReLU(6.0, name="relu6")(x + 3.0) * (1.0 / 6.0)
    x = L.Multiply(name="hard_swish")([x, gate])
    x = ops.maximum(2.0 - x / 2.0, ops.multiply(x, 0.5) - 1.0)
    x = L.GlobalAveragePooling2D(name="pool")(x)
    return K.Model(inputs, L.Dense(3, name="logits")(x), name="block")


def _tf_keras_block() -> Any:
    import tensorflow as tf
    import tf_keras

    model = _hard_swish_block(tf_keras, tf.math)
    _randomize(model, 5)
    return model


def _keras3_block(activation: str | None = None) -> Any:
    import keras

    model = _hard_swish_block(keras, keras.ops)
    if activation:  # MobileNetV3 in Keras 3: the hard swish as an activation tf_keras does not have
        inputs = keras.Input((3,), name="extra_in")
        body = keras.Model(model.inputs, keras.layers.Activation(activation, name="act")(model.outputs[0]))
        dense = keras.layers.Dense(3, activation=activation, name="dense_act")
        model = keras.Model([*body.inputs, inputs], [body.outputs[0], dense(inputs)], name="block3")
    _randomize(model, 6)
    return model


def _keras_config(archive: Path) -> dict[str, Any]:
    with zipfile.ZipFile(archive) as bundle:
        return json.loads(bundle.read("config.json"))


def _h5_config(path: Path) -> dict[str, Any]:
    import h5py

    with h5py.File(path, "r") as h5:
        return json.loads(h5.attrs["model_config"])


def _classes(config: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(layer.get("module"), layer["class_name"]) for layer in iter_layers(config)]


# ---------------------------------------------------------------- tf_keras -> Keras 3


def test_tf_keras_tfoplambda_sources_to_keras(tmp_path: Path) -> None:
    """tf_keras .h5, SavedModel, .keras and checkpoint (with --like) -> .keras: Keras 3 operations, same predictions."""
    model = _tf_keras_block()
    src = tmp_path / "m.h5"
    model.save(src)
    model.save(str(tmp_path / "sm"), save_format="tf")
    model.save(tmp_path / "k2.keras")
    model.save_weights(str(tmp_path / "ckpt" / "ck"))
    assert "TFOpLambda" in {class_name for _, class_name in _classes(_h5_config(src))}
    sources = ((src, None), (tmp_path / "sm", None), (tmp_path / "k2.keras", None), (tmp_path / "ckpt" / "ck", src))
    for source, like in sources:
        out = tmp_path / f"{source.name}.keras"
        convert(source, "keras", out, like=like)
        classes = _classes(_keras_config(out))
        assert ("keras.src.ops.numpy", "Add") in classes and ("keras.src.ops.numpy", "Maximum") in classes
        assert not any(class_name == "TFOpLambda" for _, class_name in classes)
        assert_same_predictions(src, out, like=like)
    # a tf_keras .keras is tf_keras' own: its checkpoint is verified in the architecture it names
    convert(tmp_path / "k2.keras", "ckpt", tmp_path / "out_ckpt" / "ck")
    assert_same_predictions(src, tmp_path / "out_ckpt" / "ck", like=tmp_path / "k2.keras")


def test_tfoplambda_without_keras3_operation_fails_naming_it(tmp_path: Path) -> None:
    """An allowlisted TensorFlow function without an exact Keras 3 operation: exit 2, layer and function named."""
    import tensorflow as tf
    import tf_keras

    inputs = tf_keras.Input((5,))
    outputs = tf.math.cumsum(tf_keras.layers.Dense(5)(inputs), axis=1)
    src = tmp_path / "m.h5"
    tf_keras.Model(inputs, outputs).save(src)
    out = tmp_path / "m.keras"
    result = CliRunner().invoke(app, ["convert", str(src), "--to", "keras", "-o", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "'tf.math.cumsum' (TFOpLambda) calls tf.math.cumsum" in lines[0], lines[0]
    assert "no Keras 3 operation counterpart" in lines[0] and str(src) in lines[0]
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["m.h5"]


# ---------------------------------------------------------------- Keras 3 -> tf_keras .h5


def test_keras3_operations_to_h5_load_in_tf_keras(tmp_path: Path) -> None:
    """Keras 3 ops (and hard_silu, which tf_keras lacks) -> .h5 of TFOpLambda layers that tf_keras loads and runs."""
    import tf_keras

    src = tmp_path / "m.keras"
    _keras3_block("hard_silu").save(src)
    out = tmp_path / "m.h5"
    convert(src, "h5", out)
    classes = {class_name for _, class_name in _classes(_h5_config(out))}
    assert "TFOpLambda" in classes and not any(module for module, _ in _classes(_h5_config(out)))
    model = tf_keras.models.load_model(out, compile=False)  # no custom objects
    assert type(model).__module__.startswith("tf_keras")
    document = assert_same_predictions(src, out)
    assert "tf_keras" in json.dumps(document)
    back = tmp_path / "back.keras"
    convert(out, "keras", back)
    assert_same_predictions(src, back)


def test_keras3_own_h5_with_operations_is_read(tmp_path: Path) -> None:
    """Keras 3's ``model.save('x.h5')`` drops the operations' module; Keras 3 cannot load that file, convkit can."""
    import keras

    model = _keras3_block()
    reference = tmp_path / "m.keras"
    model.save(reference)
    src = tmp_path / "m.h5"
    model.save(src)
    with pytest.raises((ValueError, TypeError)):  # "Unknown layer: 'TrueDivide'", or the Add merge layer's refusal
        keras.models.load_model(src, compile=False)
    for target, out in (("keras", tmp_path / "copy.keras"), ("h5", tmp_path / "copy.h5")):
        convert(src, target, out)
        assert_same_predictions(reference, out)


def test_keras3_operation_without_tf_function_makes_a_keras3_h5(tmp_path: Path) -> None:
    """ops.cumsum has no TFOpLambda: the .h5 keeps Keras 3 operation records (with their module) and loads in Keras 3."""
    import h5py
    import keras

    inputs = keras.Input((5,))
    x = keras.layers.Dense(5, name="d")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.ops.cumsum(x, axis=1) + 1.0))
    _randomize(model, 3)
    src = tmp_path / "m.keras"
    model.save(src)
    out = tmp_path / "m.h5"
    convert(src, "h5", out)
    with h5py.File(out, "r") as h5:
        assert str(h5.attrs["keras_version"]).startswith("3.")
    assert {("keras.src.ops.numpy", "Cumsum"), ("keras.src.ops.numpy", "Add")} <= set(_classes(_h5_config(out)))
    keras.models.load_model(out, compile=False)  # no custom objects
    document = assert_same_predictions(src, out)
    assert document["pairs"][0]["model"]["runtime"].startswith("Keras 3")
    convert(out, "keras", tmp_path / "back.keras")
    assert_same_predictions(src, tmp_path / "back.keras")
    # tf_keras cannot build it either: the SavedModel is Keras 3's export, not a crash
    assert convert(src, "savedmodel", tmp_path / "sm").kind == "export"
    assert_same_predictions(src, tmp_path / "sm")


def test_keras3_hard_sigmoid_to_h5_keeps_keras3_function(tmp_path: Path) -> None:
    """Keras 3's hard_sigmoid is relu6(x + 3) / 6; tf_keras' function of that name is another one."""
    import keras

    src = tmp_path / "m.keras"
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="hard_sigmoid", name="d")(inputs))
    _randomize(model, 2)
    model.save(src)
    out = tmp_path / "m.h5"
    convert(src, "h5", out)
    config = _h5_config(out)
    dense = next(layer for layer in iter_layers(config) if layer["class_name"] == "Dense")
    assert dense["config"]["activation"] == "linear"
    assert_same_predictions(src, out)


# ---------------------------------------------------------------- the dialect tables on their own


def _tensor(layer: str) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 4], "dtype": "float32",
                                                         "keras_history": [layer, 0, 0]}}


def test_keras3_operation_records_become_tfoplambda_and_back() -> None:
    add = {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"},
           "registered_name": "Add", "name": "add", "inbound_nodes": [{"args": [_tensor("dense"), 3.0], "kwargs": {}}]}
    rsub = {"module": "keras.src.ops.numpy", "class_name": "Subtract", "config": {"name": "sub"},
            "registered_name": "Subtract", "name": "sub",
            "inbound_nodes": [{"args": [2.0, _tensor("add")], "kwargs": {}}]}
    lam = tf_op_lambda_of(add)
    assert lam["class_name"] == "TFOpLambda" and lam["config"]["function"] == "math.add"
    assert lam["inbound_nodes"] == [["dense", 0, 0, {"y": 3.0}]]
    lam_rsub = tf_op_lambda_of(rsub)
    assert lam_rsub["inbound_nodes"] == [["_CONSTANT_VALUE", -1, 2.0, {"y": ["add", 0, 0]}]]
    back = keras3_op_of(lam_rsub)
    assert (back["module"], back["class_name"]) == ("keras.src.ops.numpy", "Subtract")
    assert back["inbound_nodes"][0]["args"][0] == 2.0
    assert back["inbound_nodes"][0]["args"][1]["config"]["keras_history"] == ["add", 0, 0]


def test_operation_without_tf_function_stays_keras3() -> None:
    """An operation no TFOpLambda can stand for keeps its Keras 3 record (Keras 3 builds it; tf_keras does not)."""
    cumsum = {"module": "keras.src.ops.numpy", "class_name": "Cumsum", "config": {"name": "cumsum", "axis": 1},
              "registered_name": "Cumsum", "name": "cumsum", "inbound_nodes": [{"args": [_tensor("d")], "kwargs": {}}]}
    kept = tf_op_lambda_of(cumsum)
    assert kept["module"] == "keras.src.ops.numpy" and kept["inbound_nodes"] == cumsum["inbound_nodes"]
    with pytest.raises(ValueError, match=r"'tf.math.cumsum' \(TFOpLambda\) calls tf.math.cumsum"):
        keras3_op_of({"class_name": "TFOpLambda", "config": {"name": "tf.math.cumsum",
                                    "function": "math.cumsum"}, "inbound_nodes": [["d", 0, 0, {"axis": 1}]]})


# ---------------------------------------------------------------- layer names that are paths


def test_tf_keras_path_like_layer_names_to_h5_and_keras(tmp_path: Path) -> None:
    """tf_keras MobileNetV3 names layers like paths (``expanded_conv/depthwise/pad`` feeding
    ``expanded_conv/depthwise``): .h5 groups nest, and Keras 3 refuses ``/`` in names."""
    import tf_keras

    L = tf_keras.layers
    inputs = tf_keras.Input((6, 6, 2))
    x = L.ZeroPadding2D(1, name="block/conv/pad")(inputs)
    x = L.Conv2D(3, 3, name="block/conv")(x)
    x = L.BatchNormalization(name="block/conv/bn")(x)
    x = L.ReLU(6.0, name="block/relu")(x + 3.0) * (1.0 / 6.0)
    model = tf_keras.Model(inputs, L.Dense(2, name="logits")(L.Flatten()(x)))
    _randomize(model, 4)
    src = tmp_path / "m.h5"
    model.save(src)
    for target, out in (("h5", tmp_path / "copy.h5"), ("keras", tmp_path / "copy.keras")):
        convert(src, target, out)
        assert_same_predictions(src, out)
    names = {layer["config"]["name"] for layer in iter_layers(_keras_config(tmp_path / "copy.keras"))}
    assert {"block_conv_pad", "block_conv", "block_conv_bn"} <= names


def test_keras3_operation_named_like_a_tfjs_layer_is_not_one() -> None:
    """``ops.concatenate`` is recorded as class Concatenate: TF.js layers must not take it for the merge layer."""
    inputs = {"class_name": "InputLayer", "name": "x", "config": {"name": "x", "batch_shape": [None, 4]},
              "inbound_nodes": []}
    concat = {"module": "keras.src.ops.numpy", "class_name": "Concatenate", "config": {"name": "concatenate", "axis": -1},
              "registered_name": "Concatenate", "name": "concatenate",
              "inbound_nodes": [{"args": [[_tensor("x"), _tensor("x")]], "kwargs": {}}]}
    model = {"class_name": "Functional", "config": {"name": "m", "layers": [inputs, concat],
                                                    "input_layers": [["x", 0, 0]],
                                                    "output_layers": [["concatenate", 0, 0]]}}
    reasons = tfjs_unsupported(to_keras2_config(model), generation=3)
    assert reasons == ["layer 'concatenate' (Concatenate) has no TF.js layers counterpart"]
