"""Inspecting never imports TensorFlow, Keras or tensorflowjs.

A child process gets packages named ``tensorflow``, ``keras``, ``tf_keras`` and
``tensorflowjs`` placed first on its path, each raising on import, and inspects
every file of both tutorial runs and the TF.js conversions through the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BLOCKED = ("tensorflow", "keras", "tf_keras", "tensorflowjs")

CHILD = r"""
import json, sys
from typer.testing import CliRunner
from convkit.cli.main import app

runner = CliRunner()
results = {}
for path in sys.argv[1:]:
    result = runner.invoke(app, ["inspect", path, "--json", "--weights", "--verify"])
    results[path] = {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
    human = runner.invoke(app, ["inspect", path, "--tree"])
    results[path]["human_exit_code"] = human.exit_code
results["_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print(json.dumps(results))
""" % (BLOCKED,)


def _paths(trained: Path) -> list[Path]:
    return [
        trained / "training_1",
        trained / "training_1" / "cp.ckpt",
        trained / "training_2",
        Path(f"{trained / 'training_2' / 'cp-0000.ckpt'}.index"),
        trained / "checkpoints" / "my_checkpoint",
        trained / "saved_model" / "my_model",
        trained / "my_model.h5",
        trained / "my_model.keras",
    ]


def test_inspect_runs_without_tensorflow(
    trained_k3: Path, trained_k2: Path, tfjs_models: dict[str, Path], k3_weights_h5: Path, tmp_path: Path
) -> None:
    for name in BLOCKED:
        package = tmp_path / "blocked" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f"raise ImportError('{name} must not be imported by convkit inspect')\n")
    paths = [*_paths(trained_k3), *_paths(trained_k2), *tfjs_models.values(), k3_weights_h5]
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "blocked"))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, paths)], capture_output=True, text=True, env=env, timeout=300
    )
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout)
    assert results.pop("_loaded") == []
    expected = {"ckpt", "savedmodel", "h5", "keras", "tfjs"}
    seen = set()
    for path, result in results.items():
        assert result["exit_code"] == 0, f"{path}: {result['stderr']}"
        assert result["human_exit_code"] == 0, path
        document = json.loads(result["stdout"])
        seen.add(document["format"])
    assert seen == expected


def test_blocking_works(tmp_path: Path) -> None:
    # The guard itself must bite: importing the blocked package fails in the child.
    package = tmp_path / "blocked" / "tensorflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('blocked')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "blocked"))
    child = subprocess.run([sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, env=env)
    assert child.returncode != 0 and "blocked" in child.stderr
