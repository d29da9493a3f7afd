"""convkit: train, convert, inspect and check TensorFlow / Keras / TF.js model files.

The public API is four plain functions; heavy imports (TensorFlow, Keras)
happen inside them so that ``import convkit`` stays fast::

    import convkit

    convkit.detect("my_model.h5").name           # 'h5'
    convkit.inspect("my_model.h5").to_dict()      # what the file holds, without TensorFlow
    convkit.convert("my_model.h5", "tfjs")        # a TF.js layers model beside it
    convkit.check("my_model.h5", ["my_model_tfjs"]).assert_passed()

``convkit.train.run_tutorial`` runs the tutorial.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

# The subpackages of the same names as the functions below are bound first: a later first import
# of `convkit.convert` would otherwise replace the function `convkit.convert` with the package.
import convkit.check as _check_package  # noqa: F401
import convkit.convert as _convert_package  # noqa: F401
import convkit.formats  # noqa: F401  (each format module registers its format)
from convkit.errors import ConvkitError
from convkit.registry import detect, format_names, get_format

if TYPE_CHECKING:
    from convkit.check.report import CheckReport
    from convkit.convert.engine import ConvertResult

__version__ = "0.1.0"


def inspect(path: str | Path, format: str | None = None, *, weights: bool = False, verify_crc: bool = False) -> Any:
    """Describes the model file at ``path`` without TensorFlow (see :func:`convkit.formats._api.inspect`)."""
    from convkit.formats._api import inspect as run

    return run(path, format, weights=weights, verify_crc=verify_crc)


def convert(src: str | Path, to: str, out: str | Path | None = None, *, smoke_run: bool = True, check: bool = False,
            **options: Any) -> ConvertResult:
    """Converts the model at ``src`` to the format ``to``.

    Takes the options of :func:`convkit.convert.engine.convert` (``like``,
    ``tfjs_kind``, ``quantize``, ``calibrate``, ``io_type``, ``overwrite``, ``strict``,
    ``allow_unsafe``, ``progress``, ...). ``smoke_run`` (default True) loads and runs the output
    once in its target runtime before it is put in place; ``check=True`` (default
    False) checks the output against the source with the check engine before
    returning (:func:`convkit.convert_and_check.convert_and_check`).
    """
    if check:
        from convkit.convert_and_check import convert_and_check

        return convert_and_check(src, to, out, smoke_run=smoke_run, **options)
    from convkit.convert.engine import convert as run

    return run(src, to, out, smoke_run=smoke_run, **options)


def check(ref: Any, others: Sequence[Any] | Any, **options: Any) -> CheckReport:
    """Runs ``ref`` and every model in ``others`` on the same inputs and compares their outputs.

    Takes the options of :func:`convkit.check.engine.check` (``inputs``, ``preprocess``, ``limit``,
    ``mnist``, ``random``, ``atol``, ``rtol``, ``tolerances``, ``like``, ``allow_unsafe``, ``progress``).
    """
    from convkit.check.engine import check as run

    return run(ref, others, **options)


__all__ = ["ConvkitError", "check", "convert", "detect", "format_names", "get_format", "inspect", "__version__"]
