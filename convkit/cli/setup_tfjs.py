"""``convkit setup-tfjs``: install the pinned @tensorflow/tfjs and graph layout engine where convkit finds them."""

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
    """Install @tensorflow/tfjs and the graph layout engine (the versions convkit is tested with) under Node.js.

    TF.js runs TF.js models for check and convert; @hpcc-js/wasm-graphviz
    lays out the pictures of inspect --graph. Runs `npm install` once (needs
    Node.js 20, npm and the npm registry). convkit looks for them in
    $CONVKIT_NODE_ROOT, above the package and the working directory, then in
    this folder.
    """
    from convkit.runtimes.tfjs import install

    folder = install.install_tfjs(root)
    stdout_console().print(f"@tensorflow/tfjs {install.tfjs_version(folder)} and {install.LAYOUT_PACKAGE} "
                           f"{install.LAYOUT_VERSION} installed in {folder}", markup=False, highlight=False)
    if root is not None:
        stdout_console().print(f"set {install.NODE_ROOT_ENV}={folder} so that convkit finds them", markup=False,
                               highlight=False)
