"""docs/api.md is what docs/make_api.py makes from today's docstrings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "make_api.py"


def test_api_doc_is_current() -> None:
    spec = importlib.util.spec_from_file_location("make_api", SCRIPT)
    make_api = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_api)
    assert make_api.OUT.read_text() == make_api.render(), "docs/api.md is stale: run .venv/bin/python docs/make_api.py"
