"""Atomic outputs: write next to the target, rename into place at the end.

A conversion that fails or is killed leaves at most a hidden temporary sibling
(``.OUT.convkit-tmp-XXXX``), never a half-written ``OUT``. Every command that
writes a model file goes through :func:`atomic_output`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from convkit.errors import WriteError

TEMP_MARKER = ".convkit-tmp-"


@contextlib.contextmanager
def atomic_output(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yields a temporary sibling path to write; renames it to ``path`` on success.

    The yielded path does not exist yet: write a file or create a directory
    there. On an exception the temporary is removed and ``path`` is untouched.
    Checkpoints are named by a prefix (``ckpt/cp.ckpt``), so write them inside
    a directory output.

    Args:
        path: the final output (file or directory).
        overwrite: replace an existing ``path``; default False raises WriteError.

    Raises:
        WriteError: ``path`` exists and ``overwrite`` is False, or its parent
            directory cannot be written.
    """
    path = Path(path)
    if _exists(path) and not overwrite:
        raise WriteError(f"{path}: already exists; pass --overwrite to replace it")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}{TEMP_MARKER}", dir=parent))
    except OSError as error:
        raise WriteError(f"{path}: cannot write in {parent} ({error.strerror or error})") from None
    temp = scratch / path.name
    try:
        yield temp
        if not _exists(temp):
            raise WriteError(f"{path}: the conversion produced no output")
        _replace(temp, path, overwrite)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _exists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _replace(temp: Path, path: Path, overwrite: bool) -> None:
    if not _exists(path):
        os.replace(temp, path)
        return
    if not overwrite:  # appeared while we were writing
        raise WriteError(f"{path}: already exists; pass --overwrite to replace it")
    if path.is_dir() and not path.is_symlink():
        # A directory cannot be replaced by rename in one step: move the old one
        # aside first so that OUT is missing only for the instant between renames.
        aside = temp.with_name(temp.name + ".old")
        os.replace(path, aside)
        os.replace(temp, path)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        if temp.is_dir():
            path.unlink()
        os.replace(temp, path)
