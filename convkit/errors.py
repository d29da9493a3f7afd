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


class DetectionError(ConvkitError):
    """A path is not a model file of any format convkit knows."""


class ReadError(ConvkitError):
    """A file of a known format is malformed, truncated or over a size limit."""


class WriteError(ConvkitError):
    """An output could not be written (exists, unwritable, target cannot hold it)."""


class UnsafeModelError(ConvkitError):
    """A model would run code from the file (Lambda layers, unknown custom objects)."""


class MismatchError(ConvkitError):
    """Converted copies of a model predict differently."""

    exit_code = 1
