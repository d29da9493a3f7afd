"""The tutorial's files, from both Keras generations, read back with the stock APIs."""

from __future__ import annotations

import json

import numpy as np
import pytest

EXPECTED_FILES = [
    "training_1/checkpoint",
    "training_1/cp.ckpt.index",
    "training_1/cp.ckpt.data-00000-of-00001",
    "training_2/checkpoint",
    "training_2/cp-0000.ckpt.index",
    "training_2/cp-0000.ckpt.data-00000-of-00001",
    "training_2/cp-0005.ckpt.index",
    "training_2/cp-0005.ckpt.data-00000-of-00001",
    "checkpoints/checkpoint",
    "checkpoints/my_checkpoint.index",
    "checkpoints/my_checkpoint.data-00000-of-00001",
    "saved_model/my_model/saved_model.pb",
    "saved_model/my_model/variables/variables.index",
    "my_model.h5",
    "my_model.keras",
    "training_curve.png",
    "train.json",
]


@pytest.mark.parametrize("name", EXPECTED_FILES)
def test_every_tutorial_file_exists(trained, name):
    assert (trained / name).is_file()


def test_checkpoint_lists_the_hidden_kernel(trained):
    import tensorflow as tf

    shapes = dict(tf.train.list_variables(str(trained / "training_1" / "cp.ckpt")))
    assert shapes["layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == [784, 512]
    assert shapes["layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE"] == [512, 10]
    # optimizer state travels with the weights, as in tf_keras' own checkpoints
    assert any(key.startswith("optimizer/") for key in shapes)


def test_latest_checkpoint_is_the_last_periodic_save(trained):
    import tensorflow as tf

    assert tf.train.latest_checkpoint(str(trained / "training_2")).endswith("cp-0005.ckpt")


def test_saved_model_serves_784_floats(trained, mnist_test):
    import tensorflow as tf

    loaded = tf.saved_model.load(str(trained / "saved_model" / "my_model"))
    serve = loaded.signatures["serving_default"]
    (spec,) = serve.structured_input_signature[1].values()
    assert spec.dtype == tf.float32 and spec.shape.as_list() == [None, 784]
    (logits,) = serve(**{spec.name: tf.constant(mnist_test[0][:5])}).values()
    assert logits.shape == (5, 10)


def test_whole_model_files_load_with_their_keras_generation(trained_k3, trained_k2, mnist_test):
    import keras
    import tf_keras

    x = mnist_test[0][:50]
    for generation, folder, module in ((3, trained_k3, keras), (2, trained_k2, tf_keras)):
        h5 = module.models.load_model(str(folder / "my_model.h5"))
        archive = module.models.load_model(str(folder / "my_model.keras"))
        np.testing.assert_array_equal(h5.predict(x, verbose=0), archive.predict(x, verbose=0))
        assert type(h5.optimizer).__name__ == type(archive.optimizer).__name__ == "Adam", generation


def test_tf_keras_reads_keras3_checkpoints_and_back(trained_k3, trained_k2, mnist_test):
    """Keras 3 checkpoints use tf_keras' layout, so either generation restores the other's."""
    from convkit.train.checkpoints import load_checkpoint
    from convkit.train.model import create_model

    x = mnist_test[0][:50]
    legacy = create_model(2)
    legacy.load_weights(str(trained_k3 / "checkpoints" / "my_checkpoint")).expect_partial()
    current = create_model(3)
    load_checkpoint(current, trained_k3 / "checkpoints" / "my_checkpoint")
    np.testing.assert_array_equal(legacy.predict(x, verbose=0), current.predict(x, verbose=0))
    load_checkpoint(current, trained_k2 / "checkpoints" / "my_checkpoint")
    legacy.load_weights(str(trained_k2 / "checkpoints" / "my_checkpoint")).expect_partial()
    np.testing.assert_array_equal(legacy.predict(x, verbose=0), current.predict(x, verbose=0))


def test_restored_models_predict_as_the_trained_ones(trained):
    report = json.loads((trained / "train.json").read_text())
    evaluations = {e["name"]: e for e in report["evaluations"]}
    assert evaluations["untrained"]["accuracy"] < 0.3
    for name in ("training_1", "training_2", "my_checkpoint", "saved_model", "h5", "keras"):
        assert evaluations[name]["same_predictions"] is True, name
        assert evaluations[name]["max_abs_diff"] <= 1e-5, name
        assert evaluations[name]["accuracy"] >= 0.80, name
    assert evaluations["training_1"]["accuracy"] == evaluations["training_1_trained"]["accuracy"]
    assert evaluations["h5"]["accuracy"] == evaluations["whole_model_trained"]["accuracy"]


def test_history_has_one_row_per_epoch(trained):
    report = json.loads((trained / "train.json").read_text())
    assert [len(report["history"][stage]) for stage in ("training_1", "training_2", "whole_model")] == [2, 5, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(report["history"]["training_2"][0])
