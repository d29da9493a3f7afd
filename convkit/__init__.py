"""convkit: train, convert, inspect and check TensorFlow / Keras / TF.js model files.

The public API is thin; heavy imports (TensorFlow, Keras) happen inside the
functions that need them so that ``import convkit`` stays fast.
"""

from __future__ import annotations

from convkit.errors import ConvkitError
from convkit.registry import detect, format_names, get_format

__version__ = "0.1.0"

__all__ = ["ConvkitError", "detect", "format_names", "get_format", "__version__"]
