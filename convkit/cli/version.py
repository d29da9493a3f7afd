"""``convkit --version``: convkit's version and every runtime's, read from package metadata.

Nothing here imports TensorFlow: versions come from installed distributions'
metadata, the @tensorflow/tfjs ``package.json`` and ``node --version``.
"""

from __future__ import annotations

from typing import Any

import typer

# (shown name, distribution name) of the Python runtimes convkit drives.
PYTHON_RUNTIMES = (
    ("convkit", "convkit"),
    ("TensorFlow", "tensorflow"),
    ("Keras", "keras"),
    ("tf_keras", "tf_keras"),
    ("tensorflowjs", "tensorflowjs"),
)


def versions() -> dict[str, str | None]:
    """``{name: version}``; ``None`` where a runtime is not installed."""
    from importlib import metadata

    from convkit.runtimes.tfjs import install

    found: dict[str, str | None] = {}
    for shown, distribution in PYTHON_RUNTIMES:
        try:
            found[shown] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[shown] = None
    found["@tensorflow/tfjs"] = install.tfjs_version()
    found["Node.js"] = install.node_version()
    return found


def print_versions(value: bool) -> Any:
    if not value:
        return value
    import sys

    found = versions()
    width = max(len(name) for name in found)
    for name, number in found.items():
        sys.stdout.write(f"{name:<{width}}  {number or 'not installed'}\n")
    raise typer.Exit(0)
