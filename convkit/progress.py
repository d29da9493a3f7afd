"""One progress interface for long work: convert, check and train report stages through it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called with the current stage and, where known, how much of it is done."""

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> None: ...


def no_progress(stage: str, done: int | None = None, total: int | None = None) -> None:
    """A Progress that shows nothing."""
