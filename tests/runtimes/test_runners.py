"""Runners and engine on small models: names across formats, integer inputs, unsafe files, broken TF.js."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from convkit.check import check
from convkit.errors import ConvkitError, ReadError, UnsafeModelError
from convkit.runtimes.keras.runner import KerasModelRunner
from convkit.runtimes.open import open_runner


@pytest.fixture(scope="module")
def two_input_model(tmp_path_factory):
    import keras

    folder = tmp_path_factory.mktemp("two_inputs")
    a = keras.Input((3,), name="a")
    b = keras.Input((4,), name="b")
    joined = keras.layers.Concatenate()([keras.layers.Dense(2, name="da")(a), keras.layers.Dense(2, name="db")(b)])
    model = keras.Model([a, b], keras.layers.Dense(3, name="logits")(joined))
    model.save(folder / "model.keras")
    model.export(folder / "savedmodel", verbose=False)
    return folder


def test_two_inputs_match_across_keras_and_savedmodel(two_input_model, tmp_path):
    report = check(two_input_model / "model.keras", [two_input_model / "savedmodel"], random=30, seed=5)
    assert report.passed, report.summary()
    assert set(report.inputs["tensors"]) == {"a", "b"} and report.inputs["count"] == 30
    npz = tmp_path / "inputs.npz"
    rng = np.random.default_rng(0)
    np.savez(npz, b=rng.random((6, 4), dtype=np.float32), a=rng.random((6, 3), dtype=np.float32))
    by_name = check(two_input_model / "model.keras", [two_input_model / "savedmodel"], inputs=npz)
    assert by_name.passed and by_name.inputs["count"] == 6


def test_inputs_that_cannot_be_matched_are_an_error_row(two_input_model, trained_k3):
    report = check(trained_k3 / "my_model.keras", [two_input_model / "model.keras"], mnist=5)
    assert report.status == "ERROR" and report.exit_code == 2
    assert "cannot match the inputs [input_layer]" in report.pairs[0].error
    with pytest.raises(ConvkitError, match="could not be loaded or run"):
        report.assert_passed()


def test_integer_inputs_stay_inside_the_embedding_vocabulary(tmp_path):
    import keras

    tokens = keras.Input((5,), dtype="int32", name="tokens")
    hidden = keras.layers.Flatten()(keras.layers.Embedding(50, 4)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(2)(hidden))
    model.save(tmp_path / "embedding.keras")
    model.export(tmp_path / "embedding_savedmodel", verbose=False)
    runner = open_runner(tmp_path / "embedding.keras")
    assert runner.inputs[0].int_high == 50
    report = check(runner, [tmp_path / "embedding_savedmodel"], random=64)
    assert report.passed, report.summary()
    assert report.inputs["tensors"]["tokens"]["dtype"] == "int32"


def test_live_keras_models_and_runners_are_accepted(trained_k3):
    import keras

    model = keras.models.load_model(trained_k3 / "my_model.keras", compile=False)
    report = check(model, [trained_k3 / "my_model.h5", KerasModelRunner(model, generation=3)], mnist=20)
    assert report.passed and report.reference.format == "live"


def test_lambda_layers_are_refused_unless_allowed(tmp_path):
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.Dense(3, input_shape=(4,)), tf_keras.layers.Lambda(lambda x: x * 2)])
    model.save(tmp_path / "lambda.h5")
    with pytest.raises(UnsafeModelError, match="lambda.h5: the model holds a Lambda layer"):
        check(tmp_path / "lambda.h5", [tmp_path / "lambda.h5"])
    assert check(tmp_path / "lambda.h5", [tmp_path / "lambda.h5"], allow_unsafe=True, random=4).passed


def test_a_weights_only_copy_without_like_is_an_error(trained_k2, two_input_model):
    # The reference lends its architecture by default; a reference that cannot is reported.
    report = check(two_input_model / "savedmodel", [trained_k2 / "training_1" / "cp.ckpt"], random=3)
    assert report.status == "ERROR" and "pass --like MODEL" in report.pairs[0].error


@pytest.mark.node
def test_tfjs_shard_paths_may_not_leave_the_model_folder(k2_tfjs_layers, trained_k2, tmp_path):
    hostile = tmp_path / "hostile"
    shutil.copytree(k2_tfjs_layers, hostile)
    document = json.loads((hostile / "model.json").read_text())
    document["weightsManifest"][0]["paths"] = ["../../../../etc/hostname"]
    (hostile / "model.json").write_text(json.dumps(document))
    report = check(trained_k2 / "my_model.h5", [hostile], mnist=5)
    assert report.status == "ERROR"
    # convkit's model.json reader refuses it before Node starts; the Node script would refuse it too.
    assert "climbs out of the model folder" in report.pairs[0].error


@pytest.mark.node
def test_truncated_tfjs_shard_is_a_read_error_before_node_runs(k2_tfjs_layers, tmp_path):
    truncated = tmp_path / "truncated"
    shutil.copytree(k2_tfjs_layers, truncated)
    shard = next(truncated.glob("*.bin"))
    shard.write_bytes(shard.read_bytes()[:1000])
    runner = open_runner(truncated)
    with pytest.raises(ReadError, match=r"model.json: weight group 0 needs \d+ bytes but its shards hold 1000$"):
        runner.infer({"dense_input": np.zeros((2, 784), np.float32)})


def test_the_package_is_callable_as_check(trained_k3):
    import convkit.check

    report = convkit.check(trained_k3 / "my_model.keras", trained_k3 / "my_model.h5", mnist=10)
    assert report.passed and report.inputs["count"] == 10
