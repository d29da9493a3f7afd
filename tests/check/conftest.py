"""Copies of the tutorial's models for the check tests: converted to TF.js, and broken on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.check import _models


@pytest.fixture(scope="session")
def k2_tfjs_layers(trained_k2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _models.cached(tmp_path_factory, "k2_tfjs_layers", lambda out: _models.tfjs_layers(trained_k2 / "my_model.h5", out))


@pytest.fixture(scope="session")
def k3_tfjs_graph(trained_k3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _models.cached(
        tmp_path_factory, "k3_tfjs_graph", lambda out: _models.tfjs_graph(trained_k3 / "saved_model" / "my_model", out)
    )
