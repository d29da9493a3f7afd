"""Reads HDF5 structures in a forked child, so a libhdf5 hang or crash becomes one error.

libhdf5 can loop forever or crash (SIGSEGV) on some damaged files while it
decodes attribute and heap messages; Python cannot interrupt or catch either
inside the C library. ``run_isolated`` runs the reading function in a child
process, waits with a deadline, and turns a timeout or a fatal signal into a
``ReadError`` naming the file. The child's result comes back pickled.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from pathlib import Path
from typing import Any, Callable

from convkit.errors import ReadError

# A sound file's structure reads in milliseconds; the allowance per byte covers --weights statistics.
BASE_SECONDS = 10.0
SECONDS_PER_GIB = 30.0
MAX_LOAD_FACTOR = 2.0


def deadline_for(path: Path) -> float:
    """Seconds a read of ``path`` may take before it counts as a hang.

    Scaled up by the machine's load (runnable processes per core, at most
    ``MAX_LOAD_FACTOR``), so that a sound file read on a busy machine is not taken
    for a hang while a real hang still ends in bounded time.
    """
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    try:
        busy = min(MAX_LOAD_FACTOR, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))
    except OSError:
        busy = 1.0
    return (BASE_SECONDS + SECONDS_PER_GIB * size / 2**30) * busy


def run_isolated(function: Callable[..., Any], path: Path, *args: Any, **kwargs: Any) -> Any:
    """``function(path, *args, **kwargs)``, run in a forked child with a deadline.

    Falls back to a direct call where ``os.fork`` does not exist.

    Raises:
        ReadError: the child hung past the deadline or died from a signal, or
            ``function`` raised a ConvkitError (re-raised as it was).
    """
    if not hasattr(os, "fork"):
        return function(path, *args, **kwargs)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: compute, send, leave without running the parent's clean-up
        os.close(read_end)
        try:
            try:
                message = ("ok", function(path, *args, **kwargs))
            except BaseException as error:  # sent to the parent, which re-raises it
                message = ("error", error)
            try:
                payload = pickle.dumps(message)
            except Exception as error:
                payload = pickle.dumps(("error", RuntimeError(f"unpicklable result: {error}")))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    return _collect(child, read_end, path, deadline_for(path))


def _collect(child: int, read_end: int, path: Path, seconds: float) -> Any:
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                raise ReadError(
                    f"{path}: reading the HDF5 structures timed out after {seconds:.0f} s; libhdf5 loops "
                    "forever on some damaged files, and a very busy machine is this slow on sound ones: "
                    "retry when the machine is less loaded"
                )
            ready, _, _ = select.select([pipe], [], [], remaining)
            if not ready:
                continue
            chunk = pipe.read(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status) or not chunks:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
        raise ReadError(f"{path}: libhdf5 crashed reading the file ({how}); the HDF5 structures are damaged")
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "error":
        raise value
    return value
