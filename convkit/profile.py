"""Where the time and memory of a command go: each stage (read, write, verify, ...) with its seconds and the
peak memory of the process that ran it, Node included.

Off unless asked for (``convkit convert --profile``, ``convkit check --profile`` or ``CONVKIT_PROFILE=1``):
the command then runs inside :func:`profiling`, the engines mark their stages with :func:`stage`, and the
runtimes in other processes hand in their own figures with :func:`record` (the TF.js runner reports the
seconds and memory of loading and of running each model). Memory is each process's resident high-water
mark (``VmHWM``) at the end of the stage, and how much the stage raised it: the mark never goes down, so
a stage that raised it is where the process's peak was reached. Nothing here samples or polls.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PROFILE_ENV = "CONVKIT_PROFILE"
_MIB = 2**20


def requested(flag: bool = False) -> bool:
    """Whether profiling was asked for: ``flag`` (the ``--profile`` option) or ``CONVKIT_PROFILE`` set and not ``0``."""
    return flag or os.environ.get(PROFILE_ENV, "") not in ("", "0")


@dataclass
class Stage:
    """One stage of a command.

    Attributes:
        name: what ran (``read``, ``write``, ``verify``, ``verify: load``, ``check: run my_model_tfjs``).
        process: which process ran it (``python``, ``node``).
        seconds: its wall time.
        cpu_seconds: the CPU time (user + system, all threads) the process spent in it; None where unknown.
        peak_bytes: the process's resident high-water mark at the end of the stage; None where unknown.
        raised_bytes: how much the stage raised that mark (0: the process had been this large before).
        start_bytes: the process's resident size when the stage began; None where unknown.
        notes: figures of the runtime's own (``wasm heap 1057 MiB``).
    """

    name: str
    process: str
    seconds: float = 0.0
    cpu_seconds: float | None = None
    peak_bytes: int | None = None
    raised_bytes: int | None = None
    start_bytes: int | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "process": self.process, "seconds": round(self.seconds, 3),
                "cpu_seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 3), "peak_mib": _mib(self.peak_bytes), "raised_mib": _mib(self.raised_bytes),
                "start_mib": _mib(self.start_bytes), "notes": list(self.notes)}


class Profile:
    """The stages of one command, in the order they began."""

    def __init__(self) -> None:
        self.stages: list[Stage] = []
        self._open: list[Stage] = []

    @property
    def current(self) -> str | None:
        """The innermost stage still running, for the stages another process reports inside it."""
        return self._open[-1].name if self._open else None

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        """Times the block as stage ``name`` of this process (nested inside the current stage, if any)."""
        record = Stage(_joined(self.current, name), "python", start_bytes=_resident())
        self.stages.append(record)
        self._open.append(record)
        before = _high_water()
        started = time.perf_counter()
        cpu_started = time.process_time()
        try:
            yield record
        finally:
            record.seconds = time.perf_counter() - started
            record.cpu_seconds = time.process_time() - cpu_started
            record.peak_bytes = _high_water()
            record.raised_bytes = max(0, record.peak_bytes - before)
            self._open.remove(record)

    def record(self, name: str, process: str, seconds: float, *, cpu_seconds: float | None = None,
               peak_bytes: int | None = None, raised_bytes: int | None = None, start_bytes: int | None = None,
               notes: tuple[str, ...] = ()) -> None:
        """A stage another process ran (inside the current stage), with the figures it reported."""
        self.stages.append(Stage(_joined(self.current, name), process, seconds, cpu_seconds, peak_bytes,
                                 raised_bytes, start_bytes, notes))

    def to_dict(self) -> list[dict[str, Any]]:
        return [stage.to_dict() for stage in self.stages]

    def render(self) -> str:
        """The stages as a table for stderr, one line each."""
        rows = [("stage", "process", "seconds", "cpu s", "peak MiB", "raised MiB", "")]
        for stage in self.stages:
            cpu = "-" if stage.cpu_seconds is None else f"{stage.cpu_seconds:.2f}"
            rows.append((stage.name, stage.process, f"{stage.seconds:.2f}", cpu, _shown(stage.peak_bytes),
                         _shown(stage.raised_bytes), "; ".join(stage.notes)))
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        lines = []
        for row in rows:
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])] + [row[i].rjust(widths[i]) for i in range(2, 6)]
            lines.append(("profile: " + "  ".join(cells) + ("  " + row[6] if row[6] else "")).rstrip())
        return "\n".join(lines)


_ACTIVE: contextvars.ContextVar[Profile | None] = contextvars.ContextVar("convkit_profile", default=None)


def active() -> Profile | None:
    """The profile being recorded, or None when profiling is off."""
    return _ACTIVE.get()


@contextlib.contextmanager
def profiling(enabled: bool = True) -> Iterator[Profile | None]:
    """Records the stages of the block into a new :class:`Profile` (yielded), or does nothing when not ``enabled``."""
    if not enabled:
        yield None
        return
    profile = Profile()
    token = _ACTIVE.set(profile)
    try:
        yield profile
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Marks the block as stage ``name`` of the active profile; free when profiling is off."""
    profile = _ACTIVE.get()
    if profile is None:
        yield
        return
    with profile.stage(name):
        yield


def record(name: str, process: str, seconds: float, **figures: Any) -> None:
    """Hands in a stage another process ran (see :meth:`Profile.record`); nothing when profiling is off."""
    profile = _ACTIVE.get()
    if profile is not None:
        profile.record(name, process, seconds, **figures)


def _joined(outer: str | None, name: str) -> str:
    return f"{outer}: {name}" if outer else name


def _status_bytes(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="latin-1") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _high_water() -> int:
    found = _status_bytes("VmHWM")
    return found if found is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _resident() -> int | None:
    return _status_bytes("VmRSS")


def _mib(value: int | None) -> float | None:
    return None if value is None else round(value / _MIB, 1)


def _shown(value: int | None) -> str:
    return "-" if value is None else f"{value / _MIB:.0f}"
