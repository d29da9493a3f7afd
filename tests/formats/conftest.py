"""Fixtures for the format tests: TF.js conversions and weights-only HDF5 files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.formats import _artifacts


@pytest.fixture(scope="session")
def tfjs_models(trained_k2: Path, trained_k3: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _artifacts.tfjs_models(trained_k2, trained_k3, tmp_path_factory.mktemp("tfjs"))


@pytest.fixture(scope="session")
def k3_weights_h5(trained_k3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _artifacts.keras3_weights_h5(trained_k3, tmp_path_factory.mktemp("k3w"))


@pytest.fixture(scope="session")
def k2_weights_h5(trained_k2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _artifacts.keras2_weights_h5(trained_k2, tmp_path_factory.mktemp("k2w"))
