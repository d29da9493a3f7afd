"""Every supported (source, target) pair converts and predicts the same as its source.

Predictions are compared by convkit's check engine, each model in its own
runtime: Keras 3, tf_keras, TensorFlow SavedModel signatures, and TF.js
4.22 under Node for TF.js outputs. The representative subset runs in
``make test``; the full matrix is marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convkit.convert import convert
from tests.convert.conftest import assert_same_predictions

TARGETS = ("tfjs", "h5", "keras", "savedmodel", "ckpt")


def _convert_and_check(src: Path, to: str, out: Path, like: Path | None = None, **options) -> dict:
    result = convert(src, to, out, like=like, **options)
    assert result.out == out
    reference_like = like or (src if to == "ckpt" else None)
    assert_same_predictions(src, out, like=reference_like)
    return result.to_dict()


# ---------------------------------------------------------------- the tutorial's files (make test)


@pytest.mark.node
def test_keras3_h5_to_tfjs_layers_loads_in_tfjs(trained_k3: Path, tmp_path: Path) -> None:
    result = _convert_and_check(trained_k3 / "my_model.h5", "tfjs", tmp_path / "tfjs")
    assert result["kind"] == "layers"
    document = json.loads((tmp_path / "tfjs" / "model.json").read_text())
    topology = json.dumps(document["modelTopology"])
    # what TF.js 4.22 refuses in tensorflowjs_converter's output must be gone
    assert "batch_shape\"" not in topology and "DTypePolicy" not in topology and "registered_name" not in topology
    assert document["format"] == "layers-model" and document["convertedBy"].startswith("convkit")
    names = [w["name"] for group in document["weightsManifest"] for w in group["weights"]]
    assert all("/vars/" not in name for name in names)
    assert document["weightsManifest"][0]["paths"][0].startswith("group1-shard1of")


@pytest.mark.node
def test_keras2_h5_to_tfjs_layers(trained_k2: Path, tmp_path: Path) -> None:
    result = _convert_and_check(trained_k2 / "my_model.h5", "tfjs", tmp_path / "tfjs")
    assert result["kind"] == "layers"


@pytest.mark.node
def test_keras_archive_to_tfjs(trained_k3: Path, tmp_path: Path) -> None:
    _convert_and_check(trained_k3 / "my_model.keras", "tfjs", tmp_path / "tfjs")


@pytest.mark.node
def test_legacy_keras_saved_model_to_tfjs_layers(trained_k2: Path, tmp_path: Path) -> None:
    result = _convert_and_check(trained_k2 / "saved_model" / "my_model", "tfjs", tmp_path / "tfjs")
    assert result["kind"] == "layers"


@pytest.mark.node
def test_export_saved_model_to_tfjs_graph(trained_k3: Path, tmp_path: Path) -> None:
    result = _convert_and_check(trained_k3 / "saved_model" / "my_model", "tfjs", tmp_path / "graph")
    assert result["kind"] == "graph"
    assert json.loads((tmp_path / "graph" / "model.json").read_text())["format"] == "graph-model"
    from convkit.errors import UsageError

    with pytest.raises(UsageError, match="TF.js graph model, a TensorFlow graph without Keras layers"):
        convert(tmp_path / "graph", "keras", tmp_path / "back.keras")  # graph targets take it (tests/convert/test_graphs.py)
    assert not (tmp_path / "back.keras").exists()


@pytest.mark.parametrize("to", ["h5", "keras", "savedmodel", "ckpt"])
def test_keras3_h5_to_every_keras_target(trained_k3: Path, tmp_path: Path, to: str) -> None:
    out = tmp_path / ("out." + to if to in ("h5", "keras") else to)
    if to == "ckpt":
        out = tmp_path / "ckpt" / "weights"
    _convert_and_check(trained_k3 / "my_model.h5", to, out)


@pytest.mark.parametrize("to", ["h5", "keras", "savedmodel"])
def test_keras2_h5_to_keras_targets(trained_k2: Path, tmp_path: Path, to: str) -> None:
    out = tmp_path / ("out." + to if to in ("h5", "keras") else to)
    _convert_and_check(trained_k2 / "my_model.h5", to, out)


def test_checkpoint_with_like_to_h5(trained_k3: Path, tmp_path: Path) -> None:
    src = trained_k3 / "training_1" / "cp.ckpt"
    out = tmp_path / "from_ckpt.h5"
    convert(src, "h5", out, like=trained_k3 / "my_model.keras")
    # the tutorial's checkpoint holds the stage-1 weights: compare against the same checkpoint
    assert_same_predictions(src, out, like=trained_k3 / "my_model.keras")


def test_keras3_checkpoint_loads_in_tf_keras(trained_k3: Path, tmp_path: Path) -> None:
    """--to ckpt writes what tf.train.load_checkpoint and tf_keras load_weights read."""
    import numpy as np
    import tensorflow as tf
    import tf_keras

    prefix = tmp_path / "ck" / "ckpt"
    convert(trained_k3 / "my_model.keras", "ckpt", prefix)
    reader = tf.train.load_checkpoint(str(prefix))
    assert "layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE" in reader.get_variable_to_shape_map()
    model = tf_keras.Sequential([
        tf_keras.layers.Dense(512, activation="relu", input_shape=(784,)), tf_keras.layers.Dropout(0.2),
        tf_keras.layers.Dense(10),
    ])
    model.load_weights(str(prefix)).assert_existing_objects_matched()
    import keras

    reference = keras.models.load_model(trained_k3 / "my_model.keras", compile=False)
    x = np.random.default_rng(0).random((4, 784)).astype("float32")
    np.testing.assert_allclose(model(x).numpy(), reference(x).numpy(), atol=1e-5)


# ---------------------------------------------------------------- more architectures (make test)


@pytest.mark.node
@pytest.mark.parametrize("name", ["cnn", "two_io"])
def test_keras3_architectures_to_tfjs(zoo_k3: Path, tmp_path: Path, name: str) -> None:
    result = _convert_and_check(zoo_k3 / f"{name}.keras", "tfjs", tmp_path / name)
    assert result["kind"] == "layers"


@pytest.mark.node
def test_keras2_functional_nested_to_tfjs(zoo_k2: Path, tmp_path: Path) -> None:
    _convert_and_check(zoo_k2 / "two_io.h5", "tfjs", tmp_path / "two_io")


@pytest.mark.node
def test_recurrent_v2_gru_is_a_layers_model(zoo_k2: Path, tmp_path: Path) -> None:
    result = _convert_and_check(zoo_k2 / "rnn_v2.h5", "tfjs", tmp_path / "rnn")
    assert result["kind"] == "layers"


def test_gru_reset_after_refused_as_layers(zoo_k3: Path, tmp_path: Path) -> None:
    from convkit.errors import UsageError

    with pytest.raises(UsageError, match="reset_after"):
        convert(zoo_k3 / "rnn.keras", "tfjs", tmp_path / "rnn", tfjs_kind="layers")
    assert not (tmp_path / "rnn").exists()


def test_keras2_nested_functional_to_keras(zoo_k2: Path, tmp_path: Path) -> None:
    _convert_and_check(zoo_k2 / "two_io.h5", "keras", tmp_path / "two_io.keras")


@pytest.mark.node
def test_tfjs_layers_back_to_keras_formats(zoo_k3: Path, tmp_path: Path) -> None:
    tfjs = tmp_path / "cnn_tfjs"
    convert(zoo_k3 / "cnn.keras", "tfjs", tfjs)
    for to, out in (("h5", tmp_path / "back.h5"), ("keras", tmp_path / "back.keras")):
        convert(tfjs, to, out)
        assert_same_predictions(zoo_k3 / "cnn.keras", out)


def test_weights_only_sources_with_like(zoo_k3: Path, zoo_k2: Path, tmp_path: Path) -> None:
    out = tmp_path / "from_weights.keras"
    convert(zoo_k3 / "cnn.weights.h5", "keras", out, like=zoo_k3 / "cnn.keras")
    assert_same_predictions(zoo_k3 / "cnn.keras", out)
    out2 = tmp_path / "from_ckpt.h5"
    convert(zoo_k2 / "two_io_ckpt" / "ckpt", "h5", out2, like=zoo_k2 / "two_io.h5")
    assert_same_predictions(zoo_k2 / "two_io.h5", out2)


@pytest.mark.node
def test_quantized_tfjs_within_dtype_tolerance(zoo_k3: Path, tmp_path: Path) -> None:
    out = tmp_path / "q"
    convert(zoo_k3 / "cnn.keras", "tfjs", out, quantize="uint16")
    document = json.loads((out / "model.json").read_text())
    weights = document["weightsManifest"][0]["weights"]
    assert all(w.get("quantization", {}).get("dtype") == "uint16" for w in weights)
    assert_same_predictions(zoo_k3 / "cnn.keras", out)


# ---------------------------------------------------------------- the full matrix (slow)


def _out(tmp_path: Path, to: str) -> Path:
    return {"h5": tmp_path / "o.h5", "keras": tmp_path / "o.keras", "savedmodel": tmp_path / "sm",
            "ckpt": tmp_path / "ck" / "w", "tfjs": tmp_path / "tfjs"}[to]


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.parametrize("to", TARGETS)
@pytest.mark.parametrize("source", ["cnn.keras", "cnn.h5", "two_io.keras", "two_io.h5", "rnn.keras", "rnn_v2.h5"])
def test_matrix_keras3(zoo_k3: Path, tmp_path: Path, source: str, to: str) -> None:
    _convert_and_check(zoo_k3 / source, to, _out(tmp_path, to))


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.parametrize("to", TARGETS)
@pytest.mark.parametrize("source", ["cnn.h5", "two_io.h5", "rnn.h5", "rnn_v2.h5"])
def test_matrix_keras2(zoo_k2: Path, tmp_path: Path, source: str, to: str) -> None:
    _convert_and_check(zoo_k2 / source, to, _out(tmp_path, to))


@pytest.mark.slow
@pytest.mark.node
@pytest.mark.parametrize("to", TARGETS)
@pytest.mark.parametrize("source", ["my_model.h5", "my_model.keras", "saved_model/my_model"])
def test_matrix_tutorial(trained: Path, tmp_path: Path, source: str, to: str) -> None:
    src = trained / source
    from convkit.formats.savedmodel import has_keras_metadata

    if source.startswith("saved_model") and not has_keras_metadata(src) and to != "tfjs":
        if to == "savedmodel":
            _convert_and_check(src, to, _out(tmp_path, to))
        else:
            pytest.skip("an export() SavedModel converts to Keras formats only with --like (tested apart)")
        return
    _convert_and_check(src, to, _out(tmp_path, to))


@pytest.mark.slow
@pytest.mark.parametrize("to", ["h5", "keras", "tfjs"])
def test_export_saved_model_with_like(trained_k3: Path, tmp_path: Path, to: str) -> None:
    _convert_and_check(trained_k3 / "saved_model" / "my_model", to, _out(tmp_path, to),
                       like=trained_k3 / "my_model.keras", tfjs_kind="layers" if to == "tfjs" else None)


def test_layers_outside_the_streaming_table_go_through_keras(tmp_path: Path) -> None:
    """GroupNormalization's variables are not in convkit's .keras name table: Keras 3 reads them instead."""
    import keras
    import numpy as np

    model = keras.Sequential([
        keras.Input((6,)), keras.layers.Dense(8), keras.layers.Reshape((2, 4)),
        keras.layers.GroupNormalization(groups=2), keras.layers.Flatten(), keras.layers.Dense(3),
    ])
    rng = np.random.default_rng(0)
    for variable in model.weights:
        variable.assign(rng.normal(size=tuple(variable.shape)).astype("float32"))
    model.save(tmp_path / "gn.keras")
    model.save_weights(tmp_path / "gn.weights.h5")
    convert(tmp_path / "gn.keras", "h5", tmp_path / "gn.h5")
    convert(tmp_path / "gn.weights.h5", "keras", tmp_path / "from_weights.keras", like=tmp_path / "gn.keras")
    assert_same_predictions(tmp_path / "gn.keras", tmp_path / "gn.h5")
    assert_same_predictions(tmp_path / "gn.keras", tmp_path / "from_weights.keras")


@pytest.mark.parametrize("source", ["zoo_k3/cnn.keras", "zoo_k2/rnn_v2.h5"])
def test_h5_output_loads_in_both_keras_generations(request: pytest.FixtureRequest, tmp_path: Path, source: str) -> None:
    import keras
    import numpy as np
    import tf_keras

    folder, name = source.split("/")
    src = request.getfixturevalue(folder) / name
    out = tmp_path / "out.h5"
    convert(src, "h5", out)
    first = keras.models.load_model(out, compile=False)
    second = tf_keras.models.load_model(out, compile=False)
    shape = (4, *first.inputs[0].shape[1:])
    x = np.random.default_rng(0).integers(0, 30, shape).astype(first.inputs[0].dtype)
    np.testing.assert_allclose(np.asarray(first(x)), second(x).numpy(), atol=1e-5)
