"""Every exception convkit raises on purpose.

A ``ConvkitError`` is a known failure with a one-sentence message naming the
file and the problem; the CLI turns it into one ``Error: ...`` line and an exit
code. Anything else escaping convkit is a bug.
"""

from __future__ import annotations


class ConvkitError(Exception):
    """Root of convkit's known failures."""

    exit_code = 2


class UsageError(ConvkitError):
    """The command line or API call asks for something that cannot be done."""


class RuntimeMissingError(UsageError):
    """A runtime a command needs is not installed (the TF.js npm packages): the message names what is missing
    and the one command that installs it. No model is at fault."""


class DetectionError(ConvkitError):
    """A path is not a model file of any format convkit knows."""


class ReadError(ConvkitError):
    """A file of a known format is malformed, truncated or over a size limit."""


class RunError(ReadError):
    """A runtime cannot load or run a model: the runtime's own message, in one line.

    Every runtime raises it, whether ``check`` runs a copy or ``convert`` smoke-runs an output
    (where it becomes the ``reason`` of a :class:`VerifyError`).
    """


class WriteError(ConvkitError):
    """An output could not be written (exists, unwritable, target cannot hold it)."""


class VerifyError(WriteError):
    """A written model does not load or run in its target runtime.

    Attributes:
        reason: the runtime's own error, one line.
        culprit: the layer, activation or op the error names (``layer 'x' (LayerScale)``), or ``None``.
    """

    def __init__(self, message: str, reason: str, culprit: str | None) -> None:
        super().__init__(message)
        self.reason = reason
        self.culprit = culprit


class UnsafeModelError(ConvkitError):
    """A model would run code from the file (Lambda layers, unknown custom objects)."""


class Terminated(KeyboardInterrupt):
    """The process was asked to end (SIGTERM, SIGHUP): raised in the main thread so that every ``with`` block
    unwinds as on Ctrl-C, removing staged outputs and temporary files, before the process exits."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class MismatchError(ConvkitError):
    """Converted copies of a model predict differently."""

    exit_code = 1


# What parsers raise on a damaged or hostile file (h5py, zipfile, json, walking a malformed config):
# inside a reader these mean "bad file", never "bug".
MALFORMED: tuple[type[BaseException], ...] = (
    KeyError, TypeError, AttributeError, ValueError, IndexError, RecursionError, OSError, RuntimeError,
    OverflowError, EOFError, MemoryError,
)


def error_text(error: BaseException, *, with_type: bool = False, limit: int = 300) -> str:
    """The first line of ``error``'s message (its type when it has none), for a one-line ``Error:``.

    Args:
        error: any exception.
        with_type: prefix the type name (``KeyError: 'x'``). Default False.
        limit: characters kept. Default 300.
    """
    lines = str(error).strip().splitlines()
    text = " ".join(lines[0].split())[:limit] if lines else type(error).__name__
    return f"{type(error).__name__}: {text}" if with_type and lines else text
