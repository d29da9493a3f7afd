"""Where a convkit process keeps its temporary files: one folder, gone when the process ends, however it ends.

A conversion stages SavedModels, exports and archive members in the temporary directory: gigabytes for a
large model. ``with`` blocks remove them when a command ends or fails, but a process that is killed outright
(out of memory, ``kill -9``) cleans nothing, and each such kill used to leave its gigabytes in ``/tmp``.

So the command line gives each process one folder, ``convkit-run-*`` in the system's temporary directory,
and points ``tempfile`` and ``TMPDIR`` at it: what convkit, TensorFlow, tensorflowjs and Node make there goes
with it. The process holds a lock on the folder while it lives (the kernel lets go of it when the process
dies, by any signal); every convkit command starts by removing the folders whose lock nobody holds.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "convkit-run-"
LOCK = ".lock"
# A folder with no lock file yet may be one another process is creating right now.
_UNLOCKED_GRACE_SECONDS = 60.0

_held: list[int] = []


def claim() -> Path | None:
    """Gives this process its own temporary folder (and removes abandoned ones); ``None`` if none can be made,
    in which case temporary files go where they went before (also where there is no ``fcntl``: Windows)."""
    try:
        import fcntl
    except ImportError:
        return None
    base = Path(tempfile.gettempdir())
    remove_abandoned(base)
    try:
        folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    except OSError:
        return None
    try:
        # Locked under another name, then renamed: a lock file another process can see is always held.
        lock = os.open(folder / f"{LOCK}-new", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(folder / f"{LOCK}-new", folder / LOCK)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    _held.append(lock)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = str(folder)
    return folder


def remove_abandoned(base: Path) -> list[Path]:
    """Removes this user's ``convkit-run-*`` folders in ``base`` whose process has ended; returns them."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except OSError:
        return removed
    for entry in entries:
        try:
            if (not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False)
                    or entry.stat(follow_symlinks=False).st_uid != os.getuid()):
                continue
        except OSError:
            continue
        if _abandoned(Path(entry.path)):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _abandoned(folder: Path) -> bool:
    """Whether no process holds ``folder``'s lock (taking it for a moment to find out)."""
    import fcntl

    try:
        lock = os.open(folder / LOCK, os.O_RDWR | os.O_NOFOLLOW)
    except FileNotFoundError:
        try:
            return time.time() - folder.stat().st_mtime > _UNLOCKED_GRACE_SECONDS
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(lock)
    return True
