"""Atomic outputs: write next to the target, rename into place at the end.

A conversion that fails or is killed leaves at most a hidden temporary sibling
(``.OUT.convkit-tmp-PID-XXXX``), never a half-written ``OUT``; the next write of
``OUT`` removes the temporaries of writers no longer running (one killed for
memory leaves its partial weights there). Every command that writes a model file
goes through :func:`atomic_output`.
"""

from __future__ import annotations

import contextlib
import errno
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
    Files the writer leaves beside the temporary named after it (``OUT.data``,
    an ONNX model's external weights) are moved beside ``path`` first.
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
        _remove_abandoned(parent, path.name)
        scratch = Path(tempfile.mkdtemp(prefix=f".{path.name}{TEMP_MARKER}{os.getpid()}-", dir=parent))
    except OSError as error:
        raise WriteError(f"{path}: cannot write in {parent} ({error.strerror or error})") from None
    temp = scratch / path.name
    try:
        yield temp
        if not _exists(temp):
            raise WriteError(f"{path}: the conversion produced no output")
        for companion in sorted(scratch.iterdir()):
            if companion != temp and companion.name.startswith(f"{path.name}."):
                _replace(companion, parent / companion.name, overwrite)
        _replace(temp, path, overwrite)
    except BaseException as error:
        if no_space(error):
            raise WriteError(f"no space left on device writing {path}") from None
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _remove_abandoned(parent: Path, name: str) -> None:
    """Removes ``name``'s temporaries in ``parent`` whose writing process has ended (killed, out of memory)."""
    marker = f".{name}{TEMP_MARKER}"
    for entry in os.scandir(parent):
        pid, dash, _ = entry.name[len(marker):].partition("-")
        if not (entry.name.startswith(marker) and dash and pid.isdigit()) or entry.is_symlink() or not entry.is_dir():
            continue
        if not _running(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: running
        return True
    return True


def no_space(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps) is a full disk or quota, from Python, h5py or TensorFlow."""
    seen: BaseException | None = error
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "No space left on device" in str(seen) or "Disk quota exceeded" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_checkpoint_file(name: str, prefix: str) -> bool:
    return name.startswith(prefix + ".") and (name.endswith(".index") or ".data-" in name)


@contextlib.contextmanager
def atomic_prefix(prefix: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yields a temporary checkpoint prefix; its files appear at ``prefix`` in one rename.

    A checkpoint is several files (``.index``, ``.data-*``) plus the folder's
    ``checkpoint`` state file, and a folder's files cannot be renamed in together,
    so the whole folder is staged: a sibling holding links to the folder's other
    files, the new checkpoint and the state file naming it, renamed over the folder.

    Raises:
        WriteError: a checkpoint with this prefix exists and ``overwrite`` is False.
    """
    from convkit.train.checkpoints import STATE_FILE, record_in_state_file

    prefix = Path(prefix)
    folder = prefix.parent
    existing = folder.is_dir() and not folder.is_symlink()
    if existing and not overwrite and any(_is_checkpoint_file(name, prefix.name) for name in os.listdir(folder)):
        raise WriteError(f"{prefix}: a checkpoint with this prefix already exists; pass --overwrite to replace it")
    state_before = b""
    with atomic_output(folder, overwrite=overwrite or existing) as temp:
        temp.mkdir()
        if existing:
            for entry in os.scandir(folder):
                if entry.name == STATE_FILE and entry.is_file(follow_symlinks=False):
                    state_before = Path(entry.path).read_bytes()
                elif not _is_checkpoint_file(entry.name, prefix.name):
                    _link_or_copy(Path(entry.path), temp / entry.name)
        staged = temp / prefix.name
        yield staged
        # The writer may have written its own state file naming only the new prefix: start from the folder's.
        state = temp / STATE_FILE
        state.unlink(missing_ok=True)
        if state_before:
            state.write_bytes(state_before)
        record_in_state_file(staged)


def _link_or_copy(source: Path, target: Path) -> None:
    if source.is_symlink() or not (source.is_file() or source.is_dir()):
        raise WriteError(f"{source}: is a link or special file; convkit writes no checkpoint into a folder holding one")
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True, copy_function=_link_file)
    else:
        _link_file(source, target)


def _link_file(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def copy_model_tree(source: Path, target: Path) -> None:
    """Copies a model file or folder that holds only regular files (links refused, never followed)."""
    from convkit.containers.files import refuse_links

    refuse_links(source)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copyfile(source, target, follow_symlinks=False)


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
