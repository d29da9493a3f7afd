"""Copies of the tutorial's models for the check tests: converted to TF.js, and broken on purpose.

The TF.js conversions are kept between runs (tests/_cache.py), keyed on the
converted file and the library versions.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import _cache
from tests.check import _models


def _converted(tmp_path_factory: pytest.TempPathFactory, name: str, source: Path, convert) -> Path:
    key = _cache.key_of(name, source=_cache.digest(source), builder=_cache.digest(Path(_models.__file__)))
    return _models.cached(tmp_path_factory, name, lambda out: _cache.built(key, lambda o: convert(source, o), out))


@pytest.fixture(scope="session")
def k2_tfjs_layers(trained_k2: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _converted(tmp_path_factory, "k2_tfjs_layers", trained_k2 / "my_model.h5", _models.tfjs_layers)


@pytest.fixture(scope="session")
def k3_tfjs_graph(trained_k3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _converted(tmp_path_factory, "k3_tfjs_graph", trained_k3 / "saved_model" / "my_model", _models.tfjs_graph)
