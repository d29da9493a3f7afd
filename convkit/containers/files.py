"""Only regular files are read, and no link is followed.

A model folder is the user's to hand over, but what it links to is not: a
symbolic link to ``/etc`` or to ``/dev/zero``, a FIFO that blocks every reader,
a device or a socket inside it would make convkit read (or copy into an
output) something that is not part of the model. Every reader opens files
through :func:`open_regular`, and ``convert``/``check`` first pass the whole
model through :func:`refuse_links`, so such an entry is refused by name.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from convkit.errors import ReadError

# Entries looked at in one model folder; real SavedModels and TF.js folders hold a few hundred.
MAX_FOLDER_ENTRIES = 200_000

_KINDS = {
    stat.S_IFLNK: "a symbolic link",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def kind_of(mode: int) -> str:
    """``a symbolic link``, ``a FIFO``, ... for a ``st_mode`` that is neither a regular file nor a folder."""
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def _refuse(path: Path, mode: int) -> ReadError:
    return ReadError(f"{path}: is {kind_of(mode)}, not a regular file; convkit reads no links or special files")


def open_regular(path: Path) -> BinaryIO:
    """Opens ``path`` for reading if it is a regular file, without following a link.

    The open itself neither follows a final symbolic link nor blocks on a FIFO;
    what was opened is checked before a byte is read.

    Raises:
        ReadError: a link, FIFO, socket or device; missing or unreadable.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ReadError(f"{path}: no such file") from None
    except OSError as error:
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = 0
        if mode and not stat.S_ISREG(mode):
            raise _refuse(path, mode) from None
        raise ReadError(f"{path}: cannot read ({error.strerror or error})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _refuse(path, mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def head_bytes(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of the file at ``path`` for sniffing; ``b""`` for anything that is not a
    readable file (a folder, a FIFO, a missing path), so ``accept`` functions never block or raise."""
    try:
        if not path.is_file():
            return b""
        with path.open("rb") as handle:
            return handle.read(size)
    except (OSError, ValueError):
        return b""


def is_regular_file(path: Path) -> bool:
    """Whether ``path`` itself (not what it links to) is a regular file."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def refuse_links(path: Path) -> None:
    """Refuses a model whose path, or anything inside its folder, is a link or a special file.

    ``path`` is a model file, a model folder (walked without following links) or a
    checkpoint prefix (its ``.index``, data shards and the folder's ``checkpoint`` file).

    Raises:
        ReadError: naming the first such entry.
    """
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        _refuse_prefix_links(path)
        return
    except (OSError, ValueError) as error:
        raise ReadError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    if stat.S_ISREG(mode):
        if path.suffix in (".index",) or path.parent.joinpath(path.name + ".index").exists():
            _refuse_prefix_links(path.with_suffix("") if path.suffix == ".index" else path)
        if path.name == "model.json" and path.parent != Path(path.anchor):
            refuse_links(path.parent)
        return
    if not stat.S_ISDIR(mode):
        raise _refuse(path, mode)
    seen = 0
    stack = [path]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as error:
            raise ReadError(f"{folder}: cannot list the folder ({error.strerror or error})") from None
        for entry in entries:
            seen += 1
            if seen > MAX_FOLDER_ENTRIES:
                raise ReadError(f"{path}: holds more than {MAX_FOLDER_ENTRIES} entries, over convkit's limit")
            entry_mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISDIR(entry_mode):
                stack.append(Path(entry.path))
            elif not stat.S_ISREG(entry_mode):
                raise _refuse(Path(entry.path), entry_mode)


def _refuse_prefix_links(prefix: Path) -> None:
    folder = prefix.parent
    try:
        entries = [entry for entry in os.scandir(folder)
                   if entry.name.startswith(prefix.name + ".") or entry.name == "checkpoint"]
    except OSError:
        return  # no such folder: the reader says so
    for entry in entries:
        entry_mode = entry.stat(follow_symlinks=False).st_mode
        if not stat.S_ISREG(entry_mode):
            raise _refuse(Path(entry.path), entry_mode)
