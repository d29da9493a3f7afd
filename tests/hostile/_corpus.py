"""The hostile corpus (fixtures/hostile) and the rules every command must keep on it.

A command run on a corpus entry must end in one of two ways: exit 0 with a
correct result, or exit 2 with exactly one ``Error: ...`` line on stderr naming
the file. Never exit 3 (a bug in convkit), never a traceback, never a hang,
nothing written outside the output folder, no marker file from code stored in
a model.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "hostile"
CASES: list[dict[str, Any]] = json.loads((CORPUS / "cases.json").read_text())
# Files on which a library convkit uses hangs or crashes: tested apart (tests/hostile/test_known_hangs.py).
KNOWN_HANGS: list[dict[str, Any]] = json.loads((CORPUS / "known_hangs.json").read_text())
ALL_CASES = CASES + KNOWN_HANGS
MARKER_ENV = "CONVKIT_HOSTILE_MARKER"
DEFAULT_MARKER = Path("/tmp/convkit-marker-5d0c7f3e-hostile-corpus")
ESCAPE_NAME = "convkit-escape-5d0c7f3e.txt"
GOOD_REF = "good/tiny_k2.h5"
TARGETS = ("ckpt", "savedmodel", "h5", "keras", "tfjs", "pb")
OUT_NAMES = {"ckpt": "converted_ckpt/ckpt", "savedmodel": "converted_savedmodel", "h5": "converted.h5",
             "keras": "converted.keras", "tfjs": "converted_tfjs", "pb": "converted.pb"}
# In-process commands get this long before the test calls it a hang; subprocesses the same.
COMMAND_SECONDS = 180
# Address space for isolated subprocesses: room for TensorFlow, not for a 64 GiB allocation.
ISOLATED_ADDRESS_SPACE = 24 * 1024**3


class Hang(BaseException):
    """A command did not finish within COMMAND_SECONDS (BaseException: convkit must not swallow it)."""


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None


def case_id(case: dict[str, Any]) -> str:
    return case["path"].removeprefix("cases/").replace("/", "_")


def case_top(case: dict[str, Any]) -> str:
    """The corpus entry's own file or folder name (``ckpt_bitflip_data`` for ``cases/ckpt_bitflip_data/ckpt``)."""
    return case["path"].split("/")[1]


