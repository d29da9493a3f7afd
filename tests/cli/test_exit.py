"""A command that imported TensorFlow ends without the interpreter's teardown: same exit code, same output,
every temporary folder removed, and seconds sooner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.test_check import nudged_k2  # noqa: F401  (a copy with one weight off by 1e-3)

ROOT = Path(__file__).resolve().parents[2]


def _started(*args: object, tmp: Path) -> subprocess.Popen[str]:
    """``convkit ARGS`` started through ``main()``, its temporary files under ``tmp``."""
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", "from convkit.cli.main import main; main()", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _convkit(*args: object, tmp: Path) -> subprocess.CompletedProcess[str]:
    with _started(*args, tmp=tmp) as process:
        try:
            stdout, stderr = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_a_conversion_through_tensorflow_ends_with_its_result_and_no_leftovers(trained_k2, tmp_path):
    out = tmp_path / "model.tflite"
    done = _convkit("convert", trained_k2 / "my_model.h5", "--to", "tflite", "-o", out, tmp=tmp_path / "tmp")
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"-> {out}" in done.stdout and out.stat().st_size > 0
    assert list((tmp_path / "tmp").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, "tmp"])  # no scratch beside the output


def test_a_mismatch_found_with_tensorflow_loaded_still_exits_1(trained_k2, nudged_k2, tmp_path):  # noqa: F811
    done = _convkit("check", trained_k2 / "my_model.h5", nudged_k2, "--mnist", 50, tmp=tmp_path / "tmp")
    assert done.returncode == 1, done.stderr[-2000:]
    assert str(nudged_k2) in done.stdout and "FAILED: 1 of 1 copy differ" in done.stdout
    assert list((tmp_path / "tmp").iterdir()) == []


def _once_staging(process: subprocess.Popen[str], tmp: Path, staged: str) -> Path:
    """The process's own temporary folder, once ``staged`` (a pattern inside it) has appeared."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        found = list(tmp.glob(f"convkit-run-*/{staged}"))
        if found:
            return tmp / found[0].relative_to(tmp).parts[0]
        time.sleep(0.02)
    raise AssertionError(f"nothing staged before the process ended: {process.communicate()[1][-2000:]}")


def test_sigterm_mid_conversion_unwinds_like_ctrl_c_and_leaves_nothing(trained_k2, tmp_path):
    out = tmp_path / "model_tfjs"
    process = _started("convert", trained_k2 / "my_model.h5", "--to", "tfjs", "--tfjs-kind", "graph", "-o", out,
                       tmp=tmp_path / "tmp")
    _once_staging(process, tmp_path / "tmp", "convkit-export-*/saved_model/saved_model.pb")  # TensorFlow at work
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert stderr.strip().splitlines()[-1] == "Error: terminated by SIGTERM" and "Traceback" not in stderr
    assert list((tmp_path / "tmp").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # no output, no staged half of one


def test_what_a_killed_conversion_left_goes_with_the_next_command(trained_k2, tmp_path):
    tmp = tmp_path / "tmp"
    out = tmp_path / "model_tfjs"
    process = _started("convert", trained_k2 / "my_model.h5", "--to", "tfjs", "--tfjs-kind", "graph", "-o", out,
                       tmp=tmp)
    run = _once_staging(process, tmp, "convkit-export-*")  # the folder the SavedModel is to be staged in
    process.kill()
    process.communicate(timeout=60)
    assert run.is_dir() and [p.name for p in tmp.iterdir()] == [run.name]  # SIGKILL cleans nothing itself
    assert _convkit("inspect", trained_k2 / "my_model.h5", tmp=tmp).returncode == 0
    assert list(tmp.iterdir()) == []
