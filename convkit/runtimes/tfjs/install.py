"""Where the npm packages convkit runs under Node.js live: @tensorflow/tfjs and the graph layout engine.

``convkit check`` runs TF.js models in real @tensorflow/tfjs under Node.js;
``convkit inspect --graph`` lays graphs out with Graphviz compiled to
WebAssembly (@hpcc-js/wasm-graphviz). The npm folder (one whose
``node_modules`` holds the package) is looked for, in order, at:

1. ``$CONVKIT_NODE_ROOT``;
2. the folders above the installed package and above the working directory
   (a source checkout after ``npm ci``);
3. the user folder ``$XDG_CACHE_HOME/convkit/node`` (default
   ``~/.cache/convkit/node``), which ``convkit setup-tfjs`` fills with
   ``npm install`` of both packages at the versions package-lock.json pins.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from convkit.errors import UsageError

NODE_ROOT_ENV = "CONVKIT_NODE_ROOT"
TFJS_PACKAGE = "@tensorflow/tfjs"
# The version package-lock.json pins; tests/cli/test_setup.py holds the two equal.
TFJS_VERSION = "4.22.0"
LAYOUT_PACKAGE = "@hpcc-js/wasm-graphviz"
LAYOUT_VERSION = "1.29.2"


def user_node_root() -> Path:
    """The folder ``convkit setup-tfjs`` installs into."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "convkit" / "node"


def candidate_roots() -> list[Path]:
    """Every folder searched for ``node_modules/@tensorflow/tfjs``, in order."""
    env_root = os.environ.get(NODE_ROOT_ENV)
    candidates = [Path(env_root)] if env_root else []
    package = Path(__file__).resolve().parent
    candidates.extend(package.parents)
    working = Path.cwd().resolve()
    candidates.extend([working, *working.parents])
    candidates.append(user_node_root())
    return list(dict.fromkeys(candidates))


def has_tfjs(root: Path) -> bool:
    return has_package(root, TFJS_PACKAGE)


def has_package(root: Path, package: str) -> bool:
    return (root / "node_modules" / package / "package.json").is_file()


def find_node_root(package: str = TFJS_PACKAGE) -> Path:
    """The folder whose ``node_modules`` holds ``package`` (default @tensorflow/tfjs).

    Raises:
        UsageError: none is found; the message says how to install it.
    """
    for folder in candidate_roots():
        if has_package(folder, package):
            return folder
    raise UsageError(
        f"cannot find {package} (in ${NODE_ROOT_ENV}, above convkit or the working directory, "
        f"or in {user_node_root()}); run 'convkit setup-tfjs' to install it there, or 'npm ci' in a convkit checkout"
    )


def tfjs_version(root: Path | None = None) -> str | None:
    """The installed @tensorflow/tfjs version, or ``None`` when there is none."""
    try:
        root = root or find_node_root()
        package = json.loads((root / "node_modules" / TFJS_PACKAGE / "package.json").read_text())
        return str(package.get("version", "?"))
    except (UsageError, OSError, ValueError):
        return None


def node_version() -> str | None:
    """``node --version`` without the ``v``, or ``None`` when Node.js is not on PATH."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().lstrip("v") or None


def install_tfjs(root: Path | None = None) -> Path:
    """Runs ``npm install @tensorflow/tfjs@TFJS_VERSION @hpcc-js/wasm-graphviz@LAYOUT_VERSION`` in ``root``
    (default: the user folder).

    Raises:
        UsageError: Node.js or npm is missing, or npm fails (its last line is quoted).
    """
    root = Path(root) if root else user_node_root()
    if shutil.which("node") is None:
        raise UsageError("TF.js models run under Node.js 20, and no 'node' is on PATH; install Node.js 20 first")
    npm = shutil.which("npm")
    if npm is None:
        raise UsageError("'npm' is not on PATH; install npm (it comes with Node.js) first")
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "package.json"
    if not manifest.exists():
        manifest.write_text(json.dumps({"name": "convkit-tfjs-runtime", "private": True,
                                        "description": "The TF.js runtime convkit check runs TF.js models in, "
                                                       "and the graph layout engine of inspect --graph."},
                                       indent=2) + "\n")
    packages = [f"{TFJS_PACKAGE}@{TFJS_VERSION}", f"{LAYOUT_PACKAGE}@{LAYOUT_VERSION}"]
    command = [npm, "install", "--no-audit", "--no-fund", "--save-exact", *packages]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if done.returncode != 0 or not has_tfjs(root) or not has_package(root, LAYOUT_PACKAGE):
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        raise UsageError(f"{root}: npm install {' '.join(packages)} failed ({lines[-1] if lines else 'no output'})")
    return root
