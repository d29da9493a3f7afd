"""The terminal side of ``convkit.progress``: the current stage of long work, on stderr.

On a terminal a spinner shows the stage (with a percentage where the work
reports how much is done) and vanishes when the work ends. Elsewhere (a log
file, CI) each new stage is one plain line, unless ``--json`` asked for
nothing but the document. Nothing ever goes to stdout.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console


class StageDisplay:
    """A ``convkit.progress.Progress`` that draws on stderr; use it as a context manager.

    Args:
        quiet: show nothing unless stderr is a terminal (``--json`` runs).
    """

    def __init__(self, *, quiet: bool = False) -> None:
        self.live = _stderr_is_terminal()
        self.enabled = self.live or not quiet
        self.console = Console(file=_terminal_stream() if self.live else sys.stderr, soft_wrap=not self.live,
                               highlight=False)
        self.stage: str | None = None
        self._status: Any = None

    def __enter__(self) -> StageDisplay:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        if not self.enabled:
            return
        if not self.live:
            if stage != self.stage:
                self.console.print(stage, markup=False)
            self.stage = stage
            return
        self.stage = stage
        text = stage if not total else f"{stage} {100 * (done or 0) // total}%"
        from rich.markup import escape

        if self._status is None:
            self._status = self.console.status(escape(text), spinner="dots")
            self._status.start()
        else:
            self._status.update(escape(text))

    def begin(self, stage: str) -> None:
        """The first stage, shown by the spinner only (a log gets the work's own stages)."""
        if self.live:
            self(stage)

    def print(self, text: str, **options: Any) -> None:
        """A line on stderr above the spinner (always shown, whatever ``quiet`` says)."""
        self.console.print(text, **options)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self.console.file is not sys.stderr:
            self.console.file.flush()


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _terminal_stream() -> Any:
    # A copy of file descriptor 2: TensorFlow's import points descriptor 2 at a file for a few
    # seconds (convkit._tf), and the spinner must keep turning meanwhile.
    try:
        return os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1, closefd=True)
    except (AttributeError, ValueError, OSError):
        return sys.stderr
