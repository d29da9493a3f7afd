"""Every malformed or hostile file in fixtures/hostile gives one ConvkitError (exit 2), never a crash.

Cases marked ``isolate`` (forged sizes, decompression bombs, shards linked to
/dev/zero) run as a separate ``convkit check`` process under an address-space
limit, so a regression cannot take the machine down.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from convkit.check import check
from convkit.errors import ConvkitError

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "hostile"
CASES = json.loads((CORPUS / "cases.json").read_text()) if (CORPUS / "cases.json").is_file() else []
GOOD = CORPUS / "good" / "tiny_k2.h5"
ADDRESS_SPACE_LIMIT = 24 << 30


def _ids(cases):
    return [case["path"] for case in cases]


IN_PROCESS = [case for case in CASES if not case["isolate"]]
ISOLATED = [case for case in CASES if case["isolate"]]


def _as_reference() -> list[object]:
    """The in-process entries as the reference; ``make test`` takes those at odd places of the corpus (the even
    ones are the copy in tests/hostile/test_corpus.py::test_check), the rest is slow."""
    return [pytest.param(case, id=case["path"], marks=() if CASES.index(case) % 2 == 1 else pytest.mark.slow)
            for case in IN_PROCESS]


@pytest.mark.parametrize("case", _as_reference())
def test_case_as_reference(case):
    like = CORPUS / case["like"] if case["like"] else None
    try:
        report = check(CORPUS / case["path"], [GOOD], like=like, random=2)
    except ConvkitError as error:
        assert str(error).strip() and "\n" not in str(error)
        return
    assert case["check"] == "any", f"{case['path']} should have been refused; got {report.status}"


def _limit_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


@pytest.mark.node
@pytest.mark.parametrize("case", ISOLATED, ids=_ids(ISOLATED))
def test_isolated_case_is_one_error_line_and_exit_2(case):
    command = [sys.executable, "-m", "convkit", "check", str(CORPUS / case["path"]), str(GOOD), "--random", "2"]
    if case["like"]:
        command += ["--like", str(CORPUS / case["like"])]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, preexec_fn=_limit_address_space,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if case["check"] == "any":
        assert done.returncode in (0, 1, 2)
        return
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in done.stderr and "MemoryError" not in errors[0]
