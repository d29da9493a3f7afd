"""Session-wide fixtures: the tutorial's files from both Keras generations, made once.

``trained_k3`` / ``trained_k2`` run ``convkit train`` with short epoch counts
(2, 5, 2); every part of the suite inspects, converts and checks these real
files. The folders are kept between runs (tests/_cache.py), keyed on the
library versions, the training code and the MNIST file, and each session works
on its own copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests import _cache

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHORT_EPOCHS = (2, 5, 2)


def _key(generation: int) -> dict:
    from convkit.train.data import mnist_source

    return _cache.key_of(
        f"trained_k{generation}", epochs=SHORT_EPOCHS, seed=0, mnist=_cache.digest(mnist_source()),
        sources=_cache.digest(*_cache.source_files("convkit.train.tutorial")),
    )


def _build(generation: int):
    def build(out: Path) -> None:
        from convkit.train import run_tutorial

        run_tutorial(out, keras=generation, epochs_per_stage=SHORT_EPOCHS, seed=0)

    return build


def _train(tmp_path_factory: pytest.TempPathFactory, generation: int) -> Path:
    # While another worker trains this generation, train the other one (which this worker needs too).
    other = 5 - generation
    return _cache.built(_key(generation), _build(generation), tmp_path_factory.mktemp(f"trained_k{generation}"),
                        busy=lambda: _cache.ensure(_key(other), _build(other)))


@pytest.fixture(scope="session")
def trained_k3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder made by ``convkit train --keras 3 --epochs-per-stage 2,5,2``."""
    return _train(tmp_path_factory, 3)


@pytest.fixture(scope="session")
def trained_k2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder made by ``convkit train --keras 2 --epochs-per-stage 2,5,2`` (tf_keras)."""
    return _train(tmp_path_factory, 2)


@pytest.fixture(scope="session", params=[3, 2], ids=["keras3", "keras2"])
def trained(request: pytest.FixtureRequest) -> Path:
    """Each generation's tutorial folder in turn."""
    return request.getfixturevalue(f"trained_k{request.param}")


@pytest.fixture(scope="session")
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's 1000 test digits (float32 [1000, 784] in [0, 1]) and labels."""
    from convkit.train.data import load_mnist

    mnist = load_mnist()
    return mnist.x_test, mnist.y_test


@pytest.fixture(scope="session")
def digits_cnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``cnn.keras``: a small CNN trained on the bundled digits (tests/_digits.py), built once and kept."""
    from convkit.train.data import mnist_source
    from tests import _digits

    key = _cache.key_of("digits_cnn", epochs=_digits.EPOCHS, seed=_digits.SEED, mnist=_cache.digest(mnist_source()),
                        sources=_cache.digest(Path(_digits.__file__)))
    return _cache.built(key, _digits.train_cnn, tmp_path_factory.mktemp("digits_cnn")) / "cnn.keras"


# Tests that read HDF5 files many times without TensorFlow. convkit reads HDF5 structures in a
# forked child, and forking a process that has TensorFlow loaded costs several times more (page
# tables, copy-on-write faults), so these run first, while no test has imported TensorFlow yet.
FORK_HEAVY_FIRST = ("tests/fuzz/test_fuzz.py::", "tests/hostile/test_corpus.py::test_inspect_")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not item.nodeid.startswith(FORK_HEAVY_FIRST))
