"""The built wheel, installed into a fresh virtualenv outside the source tree, is a working convkit.

The wheel is built from the tracked sources and installed with ``--no-deps``
into a venv made without ``--system-site-packages``; a ``.pth`` file lends it
the installed dependencies (TensorFlow and the rest: reinstalling 2 GB of
wheels would take minutes and prove nothing about convkit). Everything runs
from a folder outside the repository, with an empty HOME, so convkit can only
use what the wheel carries: the bundled MNIST digits, the TF.js runner script,
its pinned npm packages, and the TF.js runtime which ``convkit setup-tfjs`` installs from the npm registry into the empty HOME.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.node]


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path]:
    work = tmp_path_factory.mktemp("wheel")
    assert ROOT not in work.resolve().parents, "the wheel user's folders must lie outside the checkout"
    source = work / "source"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "CONVKIT_NODE_ROOT")}
    dist = work / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", str(dist), str(source)], cwd=work, env=env)
    (wheel,) = dist.glob("convkit-*.whl")
    shutil.rmtree(source)  # no checkout anywhere near the install
    environment = work / "venv"
    venv.create(environment, with_pip=False, system_site_packages=False)
    python = environment / "bin" / "python"
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    (site_packages / "convkit-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
          str(wheel)], cwd=work, env=env)
    home = work / "home"
    home.mkdir()
    run_dir = work / "elsewhere"
    run_dir.mkdir()
    for key in [key for key in env if key.startswith(("XDG_", "npm_config_", "NPM_CONFIG_"))]:
        del env[key]
    env.update(HOME=str(home), PATH=f"{environment / 'bin'}:{env['PATH']}")
    return environment, env, run_dir


def test_the_wheel_carries_the_data_and_not_the_tests(installed: tuple[Path, dict[str, str], Path]) -> None:
    environment, env, run_dir = installed
    done = _run([str(environment / "bin" / "python"), "-c",
                 "import convkit, convkit.train.data as d; print(convkit.__file__); print(d.BUNDLED_MNIST)"],
                cwd=run_dir, env=env)
    package_file, data_file = done.stdout.split()
    assert str(environment) in package_file and str(environment) in data_file and Path(data_file).is_file()
    assert (Path(data_file).parent / "README.md").is_file()
    assert not any((Path(package_file).parent.parent / "tests").glob("*.py"))


def test_a_wheel_user_sets_up_tfjs_then_converts_to_every_format(installed: tuple[Path, dict[str, str], Path]) -> None:
    """As a user of the wheel: no checkout above it, no CONVKIT_NODE_ROOT, an empty HOME; setup-tfjs, then every target."""
    environment, env, run_dir = installed
    assert "CONVKIT_NODE_ROOT" not in env and not (run_dir / "node_modules").exists()
    convkit = str(environment / "bin" / "convkit")
    done = _run([convkit, "train", "--out", "out", "--epochs-per-stage", "1,5,1", "--json"], cwd=run_dir, env=env)
    report = json.loads(done.stdout)
    assert str(environment) in report["data_source"], report["data_source"]
    # Before setup-tfjs: what is missing and the one command that installs it; the model is not at fault.
    missing = subprocess.run([convkit, "convert", "out/my_model.h5", "--to", "tfjs", "-o", "out/my_model_tfjs"],
                             cwd=run_dir, env=env, capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2, missing.stderr
    assert "'convkit setup-tfjs'" in missing.stderr and "@tensorflow/tfjs-backend-wasm" in missing.stderr
    assert "does not load or run" not in missing.stderr and "Traceback" not in missing.stderr
    assert not (run_dir / "out" / "my_model_tfjs").exists()

    done = _run([convkit, "setup-tfjs"], cwd=run_dir, env=env)
    user_root = Path(env["HOME"]) / ".cache" / "convkit" / "node"
    for package in ("@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm"):
        installed_version = json.loads((user_root / "node_modules" / package / "package.json").read_text())["version"]
        locked = json.loads((ROOT / "package-lock.json").read_text())["packages"][f"node_modules/{package}"]["version"]
        assert installed_version == locked and f"{package} {locked}" in done.stdout

    outputs = {"tfjs": "out/my_model_tfjs", "keras": "out/copy.keras", "h5": "out/copy.h5",
               "savedmodel": "out/copy_savedmodel", "ckpt": "out/copy_ckpt/ckpt", "onnx": "out/copy.onnx",
               "tflite": "out/copy.tflite"}
    for target, out in outputs.items():
        _run([convkit, "convert", "out/my_model.h5", "--to", target, "-o", out], cwd=run_dir, env=env)
    done = _run([convkit, "check", "out/my_model.h5", *outputs.values(), "--json"], cwd=run_dir, env=env)
    check = json.loads(done.stdout)
    assert check["status"] == "PASS", check
    runtimes = {pair["model"]["format"]: pair["model"]["runtime"] for pair in check["pairs"]}
    assert runtimes["tfjs"].startswith("TF.js 4.22.0") and "wasm" in runtimes["tfjs"], runtimes


def test_setup_tfjs_brings_the_graph_layout_engine(installed: tuple[Path, dict[str, str], Path]) -> None:
    """A wheel user draws graphs after `convkit setup-tfjs` (npm ci from the registry), with the layout
    script and the page template the wheel carries."""
    environment, env, run_dir = installed
    env = dict(env, HOME=str(run_dir / "another_home"))  # a user who has not run setup-tfjs yet
    convkit = str(environment / "bin" / "convkit")
    model = ROOT / "fixtures" / "hostile" / "good" / "tiny_k2.h5"
    missing = subprocess.run([convkit, "inspect", str(model), "--graph", "tiny.html"], cwd=run_dir, env=env,
                             capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "@hpcc-js/wasm-graphviz" in missing.stderr and "convkit setup-tfjs" in missing.stderr
    node_root = run_dir / "node"
    _run([convkit, "setup-tfjs", "--root", str(node_root)], cwd=run_dir, env=env)
    env = dict(env, CONVKIT_NODE_ROOT=str(node_root))
    for picture in ("tiny.svg", "tiny.html"):
        done = _run([convkit, "inspect", str(model), "--graph", picture, "--json"], cwd=run_dir, env=env)
        assert json.loads(done.stdout)["graph"]["nodes"] > 0 and (run_dir / picture).stat().st_size > 1000
