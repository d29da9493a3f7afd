"""The built wheel, installed into a fresh virtualenv outside the source tree, is a working convkit.

The wheel is built from the tracked sources and installed with ``--no-deps``
into a venv made without ``--system-site-packages``; a ``.pth`` file lends it
the installed dependencies (TensorFlow and the rest: reinstalling 2 GB of
wheels would take minutes and prove nothing about convkit). Everything runs
from a folder outside the repository, with an empty HOME, so convkit can only
use what the wheel carries: the bundled MNIST digits, the TF.js runner script,
and the TF.js runtime from the documented ``CONVKIT_NODE_ROOT``.
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
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PATH=f"{environment / 'bin'}:{env['PATH']}")
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


def test_train_then_check_a_tfjs_copy(installed: tuple[Path, dict[str, str], Path]) -> None:
    environment, env, run_dir = installed
    convkit = str(environment / "bin" / "convkit")
    done = _run([convkit, "train", "--out", "out", "--epochs-per-stage", "1,5,1", "--json"], cwd=run_dir, env=env)
    report = json.loads(done.stdout)
    assert str(environment) in report["data_source"], report["data_source"]
    # No TF.js runtime above the installed package, the working folder or in the user folder: the
    # conversion cannot show that its output runs, so it stops with a clear message and writes nothing.
    missing = subprocess.run([convkit, "convert", "out/my_model.h5", "--to", "tfjs", "-o", "out/my_model_tfjs"],
                             cwd=run_dir, env=env, capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2
    assert "convkit setup-tfjs" in missing.stderr and "Traceback" not in missing.stderr
    assert not (run_dir / "out" / "my_model_tfjs").exists()

    env = dict(env, CONVKIT_NODE_ROOT=str(ROOT))
    _run([convkit, "convert", "out/my_model.h5", "--to", "tfjs", "-o", "out/my_model_tfjs"], cwd=run_dir, env=env)
    done = _run([convkit, "check", "out/my_model.h5", "out/my_model_tfjs", "--json"], cwd=run_dir, env=env)
    check = json.loads(done.stdout)
    assert check["status"] == "PASS" and check["pairs"][0]["model"]["runtime"].startswith("TF.js 4.22.0")


def test_setup_tfjs_brings_the_graph_layout_engine(installed: tuple[Path, dict[str, str], Path]) -> None:
    """A wheel user draws graphs after `convkit setup-tfjs` (npm install from the registry), with the layout
    script and the page template the wheel carries."""
    environment, env, run_dir = installed
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
