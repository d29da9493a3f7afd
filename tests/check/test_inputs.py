from __future__ import annotations

import numpy as np
import pytest

from convkit.check.inputs import make_inputs, match_specs, random_inputs
from convkit.containers.tensors import TensorSpec
from convkit.errors import ReadError, UsageError

MLP = [TensorSpec("dense_input", (None, 784), "float32")]


def test_784_input_models_get_the_bundled_mnist_test_digits_by_default(mnist_test):
    feed = make_inputs(MLP)
    x_test, y_test = mnist_test
    np.testing.assert_array_equal(feed.arrays["dense_input"], x_test)
    np.testing.assert_array_equal(feed.labels, y_test)
    assert feed.count == 1000 and "MNIST" in feed.source


def test_mnist_count_and_image_shaped_inputs(mnist_test):
    feed = make_inputs([TensorSpec("image", (None, 28, 28, 1), "float32")], mnist=10)
    assert feed.arrays["image"].shape == (10, 28, 28, 1)
    np.testing.assert_array_equal(feed.arrays["image"].reshape(10, 784), mnist_test[0][:10])


def test_mnist_refused_for_other_models():
    with pytest.raises(UsageError, match="784-value"):
        make_inputs([TensorSpec("x", (None, 3))], mnist=5)


def test_random_inputs_are_seeded_and_follow_the_specs():
    specs = [
        TensorSpec("tokens", (None, None), "int32", int_high=50),
        TensorSpec("features", (None, 3), "float32"),
        TensorSpec("flag", (None, 1), "bool"),
    ]
    a = random_inputs(specs, 20, seed=3)
    b = make_inputs(specs, random=20, seed=3)
    c = make_inputs(specs, random=20, seed=4)
    for name in ("tokens", "features", "flag"):
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name])
    assert not np.array_equal(a.arrays["features"], c.arrays["features"])
    assert a.arrays["tokens"].shape == (20, 8) and a.arrays["tokens"].dtype == np.int32
    assert a.arrays["tokens"].min() >= 0 and a.arrays["tokens"].max() < 50
    assert a.arrays["flag"].dtype == bool
    assert any("open dimensions" in note for note in a.notes)


def test_models_without_784_inputs_default_to_100_random_samples():
    feed = make_inputs([TensorSpec("x", (None, 3))])
    assert feed.count == 100 and "random" in feed.source


def test_npz_inputs_are_matched_by_name_then_by_position(tmp_path):
    specs = [TensorSpec("a", (None, 2)), TensorSpec("b", (None, 3))]
    named = tmp_path / "named.npz"
    np.savez(named, b=np.ones((4, 3)), a=np.zeros((4, 2)), extra=np.ones(1))
    feed = make_inputs(specs, inputs=named)
    assert feed.arrays["a"].shape == (4, 2) and feed.arrays["a"].dtype == np.float32
    single = tmp_path / "single.npz"
    np.savez(single, pixels=np.zeros((5, 784), np.float32))
    assert make_inputs(MLP, inputs=single).arrays["dense_input"].shape == (5, 784)


def test_npz_that_does_not_fit_is_a_usage_error(tmp_path):
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, x=np.zeros((5, 10)))
    with pytest.raises(UsageError, match="cannot match the inputs"):
        make_inputs([TensorSpec("a", (None, 2)), TensorSpec("b", (None, 3))], inputs=wrong)
    with pytest.raises(UsageError, match="cannot match"):
        make_inputs(MLP, inputs=wrong)
    misshapen = tmp_path / "misshapen.npz"
    np.savez(misshapen, dense_input=np.zeros((5, 10)))
    with pytest.raises(UsageError, match=r"array 'dense_input' has shape \[5, 10\]"):
        make_inputs(MLP, inputs=misshapen)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ReadError, match="broken.npz"):
        make_inputs(MLP, inputs=broken)


def test_one_input_source_at_a_time():
    with pytest.raises(UsageError, match="choose one input source"):
        make_inputs(MLP, mnist=5, random=5)


def test_matching_across_formats_by_name_else_position_else_error():
    keras3 = [TensorSpec("input_layer", (None, 784))]
    signature = [TensorSpec("keras_tensor", (None, 784))]
    assert match_specs(keras3, keras3, what="x").by == "name"
    by_position = match_specs(keras3, signature, what="x")
    assert by_position.by == "position" and by_position.names == ("keras_tensor",)
    assert "input_layer -> keras_tensor" in by_position.note
    with pytest.raises(UsageError, match=r"cannot match the inputs \[input_layer\]"):
        match_specs(keras3, [TensorSpec("keras_tensor", (None, 10))], what="x")
    two = [TensorSpec("a", (None, 784)), TensorSpec("b", (None, 784))]
    with pytest.raises(UsageError):
        match_specs(keras3, two, what="x")
    # a graph model lists its inputs by tensor, in its own order: matched by name, not position
    graph = [TensorSpec("b:0", (None, 784)), TensorSpec("a:0", (None, 784))]
    by_tensor = match_specs(two, graph, what="x")
    assert by_tensor.by == "name" and by_tensor.names == ("a:0", "b:0")


def test_more_mnist_digits_than_bundled_is_a_usage_error():
    with pytest.raises(UsageError, match="--mnist 5000: the MNIST data holds fewer digits"):
        make_inputs(MLP, mnist=5000)
