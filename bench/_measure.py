"""Wall time and peak memory of a command, measured the same way for every tool.

Each run is a fresh child process; its peak resident set size comes from the
kernel's accounting for that child (``os.wait4``), so nothing polls and
nothing is sampled.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Measurement:
    """Median wall seconds and peak RSS (MiB) over ``runs`` runs of one command."""

    label: str
    seconds: float
    peak_mib: float
    runs: int
    all_seconds: tuple[float, ...]
    # Median user+system CPU seconds: steadier than wall time on a busy machine.
    cpu_seconds: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "seconds": self.seconds, "peak_mib": self.peak_mib, "runs": self.runs,
                "all_seconds": list(self.all_seconds), "cpu_seconds": self.cpu_seconds}


def run_once(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one run of ``argv``; raises if it fails."""
    wall, peak, _cpu = run_once_with_cpu(argv, env)
    return wall, peak


def run_once_with_cpu(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MiB, user+system CPU seconds) of one run of ``argv``; raises if it fails."""
    started = time.perf_counter()
    process = subprocess.Popen(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed with exit code {process.returncode}: {stderr[-2000:]}")
    return seconds, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime  # Linux reports KiB


def measure(label: str, argv: Sequence[str], runs: int = 3, before_each=None,
            env: dict[str, str] | None = None) -> Measurement:
    """Runs ``argv`` ``runs`` times (calling ``before_each()`` first, e.g. to clear the output)."""
    seconds, peaks, cpus = [], [], []
    for _ in range(runs):
        if before_each is not None:
            before_each()
        wall, peak, cpu = run_once_with_cpu(argv, env)
        seconds.append(wall)
        peaks.append(peak)
        cpus.append(cpu)
    return Measurement(label, round(statistics.median(seconds), 3), round(statistics.median(peaks), 1), runs,
                       tuple(round(s, 3) for s in seconds), round(statistics.median(cpus), 3))
