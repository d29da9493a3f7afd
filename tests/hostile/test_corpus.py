"""Every command on every hostile corpus entry: a correct result or one clear error, nothing else.

The corpus and what each entry must provoke: fixtures/hostile/README.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.hostile._corpus import (
    CASES,
    OUT_NAMES,
    TARGETS,
    Outcome,
    Sandbox,
    assert_well_behaved,
    case_id,
    run,
)

pytestmark = pytest.mark.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(params=CASES, ids=case_id)
def sandbox(request: pytest.FixtureRequest, tmp_path: Path):
    box = Sandbox(tmp_path, request.param)
    yield box
    box.assert_untouched()


def _inspect_json(outcome: Outcome) -> dict:
    from convkit.registry import format_names

    document = json.loads(outcome.stdout)
    assert document["format"] in format_names()
    return document


def test_inspect_json(sandbox: Sandbox) -> None:
    case = sandbox.case
    outcome = run(sandbox, ["inspect", str(sandbox.src), "--json"])
    assert_well_behaved(outcome, case["inspect"], sandbox)
    if outcome.exit_code == 0:
        document = _inspect_json(outcome)
        if case["code_layer"]:
            assert document["summary"]["code_layers"] >= 1, "a Lambda layer is not flagged as code"
            flagged = json.dumps(document["model"]["code_layers"])
            assert "lambda" in flagged.lower()
        if case.get("code"):
            flagged = json.dumps(_listed(document, "code_layers"))
            assert case["code"] in flagged, f"code object {case['code']!r} not listed: {flagged[:500]}"
        if case.get("risky_op"):
            assert case["risky_op"] in json.dumps(document["risky_ops"])


def _listed(document: object, key: str) -> list[object]:
    """Every list stored under ``key`` anywhere in a report."""
    found: list[object] = []
    if isinstance(document, dict):
        for name, value in document.items():
            if name == key and isinstance(value, list):
                found.extend(value)
            else:
                found.extend(_listed(value, key))
    elif isinstance(document, list):
        for value in document:
            found.extend(_listed(value, key))
    return found


def test_inspect_text_tree(sandbox: Sandbox) -> None:
    outcome = run(sandbox, ["inspect", str(sandbox.src), "--tree"])
    assert_well_behaved(outcome, sandbox.case["inspect"], sandbox)
    if outcome.exit_code == 0:
        assert outcome.stdout.strip()
        if sandbox.case["code_layer"]:
            assert "Lambda" in outcome.stdout


def test_inspect_verify(sandbox: Sandbox) -> None:
    expect = sandbox.case["verify"]
    if expect is None:
        pytest.skip("--verify applies to checkpoints")
    outcome = run(sandbox, ["inspect", str(sandbox.src), "--verify", "--json"])
    assert_well_behaved(outcome, expect, sandbox)
    if outcome.exit_code == 0:
        assert _inspect_json(outcome)["verify"]["ok"] is True


def _convert_cases() -> list[object]:
    """Every entry to every target; ``make test`` takes one target an entry, in turn (so each target meets a
    sixth of the corpus there), and the rest is slow (``make test-all``)."""
    return [pytest.param(case, target, id=f"{case_id(case)}-{target}",
                         marks=() if offset == index % len(TARGETS) else pytest.mark.slow)
            for index, case in enumerate(CASES) for offset, target in enumerate(TARGETS)]


@pytest.mark.parametrize(("sandbox", "target"), _convert_cases(), indirect=["sandbox"])
def test_convert(sandbox: Sandbox, target: str) -> None:
    case = sandbox.case
    out = sandbox.out / OUT_NAMES[target]
    args = ["convert", str(sandbox.src), "--to", target, "--out", str(out), "--json"]
    if case["like"]:
        args += ["--like", str(sandbox.good(case["like"]))]
    outcome = run(sandbox, args)
    assert_well_behaved(outcome, case["convert"], sandbox)
    leftovers = sorted(str(p.relative_to(sandbox.out)) for p in sandbox.out.rglob("*"))
    if outcome.exit_code != 0:
        assert not leftovers, f"a failed conversion left output behind: {leftovers}"
        return
    from convkit.registry import detect

    assert detect(out).name == target, f"{out} is not a {target} output"
    assert not [name for name in leftovers if ".convkit-tmp-" in name], leftovers


def _check_cases() -> list[object]:
    """Every entry as the copy; ``make test`` takes the entries at even places, and tests/check/test_hostile.py
    the entries at odd places as the reference: each entry meets check's reader once there; the rest is slow."""
    return [pytest.param(case, id=case_id(case), marks=() if index % 2 == 0 else pytest.mark.slow)
            for index, case in enumerate(CASES)]


@pytest.mark.parametrize("sandbox", _check_cases(), indirect=True)
def test_check(sandbox: Sandbox) -> None:
    case = sandbox.case
    args = ["check", str(sandbox.good()), str(sandbox.src), "--json"]
    if case["like"]:
        args += ["--like", str(sandbox.good(case["like"]))]
    outcome = run(sandbox, args)
    assert_well_behaved(outcome, case["check"], sandbox, mismatch_ok=True)
    if outcome.exit_code in (0, 1):
        report = json.loads(outcome.stdout)
        assert report["passed"] is (outcome.exit_code == 0)


def test_inspect_weights(sandbox: Sandbox) -> None:
    """``--weights`` reads every tensor: the path where forged sizes and damaged data show."""
    case = sandbox.case
    expect = "ok" if case["path"].startswith("good/") or case["code_layer"] else (
        "error" if case["inspect"] == "error" else "any")
    outcome = run(sandbox, ["inspect", str(sandbox.src), "--weights", "--json"])
    assert_well_behaved(outcome, expect, sandbox)
    if outcome.exit_code == 0:
        _inspect_json(outcome)
