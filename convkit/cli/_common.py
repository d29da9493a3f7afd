"""Pieces every command shares: error handling, output streams, option aliases.

Results go to stdout (one JSON document with ``--json``); progress and logs go
to stderr, so ``--json`` output always parses.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, Callable, Sequence, TypeVar

import typer
from rich.console import Console
from typer.models import OptionInfo

from convkit.errors import ConvkitError, Terminated

INTERNAL_ERROR_EXIT = 3
# Raised when a --json document changes incompatibly (a key removed, renamed or retyped); docs/json.md.
SCHEMA_VERSION = 1


def _verbose(value: bool) -> bool:
    if value:
        from convkit._tf import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"  # before anything imports TensorFlow; child processes inherit it
    return value


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")]
OutOption = Annotated[Path | None, typer.Option("--out", "-o", help="Output path.", metavar="PATH")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Also show TensorFlow's own log lines.", callback=_verbose)
]
ProfileOption = Annotated[
    bool, typer.Option("--profile", help="Print the time and peak memory of each stage, per process, on stderr "
                       "(also CONVKIT_PROFILE=1); with --json, also under 'profile'.")
]

F = TypeVar("F", bound=Callable[..., Any])


def stdout_console() -> Console:
    return Console(file=sys.stdout, soft_wrap=True)


def stderr_console() -> Console:
    return Console(file=sys.stderr, soft_wrap=True)


def print_json(document: dict[str, Any]) -> None:
    """Writes ``document`` as JSON on stdout, ``schema_version`` first; numpy scalars and paths become plain values."""
    versioned = {"schema_version": SCHEMA_VERSION, **document}
    sys.stdout.write(json.dumps(versioned, indent=2, sort_keys=False, default=_json_default) + "\n")
    sys.stdout.flush()


def print_profile(stages: Any) -> None:
    """The stages a command profiled (a ``convkit.profile.Profile``, or None when off), as a table on stderr."""
    if stages is not None and stages.stages:
        sys.stderr.write(stages.render() + "\n")
        sys.stderr.flush()


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


Choices = Sequence[str] | Callable[[], Sequence[str]]


def choice_option(*names: str, choices: Choices, help: str | Callable[[], str], metavar: str | None = None) -> Any:
    """A ``typer.Option`` taking one of ``choices``: listed in ``--help``, completed by the shell,
    and a near miss answered with "did you mean".

    ``choices`` may be a function (e.g. ``registry.format_names``): it is asked on every run, so a
    format registered after this module was imported is offered and accepted like the others.
    ``metavar`` (e.g. ``FORMAT``) names the value and moves the choices into the help text,
    for lists too long for the option column. ``help`` may be a function too, asked when the
    command is built.
    """

    def text() -> str:
        return help() if callable(help) else help

    def current() -> Sequence[str]:
        return choices() if callable(choices) else choices

    def validate(value: str | None) -> str | None:
        known = current()
        if value is None or value in known:
            return value
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(known)}{did_you_mean(value, known)}")

    def complete(incomplete: str) -> list[str]:
        return [choice for choice in current() if choice.startswith(incomplete)]

    if metavar is None:
        option = typer.Option(*names, help=text(), metavar="[" + "|".join(current()) + "]", callback=validate,
                              autocompletion=complete, show_default=False)
        return help_from(option, text) if callable(help) else option
    option = typer.Option(*names, help=text(), metavar=metavar, callback=validate, autocompletion=complete,
                          show_default=False)
    return help_from(option, lambda: f"{text()} One of: {', '.join(current())}.")


def help_from(option: OptionInfo, text: Callable[[], str]) -> OptionInfo:
    """``option`` with the help ``text()`` gives when the command is built (every run): for help that states
    what the registry's records hold now."""
    return _ChoicesInHelp(option, text)


class _ChoicesInHelp(OptionInfo):
    """An option whose help text lists its choices as they are when the command is built (every run)."""

    def __init__(self, option: OptionInfo, text: Callable[[], str]) -> None:
        self.__dict__.update(vars(option))
        self._text = text

    @property
    def help(self) -> str:
        return self._text()

    @help.setter
    def help(self, value: str | None) -> None:
        pass  # the text is always made from the current choices


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'tfjs'?"`` for a near miss, else ``""``."""
    import difflib

    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


# How image pixels become input values (check --inputs, convert --calibrate); convkit/data/preprocess.py.
def _presets() -> Sequence[str]:
    from convkit.data.preprocess import PRESET_NAMES

    return PRESET_NAMES


PreprocessOption = Annotated[str | None, choice_option(
    "--preprocess", choices=_presets, help="How image pixels (0..255) become input values: raw (0..255), unit (/255), "
    "tf (-1..1), imagenet-caffe (BGR, ImageNet mean subtracted), imagenet-torch (/255, ImageNet mean and std). "
    "Default: unit for float inputs, raw for integer ones.")]
ScaleOption = Annotated[float | None, typer.Option(
    "--scale", help="Images: value = (pixel * SCALE + OFFSET - MEAN) / STD; replaces the preset's scale.",
    metavar="SCALE", show_default=False)]
OffsetOption = Annotated[float | None, typer.Option(
    "--offset", help="Images: added after --scale; replaces the preset's offset.", metavar="OFFSET",
    show_default=False)]
MeanOption = Annotated[str | None, typer.Option(
    "--mean", help="Images: subtracted per channel after --scale/--offset (one value, or one per channel: "
    "0.485,0.456,0.406).", metavar="M[,M,M]", show_default=False)]
StdOption = Annotated[str | None, typer.Option(
    "--std", help="Images: divides per channel after --mean (one value, or one per channel).", metavar="S[,S,S]",
    show_default=False)]
LimitOption = Annotated[int | None, typer.Option(
    "--limit", help="Feed at most N samples (the first ones).", metavar="N", show_default=False)]


def preprocessing_of(preset: str | None, scale: float | None, offset: float | None, mean: str | None,
                     std: str | None) -> Any:
    """The :class:`~convkit.data.preprocess.Preprocessing` the image options ask for."""
    from convkit.data.preprocess import preprocessing

    return preprocessing(preset, scale=scale, offset=offset, mean=mean, std=std)



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
        except Terminated as error:
            raise fail(f"terminated by {signal.Signals(error.signum).name}", 128 + error.signum) from None
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
