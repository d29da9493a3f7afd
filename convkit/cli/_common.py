"""Pieces every command shares: error handling, output streams, option aliases.

Results go to stdout (one JSON document with ``--json``); progress and logs go
to stderr, so ``--json`` output always parses.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, TypeVar

import typer
from rich.console import Console

from convkit.errors import ConvkitError

INTERNAL_ERROR_EXIT = 3

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Output path.")]

F = TypeVar("F", bound=Callable[..., Any])


def stdout_console() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


def stderr_console() -> Console:
    return Console(file=sys.stderr, soft_wrap=True)


def print_json(document: Any) -> None:
    """Writes ``document`` as JSON on stdout; numpy scalars and paths become plain values."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=_json_default) + "\n")
    sys.stdout.flush()


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Prints ``Error: message`` on stderr and returns the ``typer.Exit`` to raise."""
    first_line = " ".join(str(message).split())
    sys.stderr.write(f"Error: {first_line}\n")
    sys.stderr.flush()
    return typer.Exit(code)


def handle_errors(command: F) -> F:
    """Turns known failures into one ``Error:`` line and their exit code.

    Set ``CONVKIT_DEBUG=1`` to see the traceback instead. Unknown exceptions are
    bugs: they exit with code 3 and a line asking for the debug switch.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except ConvkitError as error:
            if os.environ.get("CONVKIT_DEBUG"):
                raise
            raise fail(str(error), error.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as error:  # a bug: say so in one line, keep the traceback for debugging
            if os.environ.get("CONVKIT_DEBUG"):
                raise
            raise fail(
                f"internal error ({type(error).__name__}: {error}); rerun with CONVKIT_DEBUG=1 for the traceback",
                INTERNAL_ERROR_EXIT,
            ) from None

    return wrapper  # type: ignore[return-value]
