"""The ``convkit`` command: one Typer app, one module per subcommand."""

from __future__ import annotations

from typing import Annotated

import typer

from convkit.cli import check, convert, inspect, setup_tfjs, train, version

app = typer.Typer(
    name="convkit",
    help="Train, convert, inspect and check TensorFlow / Keras / TF.js model files.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", help="Show the versions of convkit and every runtime it uses, then exit.",
                     callback=version.print_versions, is_eager=True),
    ] = False,
) -> None:
    """Train, convert, inspect and check TensorFlow / Keras / TF.js model files.

    Exit codes: 0 success; 1 a check found a mismatch; 2 bad input, usage or
    load error (one `Error: ...` line on stderr); 3 a bug in convkit.
    """


for module in (train, convert, inspect, check, setup_tfjs):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
