"""Where convkit's Node.js side lives: Node.js and an npm folder holding the pinned npm packages.

``convkit check`` runs TF.js models in real @tensorflow/tfjs under Node.js, on the
WASM backend by default (@tensorflow/tfjs-backend-wasm); ``convkit inspect --graph``
lays graphs out with Graphviz compiled to WebAssembly (@hpcc-js/wasm-graphviz). The
npm folder (one whose ``node_modules`` holds every package convkit's Node side needs)
is looked for, in order, at:

1. ``$CONVKIT_NODE_ROOT``;
2. the folders above the installed package and above the working directory
   (a source checkout after ``npm ci``);
3. the user folder ``$XDG_CACHE_HOME/convkit/node`` (default
   ``~/.cache/convkit/node``), which ``convkit setup-tfjs`` fills.

The packages and their exact versions are the project's ``package.json`` and
``package-lock.json``, which the package carries (``npm/``, kept equal to the
checkout's by a test): ``setup-tfjs`` copies both into the folder and runs
``npm ci``, so a wheel install gets the same tree as a checkout.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

from convkit.errors import RuntimeMissingError, UsageError

NODE_ROOT_ENV = "CONVKIT_NODE_ROOT"
TFJS_PACKAGE = "@tensorflow/tfjs"
# The npm project convkit's Node side runs in: the checkout's package.json and package-lock.json.
NPM_PROJECT = Path(__file__).resolve().parent / "npm"
SETUP_COMMAND = "convkit setup-tfjs"


@functools.lru_cache(maxsize=1)
def required_packages() -> tuple[str, ...]:
    """The npm packages convkit's Node side needs (the ``dependencies`` of the packaged ``package.json``)."""
    manifest = json.loads((NPM_PROJECT / "package.json").read_text())
    return tuple(manifest.get("dependencies", {}))


@functools.lru_cache(maxsize=1)
def pinned_versions() -> dict[str, str]:
    """Each required package's version, as the packaged ``package-lock.json`` pins it."""
    lock = json.loads((NPM_PROJECT / "package-lock.json").read_text())
    packages = lock.get("packages", {})
    return {name: str(packages.get(f"node_modules/{name}", {}).get("version", "?")) for name in required_packages()}


# The versions the lock pins (what `convkit --version` and the test suite compare with).
TFJS_VERSION = pinned_versions()[TFJS_PACKAGE]
# The graph layout engine of inspect --graph.
LAYOUT_PACKAGE = "@hpcc-js/wasm-graphviz"
LAYOUT_VERSION = pinned_versions()[LAYOUT_PACKAGE]


def user_node_root() -> Path:
    """The folder ``convkit setup-tfjs`` installs into."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(cache) / "convkit" / "node"


def candidate_roots() -> list[Path]:
    """Every folder searched for the npm packages, in order."""
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


def tfjs_packages() -> tuple[str, ...]:
    """The required packages the TF.js runtime is made of (all but the graph layout engine)."""
    return tuple(package for package in required_packages() if package != LAYOUT_PACKAGE)


def missing_packages(root: Path, packages: tuple[str, ...] | None = None) -> list[str]:
    """The ``packages`` (default: every required one) ``root``'s ``node_modules`` lacks."""
    return [package for package in (packages or required_packages()) if not has_package(root, package)]


def find_node_root(package: str | None = None) -> Path:
    """The first folder whose ``node_modules`` holds the TF.js runtime's packages (only ``package``, when given:
    the graph layout engine).

    Raises:
        RuntimeMissingError: none does; the message names what is missing and the command that installs it.
    """
    wanted = (package,) if package else tfjs_packages()
    what = package if package else "the TF.js runtime"
    partial: tuple[Path, list[str]] | None = None
    for folder in candidate_roots():
        missing = missing_packages(folder, wanted)
        if not missing:
            return folder
        if partial is None and len(missing) < len(wanted):
            partial = (folder, missing)
    if partial is not None:
        folder, missing = partial
        raise RuntimeMissingError(
            f"{what} in {folder} lacks {' and '.join(missing)}; run '{SETUP_COMMAND}' to install "
            f"the pinned packages in {user_node_root()} (or 'npm ci' in a convkit checkout)")
    raise RuntimeMissingError(
        f"{what} is not installed: {' and '.join(wanted)} {'is' if len(wanted) == 1 else 'are'} in neither "
        f"${NODE_ROOT_ENV}, a folder above convkit or the working directory, nor {user_node_root()}; run "
        f"'{SETUP_COMMAND}' to install {'it' if len(wanted) == 1 else 'them'} (or 'npm ci' in a convkit checkout)")


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
    """Installs the pinned npm packages in ``root`` (default: the user folder): the packaged ``package.json`` and
    ``package-lock.json`` copied there, then ``npm ci``.

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
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(NPM_PROJECT / name, root / name)
    command = [npm, "ci", "--no-audit", "--no-fund", "--omit=dev"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    missing = missing_packages(root)
    if done.returncode != 0 or missing:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        packages = ", ".join(f"{name}@{version}" for name, version in pinned_versions().items())
        raise UsageError(f"{root}: npm ci of {packages} failed ({lines[-1] if lines else 'no output'})")
    return root
