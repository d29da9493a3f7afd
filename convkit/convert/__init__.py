"""``convkit convert``: the route engine (``engine.py``), its writers (``routes.py``, ``writers.py``,
``streaming.py``, ``onnx_native/``) and atomic outputs (``atomic.py``).

Reading is :mod:`convkit.formats`' and :mod:`convkit.live`'s; this package writes.
Names are loaded on first use, so ``import convkit`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ConvertResult", "convert", "default_output", "DEFAULT_SHARD_SIZE", "ONNX_ROUTES", "QUANTIZE_DTYPES",
           "TFJS_KINDS"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("convkit.convert.engine"), name)
    raise AttributeError(f"module 'convkit.convert' has no attribute {name!r}")
