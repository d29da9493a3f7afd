"""``convkit check``: prove that every copy of a model predicts the same, each in its own runtime.

Loaders pick a runner per file (Keras 3, tf_keras, TensorFlow SavedModel
signatures, TF.js under Node); every runner gets the same inputs; the
comparator measures each output against the reference's; the report gives the
verdict as a table, JSON or JUnit XML.

Example, in a test suite::

    import convkit.check

    convkit.check.check("model.keras", ["model_tfjs/", "model.h5"]).assert_passed()

The package itself is callable as the ``check`` function, so ``convkit.check(...)``
works as the top-level API without hiding the package's other names.
"""

from __future__ import annotations

from convkit._callable import make_package_callable
from convkit.check.compare import OutputComparison, Tolerance, compare_output, default_tolerance
from convkit.check.engine import check, check_all_formats
from convkit.check.report import CheckReport, PairResult, render_table, write_junit

__all__ = [
    "CheckReport",
    "OutputComparison",
    "PairResult",
    "Tolerance",
    "check",
    "check_all_formats",
    "compare_output",
    "default_tolerance",
    "render_table",
    "write_junit",
]


make_package_callable(__name__, check)
