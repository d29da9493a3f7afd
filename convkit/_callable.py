"""Lets a package double as its main function (``convkit.check(...)``, ``convkit.convert(...)``).

``convkit.check`` must stay a package (``convkit.check.runners``, ...), and a
function of the same name in ``convkit/__init__.py`` would be replaced by the
package as soon as it is imported; so the package itself becomes callable.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable


def make_package_callable(module_name: str, function: Callable[..., Any]) -> None:
    """Makes ``import module_name; module_name(...)`` call ``function(...)``."""

    class _CallablePackage(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return function(*args, **kwargs)

    _CallablePackage.__call__.__doc__ = function.__doc__
    sys.modules[module_name].__class__ = _CallablePackage
