"""Corpus files on which libhdf5 itself hangs or crashes.

convkit reads HDF5 structures in a forked child with a deadline
(``convkit/containers/isolate.py``), so each command must still answer with one
``Error:`` line and exit 2 within seconds. Each runs in a child process with a
timeout, since a regression here would hang or kill the test process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile._corpus import CORPUS, KNOWN_HANGS, ROOT, case_id

HANG_SECONDS = 40  # the deadline inside convkit is 10 s; TensorFlow start-up for convert/check adds more


COMMANDS = {
    "inspect": ["inspect", "{path}", "--json"],
    "convert": ["convert", "{path}", "--to", "tfjs", "-o", "{out}"],
    "check": ["check", "{path}", "{path}"],
}


# The deadline is the HDF5 reader's, shared by the three commands: make test runs inspect; convert and check,
# which wait the same deadline after TensorFlow's start-up, are slow (make test-all).
@pytest.mark.parametrize("command", [pytest.param(command, marks=() if command == "inspect" else pytest.mark.slow)
                                     for command in sorted(COMMANDS)])
@pytest.mark.parametrize("case", KNOWN_HANGS, ids=case_id)
def test_command_answers_within_seconds(case: dict, command: str, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    path, out = CORPUS / case["path"], tmp_path / "out"
    argv = [part.format(path=path, out=out) for part in COMMANDS[command]]
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "convkit", *argv],
            capture_output=True, text=True, timeout=HANG_SECONDS, env=env, cwd=tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"convkit {command} {case['path']} gave no answer within {HANG_SECONDS} s")
    assert completed.returncode == 2, completed.stderr[-2000:]
    errors = [line for line in completed.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [errors[0]] and str(path) in errors[0] and "HDF5" in errors[0], completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr
    assert not out.exists()
