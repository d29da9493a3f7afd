"""tf.keras 2.2-2.3's ``TensorFlowOpLayer``: a raw TensorFlow op on a Keras tensor (an SRGAN generator's
``tf.nn.depth_to_space``), recorded as the op's NodeDef. An op on convkit's pure-op allowlist
(convkit/policy/graph_ops.py) is data and converts as the TensorFlow function computing it; any other
op is refused by name.

The files are written by tf_keras' own ``TensorFlowOpLayer`` (whose ``get_config`` is the record
tf.keras 2.2.4-tf wrote), then rewritten to the Keras 2.2.4-tf dialect (tests/convert/_old_keras.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from convkit import convert
from convkit.errors import ReadError, UnsafeModelError
from tests.convert._old_keras import rewrite_h5
from tests.convert.conftest import _randomize, assert_same_predictions

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md

NHWC = "TkhXQw=="  # b"NHWC", as protobuf's JSON writes bytes


def _op_layer(node_def: dict[str, Any], constants: dict[int, Any] | None = None) -> Any:
    from tf_keras.src.engine.base_layer import TensorFlowOpLayer

    return TensorFlowOpLayer(node_def, name=node_def["name"], constants=constants)


def sub_pixel_model(path: Path, op: str = "DepthToSpace") -> Path:
    """conv -> DepthToSpace (an SRGAN upsampling step) -> Mul by a constant 0.5 -> conv, as a Keras 2.2.4-tf .h5."""
    import numpy as np
    import tf_keras

    L = tf_keras.layers
    image = tf_keras.Input((4, 4, 3), name="input_1")
    x = L.Conv2D(8, 3, padding="same", name="conv2d_1")(image)
    x = _op_layer({"name": op, "op": op, "input": ["conv2d_1/BiasAdd"],
                   "attr": {"block_size": {"i": "2"}, "data_format": {"s": NHWC}, "T": {"type": "DT_FLOAT"}}})(x)
    x = _op_layer({"name": "Mul", "op": "Mul", "input": [f"{op}", "Mul/y"], "attr": {"T": {"type": "DT_FLOAT"}}},
                  constants={1: np.float32(0.5)})(x)
    outputs = L.Conv2D(3, 3, padding="same", name="conv2d_2")(x)
    model = tf_keras.Model(image, outputs)
    _randomize(model, 3)
    model.save(path)
    return rewrite_h5(path, "2.2.4-tf")


def test_the_record_is_what_tf_keras_2_2_4_tf_wrote(tmp_path: Path) -> None:
    import h5py

    src = sub_pixel_model(tmp_path / "m.h5")
    with h5py.File(src) as h5:
        layers = json.loads(h5.attrs["model_config"])["config"]["layers"]
    op_layers = [layer for layer in layers if layer["class_name"] == "TensorFlowOpLayer"]
    assert [layer["name"] for layer in op_layers] == ["tf_op_layer_DepthToSpace", "tf_op_layer_Mul"]
    assert op_layers[0]["config"]["name"] == "DepthToSpace"
    assert op_layers[0]["config"]["node_def"]["attr"]["block_size"] == {"i": "2"}
    assert op_layers[1]["config"]["constants"] == {"1": 0.5}
    assert op_layers[1]["inbound_nodes"] == [[["tf_op_layer_DepthToSpace", 0, 0, {}]]]


@pytest.mark.node
def test_an_allowlisted_op_converts(tmp_path: Path) -> None:
    src = sub_pixel_model(tmp_path / "m.h5")
    for target, out in (("h5", tmp_path / "copy.h5"), ("savedmodel", tmp_path / "copy_savedmodel"),
                        ("tfjs", tmp_path / "tfjs")):
        convert(src, target, out)
        assert_same_predictions(src, out)
    # Keras 3 has no operation convkit writes for tf.nn.depth_to_space: no .keras, and a sentence saying so
    with pytest.raises(ReadError, match="tf_op_layer_DepthToSpace.*depth_to_space"):
        convert(src, "keras", tmp_path / "copy.keras")
    assert not (tmp_path / "copy.keras").exists()


def test_an_op_outside_the_allowlist_is_refused_by_name(tmp_path: Path) -> None:
    import h5py

    src = sub_pixel_model(tmp_path / "m.h5")
    with h5py.File(src, "r+") as h5:  # the same record wrapping another op
        config = json.loads(h5.attrs["model_config"])
        config["config"]["layers"][2]["config"]["node_def"]["op"] = "ReadFile"
        h5.attrs["model_config"] = json.dumps(config).encode()
    with pytest.raises(UnsafeModelError, match="TensorFlowOpLayer layer 'DepthToSpace'.*'ReadFile'"):
        convert(src, "h5", tmp_path / "copy.h5")
    assert not (tmp_path / "copy.h5").exists()
