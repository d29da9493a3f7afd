"""The MobileNet-like model in every format, built once per session (tests/graph/_models.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.graph import _models


@pytest.fixture(scope="session")
def mobilenet_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Format name -> the MobileNet-like model's file in that format."""
    folder = _models.built(tmp_path_factory.mktemp("graph-models"))
    return {name: folder / relative for name, relative in _models.FORMATS.items()}
