"""``convkit setup-tfjs``: install the pinned @tensorflow/tfjs where ``convkit check`` finds it."""

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
    """Install @tensorflow/tfjs (the version convkit is tested with) for running TF.js models under Node.js.

    Runs `npm install` once (needs Node.js 20, npm and the npm registry). convkit
    looks for the runtime in $CONVKIT_NODE_ROOT, above the package and the working
    directory, then in this folder.
    """
    from convkit.runtimes.tfjs import install

    folder = install.install_tfjs(root)
    stdout_console().print(f"@tensorflow/tfjs {install.tfjs_version(folder)} installed in {folder}", markup=False,
                           highlight=False)
    if root is not None:
        stdout_console().print(f"set {install.NODE_ROOT_ENV}={folder} so that convkit finds it", markup=False,
                               highlight=False)
