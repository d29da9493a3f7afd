"""`--profile` and `CONVKIT_PROFILE=1`: each stage's time and peak memory, per process, on stderr and in --json."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from convkit.profile import Profile, _high_water, _resident, profiling, record, stage
from tests.check.conftest import k2_tfjs_layers  # noqa: F401  (the check tests' TF.js copy, built once)

runner = CliRunner()
# profile: STAGE  PROCESS  SECONDS  CPU  PEAK  RAISED  [notes]
ROW = re.compile(r"^profile: (?P<stage>.+?)\s{2,}(?P<process>python|node|chromium)\s+(?P<seconds>\d+\.\d\d)\s+"
                 r"(?P<cpu>\d+\.\d\d|-)\s+(?P<peak>\d+|-)\s+(?P<raised>\d+|-)(?:\s{2}(?P<notes>.+))?$")
STAGE_KEYS = {"stage", "process", "seconds", "cpu_seconds", "peak_mib", "raised_mib", "start_mib", "notes"}


def _rows(stderr: str) -> list[dict[str, str]]:
    lines = [line for line in stderr.splitlines() if line.startswith("profile:")]
    assert lines, stderr
    assert re.fullmatch(r"profile: stage\s+process\s+seconds\s+cpu s\s+peak MiB\s+raised MiB", lines[0]), lines[0]
    rows = []
    for line in lines[1:]:
        match = ROW.match(line)
        assert match, f"not a profile row: {line!r}"
        rows.append(match.groupdict())
    return rows


@pytest.mark.node
def test_convert_profile_names_each_stage_and_node_apart(trained_k2, tmp_path):
    out = tmp_path / "copy_tfjs"
    result = runner.invoke(app, ["convert", str(trained_k2 / "my_model.h5"), "--to", "tfjs", "-o", str(out),
                                 "--profile"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.stderr)
    assert [(row["stage"], row["process"]) for row in rows] == [
        ("screen", "python"), ("read", "python"), ("write", "python"), ("verify", "python"),
        ("verify: load", "node"), ("verify: run", "node")]
    load = rows[-2]
    assert "each weight read once, in place" in load["notes"] and "wasm heap" in load["notes"]
    assert int(load["peak"]) > 0 and load["raised"] != "-"
    assert "profile:" not in result.stdout  # stdout keeps the result line only


@pytest.mark.node
def test_the_json_document_carries_the_stages_and_the_variable_turns_it_on(trained_k2, tmp_path, monkeypatch):
    monkeypatch.setenv("CONVKIT_PROFILE", "1")
    result = runner.invoke(app, ["convert", str(trained_k2 / "my_model.h5"), "--to", "tfjs", "-o",
                                 str(tmp_path / "a"), "--json"])
    assert result.exit_code == 0, result.output
    stages = json.loads(result.stdout)["profile"]
    assert {item["stage"] for item in stages} >= {"read", "write", "verify", "verify: load", "verify: run"}
    assert all(set(item) == STAGE_KEYS for item in stages)
    node = [item for item in stages if item["process"] == "node"]
    assert node and all(item["peak_mib"] > 0 and item["cpu_seconds"] is not None for item in node)
    assert [item["stage"] for item in stages if item["process"] == "python"][0] == "screen"
    assert _rows(result.stderr)

    monkeypatch.setenv("CONVKIT_PROFILE", "0")
    result = runner.invoke(app, ["convert", str(trained_k2 / "my_model.h5"), "--to", "tfjs", "-o",
                                 str(tmp_path / "b"), "--json", "--no-verify"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["profile"] is None
    assert "profile:" not in result.stderr


@pytest.mark.node
def test_check_profile_has_a_load_and_a_run_per_model(trained_k2, k2_tfjs_layers):  # noqa: F811
    reference = trained_k2 / "my_model.h5"
    result = runner.invoke(app, ["check", str(reference), str(k2_tfjs_layers), "--profile", "--mnist", "50"])
    assert result.exit_code == 0, result.output
    stages = [(row["stage"], row["process"]) for row in _rows(result.stderr)]
    assert (f"load {reference}", "python") in stages
    assert (f"run {reference}", "python") in stages
    assert (f"run {k2_tfjs_layers}: load", "node") in stages
    assert (f"run {k2_tfjs_layers}: run", "node") in stages


def test_stages_nest_and_record_what_the_process_reports():
    with profiling() as profile:
        assert isinstance(profile, Profile)
        with stage("verify"):
            # Earlier tests in this process may have left its high-water mark above its resident size: the
            # buffer fills the gap and 64 MiB more.
            buffer = bytearray(max(0, _high_water() - (_resident() or 0)) + 64 * 2**20)
            buffer[:: 4096] = b"\x01" * len(buffer[:: 4096])  # touch every page: the high-water mark rises
            record("load", "node", 1.5, cpu_seconds=1.0, peak_bytes=3 * 2**20, raised_bytes=2**20)
        del buffer
        with stage("later"):
            pass
    verify, load, later = profile.stages
    assert (verify.name, load.name, later.name) == ("verify", "verify: load", "later")
    assert verify.raised_bytes is not None and verify.raised_bytes >= 60 * 2**20
    # The kernel counts resident pages per CPU and sums them when asked, so the mark read may wobble by a page or so.
    assert later.raised_bytes == 0 and abs(later.peak_bytes - verify.peak_bytes) < 2**20
    assert (load.process, load.seconds, load.peak_bytes) == ("node", 1.5, 3 * 2**20)
    assert profile.render().splitlines()[2].split()[1:4] == ["verify:", "load", "node"]


def test_stages_cost_nothing_when_profiling_is_off():
    with profiling(False) as profile:
        assert profile is None
        with stage("read"):
            record("load", "node", 1.0)
