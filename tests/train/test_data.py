from __future__ import annotations

import numpy as np
import pytest

from convkit.errors import ReadError
from convkit.train.data import BUNDLED_MNIST, load_mnist


def test_bundled_digits_are_the_tutorials_first_1000_scaled():
    mnist = load_mnist(BUNDLED_MNIST)
    assert mnist.x_train.shape == (1000, 784) and mnist.x_test.shape == (1000, 784)
    assert mnist.x_train.dtype == np.float32
    assert 0.0 == mnist.x_train.min() and mnist.x_train.max() == 1.0
    # the sample is shuffled: every digit appears in both splits
    assert set(np.unique(mnist.y_train)) == set(range(10)) == set(np.unique(mnist.y_test))


def test_a_users_npz_is_used_and_cut_to_size(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "mnist.npz"
    images = rng.integers(0, 256, size=(1200, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=1200, dtype=np.uint8)
    np.savez(path, x_train=images, y_train=labels, x_test=images[::-1], y_test=labels[::-1])
    mnist = load_mnist(path)
    assert mnist.source == path
    np.testing.assert_array_equal(mnist.x_train[5], images[5].reshape(784) / np.float32(255))
    np.testing.assert_array_equal(mnist.y_test[:3], labels[::-1][:3])


def test_a_file_without_mnist_keys_is_refused_by_name(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ReadError, match=r"other\.npz: not an mnist\.npz file \(missing x_train"):
        load_mnist(path)


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ReadError, match="mnist.npz: cannot read MNIST data"):
        load_mnist(path)


def test_too_few_digits_are_refused(tmp_path):
    path = tmp_path / "small.npz"
    small = np.zeros((10, 28, 28), np.uint8)
    np.savez(path, x_train=small, y_train=np.zeros(10), x_test=small, y_test=np.zeros(10))
    with pytest.raises(ReadError, match="train split holds 10 digits, fewer than the 1000"):
        load_mnist(path)
