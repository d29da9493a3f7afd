"""Corpus files on which a library convkit relies hangs or crashes; kept so that a fix shows up.

Each runs ``convkit inspect`` in a child process with a short timeout. The
tests are expected failures (strict): when the library is fixed, or convkit
learns to refuse the file first, they pass and the mark must go.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile._corpus import CORPUS, KNOWN_HANGS, ROOT, case_id

HANG_SECONDS = 15


@pytest.mark.parametrize(
    "case",
    [pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=case["known_hang"])) for case in KNOWN_HANGS],
    ids=case_id,
)
def test_inspect_answers_within_seconds(case: dict, tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TMPDIR=str(tmp_path))
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "convkit", "inspect", str(CORPUS / case["path"]), "--json"],
            capture_output=True, text=True, timeout=HANG_SECONDS, env=env, cwd=tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"convkit inspect {case['path']} gave no answer within {HANG_SECONDS} s")
    assert completed.returncode in (0, 2), completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr
