"""Sound files convkit cannot carry to a target get exit 2 and a sentence, never exit 3; the rest convert.

A model that takes strings (``TextVectorization`` inside it) is refused for the targets whose
runtimes cannot run its string operations (TF.js, ONNX, TFLite) and converted where the target
holds it: the vocabulary, which Keras keeps as an asset beside the config, travels as the
layer's ``vocabulary`` argument. A Keras SavedModel whose custom layer Keras could only revive
from the saved graph (TF 2.7 wrote such files for layers without ``get_config``) is refused by name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit import check, convert
from convkit.cli.main import app
from convkit.errors import UsageError

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md

runner = CliRunner()
CORPUS = ["the cat sat", "a dog ran far", "the dog sat on the mat"]


def _text_model(corpus: list[str]) -> object:
    import keras

    keras.utils.set_random_seed(3)
    vectorize = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=4)
    vectorize.adapt(corpus)
    inputs = keras.Input((1,), dtype="string", name="text")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(20, 3)(vectorize(inputs)))
    return keras.Model(inputs, keras.layers.Dense(2)(x))


@pytest.mark.parametrize("target", ["tfjs", "onnx", "tflite"])
def test_string_inputs_refused_where_the_target_cannot_run_them(target: str, tmp_path: Path) -> None:
    _text_model(CORPUS).save(tmp_path / "m.keras")
    with pytest.raises(UsageError) as caught:
        convert(tmp_path / "m.keras", target, tmp_path / "out")
    message = str(caught.value)
    assert "takes strings (input 'text'" in message and "convert to" in message and "keras" in message, message
    assert not (tmp_path / "out").exists()


def test_string_inputs_converted_where_the_target_holds_them(tmp_path: Path) -> None:
    src = tmp_path / "m.keras"
    _text_model(CORPUS).save(src)
    for target, out in (("keras", tmp_path / "copy.keras"), ("h5", tmp_path / "copy.h5")):
        convert(src, target, out)
        report = check(src, [out], random=32)
        assert report.passed, report.to_dict()
        assert report.inputs["tensors"]["text"]["dtype"] == "object"
    # the vocabulary is what makes the predictions: a model with another one must not pass
    _text_model(["mat on sat dog", "far ran a the", "cat"]).save(tmp_path / "other.keras")
    assert not check(src, [tmp_path / "other.keras"], random=32).passed


def _revived_only(tmp_path: Path) -> Path:
    """A tf_keras SavedModel whose custom layer's metadata holds no config, as TF 2.7 wrote for layers
    without get_config: tf_keras can only revive it from the graph."""
    import tf_keras

    from convkit.containers import protobuf

    class Scale(tf_keras.layers.Layer):
        def __init__(self, factor: float, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, shape: object) -> None:
            self.w = self.add_weight(name="w", shape=(3,), initializer="ones")

        def call(self, x: object) -> object:
            return x * self.w * self.factor

    inputs = tf_keras.Input((4,))
    model = tf_keras.Model(inputs, Scale(2.0, name="scale")(tf_keras.layers.Dense(3)(inputs)))
    folder = tmp_path / "sm"
    model.save(str(folder), save_format="tf")
    path = folder / "keras_metadata.pb"
    metadata = protobuf.parse_file_message("SavedMetadata", path.read_bytes(), path, "Keras SavedMetadata")
    for node in metadata.nodes:
        if json.loads(node.metadata).get("class_name") == "Scale":
            record = json.loads(node.metadata)
            del record["config"]
            node.metadata = json.dumps(record)
    path.write_bytes(metadata.SerializeToString())
    return folder


@pytest.mark.parametrize("target", ["keras", "tfjs"])
def test_custom_layers_revived_from_a_graph_are_named(target: str, tmp_path: Path) -> None:
    src = _revived_only(tmp_path)
    result = runner.invoke(app, ["convert", str(src), "--to", target, "-o", str(tmp_path / "out")],
                           env={**os.environ, "CONVKIT_DEBUG": ""})
    assert result.exit_code == 2, result.stderr
    assert "layer 'scale' is of the custom class 'Scale'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_tf_keras_layer_keras3_dropped_is_named_for_keras3_targets(tmp_path: Path) -> None:
    """LocallyConnected2D was called a custom class "convkit cannot build without its code"; other targets convert."""
    import tf_keras

    model = tf_keras.Sequential([tf_keras.Input((6, 6, 2)), tf_keras.layers.LocallyConnected2D(2, 3),
                                 tf_keras.layers.Flatten(), tf_keras.layers.Dense(2)])
    model.save(tmp_path / "m.h5")
    result = runner.invoke(app, ["convert", str(tmp_path / "m.h5"), "--to", "keras", "-o", str(tmp_path / "o.keras")],
                           env={**os.environ, "CONVKIT_DEBUG": ""})
    assert result.exit_code == 2, result.stderr
    assert "Keras 3 has no layer class 'LocallyConnected2D' (a tf_keras layer" in result.stderr
    assert not (tmp_path / "o.keras").exists()
    convert(tmp_path / "m.h5", "tflite", tmp_path / "m.tflite")
    assert check(tmp_path / "m.h5", [tmp_path / "m.tflite"], random=32).passed


def test_random_string_samples() -> None:
    from convkit.containers.tensors import TensorSpec
    from convkit.data.samples import random_inputs

    arrays = random_inputs([TensorSpec("text", (None, 1), "string")], 5).arrays["text"]
    assert arrays.shape == (5, 1) and arrays.dtype == np.dtype(object)
    assert all(isinstance(value, str) and value for value in arrays.reshape(-1))
