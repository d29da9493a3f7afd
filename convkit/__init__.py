"""convkit: train, convert, inspect and check TensorFlow / Keras / TF.js model files.

The public API is thin; heavy imports (TensorFlow, Keras) happen inside the
functions that need them so that ``import convkit`` stays fast::

    import convkit

    convkit.detect("my_model.h5").name           # 'h5'
    convkit.inspect("my_model.h5").to_dict()      # what the file holds, without TensorFlow
    convkit.convert("my_model.h5", "tfjs")        # a TF.js layers model beside it
    convkit.check("my_model.h5", ["my_model_tfjs"]).assert_passed()

``convkit.convert`` and ``convkit.check`` are packages that can be called as
their main function; ``convkit.train.run_tutorial`` runs the tutorial.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from convkit.errors import ConvkitError
from convkit.registry import detect, format_names, get_format

__version__ = "0.1.0"

# Loaded on first use, so that `convkit inspect` does not pay for numpy and the check engine.
_LAZY = {"check": "convkit.check", "convert": "convkit.convert", "inspect": "convkit.formats._api"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'convkit' has no attribute {name!r}")
    module = import_module(_LAZY[name])
    return getattr(module, name) if name == "inspect" else module

__all__ = ["ConvkitError", "check", "convert", "detect", "format_names", "get_format", "inspect", "__version__"]
