"""``convkit convert``: the route engine (``engine.py``), the request and what writers get (``conversion.py``),
one writer per target (``writers/``), the model as one function for ONNX and TFLite (``serving.py``) and
atomic outputs (``atomic.py``).

Reading is :mod:`convkit.formats`'; running outputs once is :mod:`convkit.runtimes`'; this package writes.
Names are loaded on first use, so ``import convkit`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ConvertRequest", "ConvertResult", "convert", "default_output"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("convkit.convert.engine"), name)
    raise AttributeError(f"module 'convkit.convert' has no attribute {name!r}")
