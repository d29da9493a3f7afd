"""Wall time and peak memory of a command, measured the same way for every tool.

Each run is a fresh child process; its peak resident set size comes from the
kernel's accounting for that child (``os.wait4``: the largest of the child and
every descendant it waited for), so nothing polls and nothing is sampled.

:func:`run_tree` also tells the processes of a run apart (convkit's Python
process, the Node.js process it starts, a child reading HDF5 structures): it
reads each descendant's own high-water mark (``VmHWM`` in ``/proc/PID/status``,
which only rises) every 50 ms while it lives, so a process's peak is exact
unless it rose in the last interval before the process ended. One look at
``/proc`` costs a few ms of CPU; polling more often would take a noticeable
share of a 2-core machine from the command measured.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

POLL_SECONDS = 0.05


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


@dataclass(frozen=True)
class ProcessPeak:
    """One process of a run: its name (``python``, ``node``), its command line and its peak RSS (MiB)."""

    name: str
    command: str
    peak_mib: float

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "command": self.command, "peak_mib": self.peak_mib}


@dataclass(frozen=True)
class TreeRun:
    """One run of a command: wall and CPU seconds, the tree's peak (wait4) and each process's own peak."""

    seconds: float
    peak_mib: float
    cpu_seconds: float
    processes: tuple[ProcessPeak, ...]
    stdout: str = ""
    stderr: str = field(default="", repr=False)

    def peak_of(self, name: str) -> float:
        """The largest peak among the processes called ``name`` (0 when none ran)."""
        return max((process.peak_mib for process in self.processes if process.name == name), default=0.0)

    def to_dict(self) -> dict[str, object]:
        return {"seconds": self.seconds, "peak_mib": self.peak_mib, "cpu_seconds": self.cpu_seconds,
                "processes": [process.to_dict() for process in self.processes]}


def _descendants(root: int) -> set[int]:
    """``root`` and every process below it, from one look at ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = {root}, [root]
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def _high_water_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def _describe(pid: int) -> tuple[str, str]:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?", "?"
    words = [word.decode(errors="replace") for word in argv if word]
    program = Path(words[0]).name if words else "?"
    name = "node" if program == "node" else "python" if program.startswith("python") or any(
        word.endswith(("convkit", "tensorflowjs_converter")) for word in words[:2]) else program
    return name, " ".join(words)[:200]


