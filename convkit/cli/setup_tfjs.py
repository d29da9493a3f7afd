"""``convkit setup-tfjs``: install the pinned npm packages (TF.js, its WASM backend, the graph layout engine) where
``convkit`` finds them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convkit.cli._common import handle_errors, stdout_console


def register(app: typer.Typer) -> None:
    app.command("setup-tfjs")(setup_tfjs)


@handle_errors
def setup_tfjs(
    root: Annotated[
        Path | None,
        typer.Option("--root", metavar="DIR", show_default=False,
                     help="npm folder to install into (default: ~/.cache/convkit/node, or $XDG_CACHE_HOME/convkit/node)."),
    ] = None,
) -> None:
    """Install the npm packages convkit runs under Node.js, at the versions convkit is tested with:
    @tensorflow/tfjs and its WASM backend (TF.js models for check and convert) and @hpcc-js/wasm-graphviz
    (the pictures of inspect --graph).

    Runs `npm ci` once on convkit's own package-lock.json (needs Node.js 20, npm and the
    npm registry). convkit looks for them in $CONVKIT_NODE_ROOT, above the package
    and the working directory, then in this folder.
    """
    from convkit.runtimes.tfjs import install

    folder = install.install_tfjs(root)
    installed = ", ".join(f"{name} {version}" for name, version in install.pinned_versions().items())
    stdout_console().print(f"{installed} installed in {folder}", markup=False, highlight=False)
    if root is not None:
        stdout_console().print(f"set {install.NODE_ROOT_ENV}={folder} so that convkit finds them", markup=False,
                               highlight=False)
