"""The one rule for what is code: every nested object judged by module and name, graphs by their ops."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from convkit.errors import UnsafeModelError
from convkit.policy.code import code_objects, refuse_code
from convkit.policy.graph_ops import refuse_risky_graph, risky_ops
from convkit.policy.safe_mode import unsafe_scope

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "hostile"


def _dense(**fields: object) -> dict:
    config = {"name": "dense", "units": 2, "activation": "relu", **fields}
    return {"module": "keras", "class_name": "Sequential", "config": {"name": "m", "layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": config, "registered_name": None}]}}


@pytest.mark.parametrize("field, value, reason", [
    ("activation", {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"},
     "module 'os'"),
    ("kernel_initializer", {"module": "subprocess", "class_name": "Popen", "config": {}, "registered_name": None},
     "module 'subprocess'"),
    ("kernel_regularizer", {"class_name": "__lambda__", "config": {"code": "4wE="}}, "__lambda__"),
    ("kernel_constraint", {"module": None, "class_name": "Clip", "config": {}, "registered_name": "my_pkg>Clip"},
     "my_pkg>Clip"),
    ("activation", {"module": "keras.src.saving.saving_lib", "class_name": "function", "config": "load_model",
                    "registered_name": None}, "load_model"),
    ("bias_initializer", {"module": "builtins", "class_name": "function", "config": "eval"}, "eval"),
    ("kernel_initializer", {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                            "registered_name": {"Custom>Zeros": 1}}, "registered name is not a name"),
])
def test_code_anywhere_in_a_config_is_found(field: str, value: dict, reason: str) -> None:
    found = code_objects(_dense(**{field: value}))
    assert len(found) == 1 and reason in found[0].reason, found
    assert found[0].where == f"m/dense/{field}"
    with pytest.raises(UnsafeModelError, match="--unsafe"):
        refuse_code(_dense(**{field: value}), Path("x.keras"), allow_unsafe=False)
    refuse_code(_dense(**{field: value}), Path("x.keras"), allow_unsafe=True)


def test_keras_built_ins_are_data() -> None:
    with zipfile.ZipFile(CORPUS / "good" / "tiny_k3.keras") as archive:
        keras3 = json.loads(archive.read("config.json"))
    import h5py

    with h5py.File(CORPUS / "good" / "tiny_k2.h5") as h5:
        keras2 = json.loads(h5.attrs["model_config"])
    layer_scale = {"module": "keras.src.applications.convnext", "class_name": "LayerScale",
                   "config": {"name": "stage_0_block_0_layer_scale", "init_values": 1e-6, "projection_dim": 96}}
    activation = {"module": "keras.activations", "class_name": "function", "config": "gelu", "registered_name": "gelu"}
    optimizer = {"class_name": "Custom>Adam", "config": {"name": "Adam", "learning_rate": 0.001}}
    tf_op = {"class_name": "TFOpLambda", "config": {"name": "tf.math.add", "function": "math.add"}}
    slicing = {"class_name": "SlicingOpLambda", "config": {"name": "getitem", "function": "__operators__.getitem"}}
    # Keras 3 records `x + 3.0` on a symbolic tensor (MobileNetV3's hard sigmoid) as an op object
    keras3_op = {"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "add"},
                 "registered_name": "Add"}
    # tf.constant_initializer(0) in a tf_keras config (EfficientNetV2) names TensorFlow's own class
    tf_initializer = _dense(bias_initializer={"module": "tensorflow.python.ops.init_ops_v2", "class_name": "Constant",
                                              "config": {"value": 0}, "registered_name": "Constant"})
    for config in (keras3, keras2, layer_scale, _dense(activation=activation), optimizer, tf_op, slicing, keras3_op,
                   tf_initializer):
        assert code_objects(config) == [], config
    # tf_keras registers InceptionResNetV2's CustomScaleLayer as "Custom>CustomScaleLayer"; other "Custom>" names are code
    shipped = {"class_name": "Custom>CustomScaleLayer", "config": {"name": "scale", "scale": 0.17}}
    assert code_objects(shipped) == []
    in_keras_file = {"module": "tf_keras.src.applications.inception_resnet_v2", "class_name": "CustomScaleLayer",
                     "config": {"name": "scale", "scale": 0.17}, "registered_name": "Custom>CustomScaleLayer"}
    assert code_objects(in_keras_file) == []  # tf_keras' own .keras names it so
    mine = {"class_name": "Custom>MyScale", "config": {"name": "scale"}}
    assert [found.class_name for found in code_objects(mine)] == ["Custom>MyScale"]
    for module, class_name in (("my_package.layers", "CustomScaleLayer"),
                               ("tf_keras.src.applications.inception_resnet_v2", "MyScale")):
        outside = {**in_keras_file, "module": module, "class_name": class_name}
        assert [found.class_name for found in code_objects(outside)] == [class_name]
    # ... but no other class of that module, nor another TensorFlow module
    for module, class_name in (("tensorflow.python.ops.init_ops_v2", "Initializer"),
                               ("tensorflow.python.ops.gen_io_ops", "Constant")):
        other = _dense(bias_initializer={"module": module, "class_name": class_name, "config": {}})
        assert [found.class_name for found in code_objects(other)] == [class_name]
    # control flow over functions is not on the ops allowlist
    keras3_core = {"module": "keras.src.ops.core", "class_name": "WhileLoop", "config": {}, "registered_name": None}
    assert [found.class_name for found in code_objects(keras3_core)] == ["WhileLoop"]


@pytest.mark.parametrize("function", ["io.write_file", "io.read_file", "py_function", "numpy_function",
                                      "compat.v1.py_func", "raw_ops.WriteFile", "math.add; import os", 7, None])
def test_tf_op_layers_call_only_pure_ops(function: object) -> None:
    found = code_objects({"class_name": "TFOpLambda", "config": {"name": "op", "function": function}})
    assert len(found) == 1 and found[0].class_name == "TFOpLambda"


def test_lambda_layers_are_one_finding_each() -> None:
    lam = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
           "config": {"name": "lam", "function": {"class_name": "__lambda__", "config": {"code": "4wAAAA=="}}}}
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [lam, dict(lam)]}}
    found = code_objects(config)
    assert [f.where for f in found] == ["sequential/lam", "sequential/lam"]
    assert found[0].describe() == "a Lambda layer 'lam'"


def test_escaped_class_names_are_the_same_class() -> None:
    # JSON escapes are parsed, never searched as bytes: L\u0061mbda is Lambda.
    config = json.loads('{"class_name": "L\\u0061mbda", "config": {"name": "x"}}')
    assert [f.class_name for f in code_objects(config)] == ["Lambda"]


def test_the_savedmodel_op_scan_sees_every_function() -> None:
    from convkit.formats.savedmodel import read_saved_model

    good = read_saved_model(CORPUS / "good" / "tiny_savedmodel")
    assert risky_ops(good) == []  # the saver's own SaveV2/RestoreV2 are allowed in the saver only
    leaky = read_saved_model(CORPUS / "cases" / "savedmodel_write_file_op")
    ops = risky_ops(leaky)
    assert {op.op for op in ops} == {"WriteFile"} and all(op.function for op in ops)
    with pytest.raises(UnsafeModelError, match="WriteFile"):
        refuse_risky_graph(leaky, Path("m"), allow_unsafe=False)


def test_a_checkpoint_op_outside_the_saver_counts() -> None:
    from convkit.formats.savedmodel import read_saved_model

    message = read_saved_model(CORPUS / "good" / "tiny_savedmodel")
    function = message.meta_graphs[0].graph_def.library.function[0]
    function.node_def.add(name="sneaky_save", op="SaveV2")
    assert [(op.op, op.node) for op in risky_ops(message)] == [("SaveV2", "sneaky_save")]


def test_unsafe_scope_is_restored_whatever_happens() -> None:
    from keras.src.saving.serialization_lib import in_safe_mode
    from tf_keras.src.saving.serialization_lib import in_safe_mode as legacy_in_safe_mode

    before = (in_safe_mode(), legacy_in_safe_mode())
    with pytest.raises(RuntimeError):
        with unsafe_scope(True):
            assert in_safe_mode() is False and legacy_in_safe_mode() is False
            raise RuntimeError("a load failed")
    assert (in_safe_mode(), legacy_in_safe_mode()) == before
    with unsafe_scope(False):
        assert in_safe_mode() is True and legacy_in_safe_mode() is True
    assert (in_safe_mode(), legacy_in_safe_mode()) == before
