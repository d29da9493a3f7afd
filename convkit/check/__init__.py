"""``convkit check``: prove that every copy of a model predicts the same, each in its own runtime.

Loaders pick a runner per file (Keras 3, tf_keras, TensorFlow SavedModel
signatures, TF.js under Node) as the format's registry record says; every
runner gets the same inputs; the comparator measures each output against the
reference's; the report gives the verdict as a table, JSON or JUnit XML.

Example, in a test suite::

    import convkit

    convkit.check("model.keras", ["model_tfjs/", "model.h5"]).assert_passed()

Names are loaded on first use, so ``import convkit`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_NAMES = {
    "CheckReport": "convkit.check.report",
    "PairResult": "convkit.check.report",
    "render_table": "convkit.check.report",
    "write_junit": "convkit.check.report",
    "OutputComparison": "convkit.check.compare",
    "Tolerance": "convkit.runtimes.precision",
    "compare_output": "convkit.check.compare",
    "default_tolerance": "convkit.runtimes.precision",
    "check": "convkit.check.engine",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'convkit.check' has no attribute {name!r}")