class Sandbox:
    """A temporary world for one command: inputs copied in, cwd/TMPDIR/marker all inside ``root``."""

    def __init__(self, root: Path, case: dict[str, Any]) -> None:
        self.root = root
        self.case = case
        self.inputs = root / "in"
        self.out = root / "out"
        self.cwd = root / "cwd"
        self.scratch = root / "scratch"
        self.marker = root / "marker.txt"
        for folder in (self.out, self.cwd, self.scratch):
            folder.mkdir(parents=True)
        shutil.copytree(CORPUS / "good", self.inputs / "good", symlinks=True)
        top = case["path"].split("/")[:2]
        if top[0] == "cases":
            (self.inputs / "cases").mkdir()
            source = CORPUS / "cases" / top[1]
            target = self.inputs / "cases" / top[1]
            if source.is_dir():
                shutil.copytree(source, target, symlinks=True)
            else:
                shutil.copyfile(source, target)
            shutil.copyfile(CORPUS / "cases" / "tfjs_outside.bin", self.inputs / "cases" / "tfjs_outside.bin")
        self.escapes = [self.root.parent / ESCAPE_NAME, self.root.parent.parent / ESCAPE_NAME,
                        Path("/tmp") / ESCAPE_NAME, self.root / ESCAPE_NAME, Path.cwd() / ESCAPE_NAME]
        self.escapes_before = {path for path in self.escapes if path.exists()}
        self.before = self.snapshot()

    @property
    def src(self) -> Path:
        return self.inputs / self.case["path"]

    def good(self, relative: str = GOOD_REF) -> Path:
        return self.inputs / relative

    def snapshot(self) -> dict[str, tuple[int, bytes]]:
        """Every file and folder outside ``out/`` and ``scratch/``, with its size and leading bytes."""
        seen = {}
        for path in sorted(self.root.rglob("*")):
            relative = path.relative_to(self.root)
            if relative.parts[0] in ("out", "scratch"):
                continue
            if path.is_symlink():
                seen[str(relative)] = (-2, str(path.readlink()).encode())
            elif path.is_file():
                with path.open("rb") as handle:
                    seen[str(relative)] = (path.stat().st_size, handle.read(4096))
            else:
                seen[str(relative)] = (-1, b"")
        return seen

    def env(self) -> dict[str, str]:
        return {MARKER_ENV: str(self.marker), "TMPDIR": str(self.scratch)}

    def assert_untouched(self) -> None:
        """No marker, no escaped file, nothing changed outside ``out/``, no temporaries left."""
        assert not self.marker.exists(), f"code stored in {self.case['path']} ran: {self.marker} was written"
        assert not DEFAULT_MARKER.exists(), f"code stored in a model ran: {DEFAULT_MARKER} exists"
        escaped = [path for path in self.escapes if path.exists() and path not in self.escapes_before]
        assert not escaped, f"files written outside the output folder: {escaped}"
        after = self.snapshot()
        changed = sorted(set(after) ^ set(self.before)) + sorted(
            name for name in set(after) & set(self.before) if after[name] != self.before[name]
        )
        assert not changed, f"written or changed outside the output folder: {changed[:5]}"
        # TensorFlow's autograph keeps generated sources in TMPDIR until the process exits (its own atexit).
        leftovers = [str(p.relative_to(self.scratch)) for p in self.scratch.rglob("*")
                     if not p.name.startswith("__autograph_generated_file")]
        assert not leftovers, f"temporary files left behind: {leftovers[:5]}"


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raises ``Hang`` in the main thread if the block runs longer than ``seconds``."""

    def on_alarm(signum: int, frame: Any) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def inside(sandbox: Sandbox) -> Iterator[None]:
    """cwd, TMPDIR and the marker variable pointed into the sandbox for an in-process command."""
    old_cwd = Path.cwd()
    old_tempdir = tempfile.tempdir
    old_env = {key: os.environ.get(key) for key in sandbox.env()}
    os.chdir(sandbox.cwd)
    tempfile.tempdir = str(sandbox.scratch)
    os.environ.update(sandbox.env())
    try:
        yield
    finally:
        os.chdir(old_cwd)
        tempfile.tempdir = old_tempdir
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_in_process(sandbox: Sandbox, args: list[str], seconds: float = COMMAND_SECONDS) -> Outcome:
    from typer.testing import CliRunner

    from convkit.cli.main import app

    with inside(sandbox), deadline(seconds):
        result = CliRunner().invoke(app, args)
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(result.exit_code, result.stdout, result.stderr, exception)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ISOLATED_ADDRESS_SPACE, ISOLATED_ADDRESS_SPACE))


class IsolatedWorker:
    """One child process (tests/hostile/_worker.py) that runs the isolated cases' commands, one at a time.

    The child lives under an address-space cap, so a forged size that makes
    convkit allocate without bound ends in a MemoryError there, not in the
    test process; it imports TensorFlow once for all commands instead of once
    per command. A child that dies (a crash) answers that command with its
    signal as the exit code and is started afresh for the next one; one that
    gives no answer within the deadline is replaced and the command is a hang.
    """

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.stderr: Any = None

    def _start(self) -> subprocess.Popen[str]:
        if self.process is None or self.process.poll() is not None:
            if self.stderr is not None:
                self.stderr.close()
            self.stderr = tempfile.TemporaryFile("w+")
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.hostile._worker"], cwd=ROOT, env=env, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, preexec_fn=_limit_memory,
            )
        return self.process

    def run(self, sandbox: Sandbox, args: list[str]) -> Outcome:
        process = self._start()
        assert process.stdin is not None and process.stdout is not None
        request = {"args": args, "cwd": str(sandbox.cwd), "env": sandbox.env(), "seconds": COMMAND_SECONDS}
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], COMMAND_SECONDS + 30)
        line = process.stdout.readline() if ready else None
        if line is None:
            process.kill()
            self.stop()
            raise Hang(f"convkit {' '.join(args)} gave no answer within {COMMAND_SECONDS} s")
        if not line:  # the child died during the command
            code = process.wait()
            self.stderr.seek(0)
            log = self.stderr.read()
            self.process = None
            return Outcome(code, "", log[-5000:])
        answer = json.loads(line)
        if "hang" in answer:  # interrupted anywhere (even inside an import): the next command gets a fresh child
            process.kill()
            self.stop()
            raise Hang(f"convkit {' '.join(args)}: {answer['hang']}")
        exception = RuntimeError(answer["exception"]) if answer["exception"] else None
        return Outcome(answer["exit_code"], answer["stdout"], answer["stderr"], exception)

    def stop(self) -> None:
        """Ends the child: its input closed so it exits on its own (running its clean-up), killed if it does not."""
        if self.process is None:
            return
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


_worker = IsolatedWorker()
atexit.register(_worker.stop)


def run_isolated(sandbox: Sandbox, args: list[str]) -> Outcome:
    """The command in the isolated child process, with a deadline and a cap on its address space."""
    return _worker.run(sandbox, args)


def run(sandbox: Sandbox, args: list[str]) -> Outcome:
    return run_isolated(sandbox, args) if sandbox.case["isolate"] else run_in_process(sandbox, args)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def assert_well_behaved(outcome: Outcome, expect: str, sandbox: Sandbox, *, mismatch_ok: bool = False) -> None:
    """Exit 0 (unless ``expect`` is ``error``) or exit 2 with one ``Error:`` line naming the file.

    ``expect``: ``ok`` (must succeed), ``error`` (must fail with exit 2) or ``any``.
    ``mismatch_ok``: exit 1 (a check's mismatch verdict) is also a correct result.
    """
    shown = f"exit {outcome.exit_code}\n--- stdout\n{outcome.stdout[-2000:]}\n--- stderr\n{outcome.stderr[-3000:]}"
    assert outcome.exception is None, f"uncaught {outcome.exception!r}\n{shown}"
    assert "Traceback (most recent call last)" not in outcome.stdout + outcome.stderr, shown
    assert outcome.exit_code != 3, f"internal error (exit 3)\n{shown}"
    if outcome.exit_code == 0:
        assert expect != "error", f"expected a one-line error, got success\n{shown}"
        return
    if outcome.exit_code == 1 and mismatch_ok and expect == "any":
        return
    assert outcome.exit_code == 2, f"unexpected exit code\n{shown}"
    assert expect != "ok", f"expected success\n{shown}"
    lines = error_lines(outcome.stderr)
    assert len(lines) == 1, f"expected exactly one Error: line\n{shown}"
    assert case_top(sandbox.case) in lines[0], f"the error does not name {case_top(sandbox.case)}\n{shown}"