def run_tree(argv: Sequence[str], env: dict[str, str] | None = None, capture: bool = False) -> TreeRun:
    """One run of ``argv`` with the peak RSS of every process of its tree; raises if it fails.

    ``capture``: keep its stdout (a ``--json`` document) in the result.
    """
    started = time.perf_counter()
    process = subprocess.Popen(list(argv), stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                               stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    peaks: dict[int, float] = {}
    names: dict[int, tuple[str, str]] = {}
    streams = _drain(process)
    while True:
        waited, status, usage = os.wait4(process.pid, os.WNOHANG)
        if waited:
            break
        for pid in _descendants(process.pid):
            peak = _high_water_mib(pid)
            if peak is None:
                continue
            if pid not in names:
                names[pid] = _describe(pid)
            peaks[pid] = max(peak, peaks.get(pid, 0.0))
        time.sleep(POLL_SECONDS)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = streams()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed with exit code {process.returncode}: {stderr[-2000:]}")
    total = usage.ru_maxrss / 1024.0  # the largest of the whole tree, whichever process reached it
    processes = tuple(ProcessPeak(names[pid][0], names[pid][1], round(peak, 1)) for pid, peak in peaks.items())
    return TreeRun(round(seconds, 3), round(total, 1), round(usage.ru_utime + usage.ru_stime, 3), processes,
                   stdout, stderr)


def _drain(process: subprocess.Popen) -> Callable[[], tuple[str, str]]:
    """Reads the process's pipes in threads (so a full pipe never blocks it); returns what was read."""
    import threading

    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

    def read(name: str) -> None:
        stream = getattr(process, name)
        if stream is not None:
            for block in iter(lambda: stream.read(65536), b""):
                chunks[name].append(block)

    threads = [threading.Thread(target=read, args=(name,), daemon=True) for name in chunks]
    for thread in threads:
        thread.start()

    def collected() -> tuple[str, str]:
        for thread in threads:
            thread.join()
        return (b"".join(chunks["stdout"]).decode(errors="replace"), b"".join(chunks["stderr"]).decode(errors="replace"))

    return collected


@dataclass(frozen=True)
class TreeMeasurement:
    """Medians over ``runs`` runs of one command: wall and CPU seconds, the tree's peak, each process's peak
    (by name: ``python``, ``node``), and the stages the median run's ``--profile`` reported (if asked for)."""

    label: str
    seconds: float
    cpu_seconds: float
    peak_mib: float
    process_peaks: dict[str, float]
    runs: int
    all_seconds: tuple[float, ...]
    stages: tuple[dict[str, object], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"label": self.label, "seconds": self.seconds, "cpu_seconds": self.cpu_seconds,
                "peak_mib": self.peak_mib, "process_peaks": self.process_peaks, "runs": self.runs,
                "all_seconds": list(self.all_seconds), "stages": list(self.stages)}


def measure_tree(label: str, argv: Sequence[str], runs: int = 3, before_each=None,
                 env: dict[str, str] | None = None, profile: bool = False) -> TreeMeasurement:
    """Runs ``argv`` ``runs`` times, each process's peak apart (:func:`run_tree`).

    ``profile``: the command is a convkit command taking ``--json`` and ``--profile``; both are added and
    the stages of the run with the median wall time are kept.
    """
    import json

    argv = [*argv, "--json", "--profile"] if profile else list(argv)
    results = []
    for _ in range(runs):
        if before_each is not None:
            before_each()
        results.append(run_tree(argv, env, capture=profile))
    ordered = sorted(results, key=lambda result: result.seconds)
    middle = ordered[len(ordered) // 2]
    names = sorted({process.name for result in results for process in result.processes})
    peaks = {name: round(statistics.median(result.peak_of(name) for result in results), 1) for name in names}
    stages: tuple[dict[str, object], ...] = ()
    if profile:
        stages = tuple(json.loads(middle.stdout).get("profile") or ())
    return TreeMeasurement(label, middle.seconds, round(statistics.median(r.cpu_seconds for r in results), 3),
                           round(statistics.median(r.peak_mib for r in results), 1), peaks, runs,
                           tuple(result.seconds for result in results), stages)


def stage_lines(stages: Sequence[dict[str, object]], indent: str = "    ") -> list[str]:
    """The stages of a ``--profile`` as aligned lines: name, process, seconds, CPU seconds, peak and rise (MiB)."""
    lines = []
    for item in stages:
        cpu = item.get("cpu_seconds")
        peak, raised = item.get("peak_mib"), item.get("raised_mib")
        lines.append(f"{indent}{str(item['stage']):<34} {str(item['process']):<7} {float(item['seconds']):>7.2f} s "  # type: ignore[arg-type]
                     f"{'' if cpu is None else f'{float(cpu):.2f}':>7} cpu s "  # type: ignore[arg-type]
                     f"{'-' if peak is None else f'{float(peak):.0f}':>6} MiB peak "  # type: ignore[arg-type]
                     f"{'-' if raised is None else f'+{float(raised):.0f}':>6} MiB"  # type: ignore[arg-type]
                     + (f"  {'; '.join(item.get('notes') or [])}" if item.get("notes") else ""))  # type: ignore[arg-type]
    return lines


def run_steps(steps: Sequence[tuple[str, Sequence[str]]], env: dict[str, str]) -> dict[str, object]:
    """Each ``(name, argv)`` run once, in order: ``{name: {"seconds", "peak_mib"}}`` (peak of the process tree)."""
    figures: dict[str, object] = {}
    for name, argv in steps:
        seconds, peak = run_once(argv, env)
        figures[name] = {"seconds": round(seconds, 1), "peak_mib": round(peak)}
    return figures


def check_copies(source: Path, copies: Sequence[Path], samples: int, env: dict[str, str]) -> dict[str, object]:
    """``convkit check source copies... --random samples`` (not timed): whether every copy passed, and the largest
    absolute difference of any copy's first output."""
    import json
    import sys

    document = subprocess.run([sys.executable, "-m", "convkit", "check", str(source), *map(str, copies), "--random",
                               str(samples), "--json"], capture_output=True, text=True, env={**os.environ, **env},
                              check=False)
    report = json.loads(document.stdout)
    return {"check_passed": report["passed"],
            "max_abs": max(pair["outputs"][0]["max_abs"] for pair in report["pairs"])}


def run_in_work(description: str, prefix: str,
                run: Callable[[Path], dict[str, object]]) -> dict[str, object] | None:
    """A large-model bench's command line (``--work DIR``: keep and reuse its files; ``--json``): ``run``'s
    figures, in ``--work`` or a temporary folder; with ``--json`` they are printed as JSON here and None returned."""
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix=prefix) as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        figures = run(work)
    if args.json:
        print(json.dumps(figures, indent=2))
        return None
    return figures


def check_verdict(figures: dict[str, object]) -> int:
    """Prints the line of :func:`check_copies`' figures; the bench's exit code (1 when a copy failed)."""
    print(f"  check (both copies): {'PASSED' if figures['check_passed'] else 'FAILED'}, "
          f"max abs {figures['max_abs']:.2e}")
    return 0 if figures["check_passed"] else 1
