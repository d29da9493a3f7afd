"""Files the test suite builds once and keeps between runs: trained tutorial folders, TF.js conversions.

A build is keyed on everything that decides its bytes: its own arguments, the
installed versions of the libraries that write the files, the source of the
convkit modules the build imports (followed through every ``import``) or of
the test helper it runs, and the files it reads. A change to any of them is a
new key and a new build; an unchanged key is a cache hit.

Where: ``$CONVKIT_TEST_CACHE``, else ``$XDG_CACHE_HOME/convkit-tests``, else
``~/.cache/convkit-tests``. ``CONVKIT_TEST_CACHE=off`` builds every time, in
each test process, into the session's temporary folder.

Builds happen under a file lock and land by an atomic rename, so parallel
pytest-xdist workers and parallel runs build each key once. Tests get a copy
in the session's temporary folder, never the cached files themselves.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "convkit"
# The libraries that write the cached files (and so decide their bytes).
WRITERS = ("tensorflow", "keras", "tf_keras", "numpy", "h5py", "protobuf", "tensorflowjs")
# When a new build lands, builds of the same name unused for this long are removed.
UNUSED_DAYS = 3
COMPLETE = ".complete.json"


def cache_root() -> Path | None:
    """The cache folder, or ``None`` when caching is off."""
    chosen = os.environ.get("CONVKIT_TEST_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "0", "off", "no") else Path(chosen).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "convkit-tests"


def versions() -> dict[str, str]:
    found = {"python": sys.version.split()[0]}
    for name in WRITERS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def _module_files(name: str) -> list[Path]:
    """The file of ``convkit.x.y`` and of each package above it (``__init__`` files run on import)."""
    parts = name.split(".")
    files = []
    for depth in range(1, len(parts) + 1):
        base = ROOT.joinpath(*parts[:depth])
        for candidate in (base / "__init__.py", base.with_suffix(".py")):
            if candidate.is_file():
                files.append(candidate)
    return files


def _imports(path: Path, module: str) -> set[str]:
    """Every convkit module ``path`` imports, at the top or inside functions."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # ``from pkg import submodule``
    return {name for name in found if name == "convkit" or name.startswith("convkit.")}


def source_files(*modules: str) -> list[Path]:
    """The convkit source files that importing ``modules`` can run, followed through every import."""
    seen: set[Path] = set()
    pending = list(modules)
    done: set[str] = set()
    while pending:
        module = pending.pop()
        if module in done:
            continue
        done.add(module)
        for file in _module_files(module):
            if file not in seen:
                seen.add(file)
                name = ".".join(file.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                pending.extend(_imports(file, name))
    return sorted(seen)


def digest(*paths: Path) -> str:
    """SHA-256 of the files' contents (folders: every file under them, by relative path)."""
    hasher = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            hasher.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
            hasher.update(file.read_bytes())
    return hasher.hexdigest()


def key_of(name: str, **parts: Any) -> dict[str, Any]:
    """A build's key: its name, the library versions and whatever the caller adds."""
    return {"name": name, "versions": versions(), **parts}


@contextlib.contextmanager
def _locked(path: Path, busy: Callable[[], None] | None = None) -> Iterator[None]:
    """Holds an exclusive lock on ``path``; calls ``busy()`` first if another process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if busy is not None:
                busy()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prune(root: Path, name: str, keep: Path) -> None:
    """Removes builds of ``name`` (other keys: other versions or sources) unused for ``UNUSED_DAYS``."""
    cutoff = time.time() - UNUSED_DAYS * 86400
    for old in root.glob(f"{name}-*"):
        if old.is_dir() and old != keep and old.stat().st_mtime < cutoff:
            shutil.rmtree(old, ignore_errors=True)


def _entry(root: Path, key: dict[str, Any]) -> Path:
    text = json.dumps(key, sort_keys=True, default=str)
    return root / f"{key['name']}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def ensure(key: dict[str, Any], build: Callable[[Path], None], busy: Callable[[], None] | None = None) -> Path | None:
    """The cache folder holding what ``build(folder)`` makes for ``key``, built now on a miss.

    ``busy()`` runs while another process builds the same key (a worker can
    build something else it needs meanwhile). ``None`` when caching is off.
    """
    root = cache_root()
    if root is None:
        return None
    entry = _entry(root, key)
    if (entry / COMPLETE).is_file():
        os.utime(entry)
        return entry
    with _locked(entry.with_suffix(".lock"), busy):
        if not (entry / COMPLETE).is_file():
            staging = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(entry, ignore_errors=True)
            staging.mkdir(parents=True)
            started = time.perf_counter()
            try:
                build(staging)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            record = {"key": key, "seconds": round(time.perf_counter() - started, 2)}
            (staging / COMPLETE).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
            os.rename(staging, entry)
            _prune(root, key["name"], entry)
    return entry


def built(key: dict[str, Any], build: Callable[[Path], None], copy_to: Path,
          busy: Callable[[], None] | None = None) -> Path:
    """What ``build(folder)`` makes for ``key``, copied to ``copy_to``; built only on a cache miss.

    Returns ``copy_to``. With caching off, ``build`` writes straight into ``copy_to``.
    """
    entry = ensure(key, build, busy)
    if entry is None:
        build(copy_to)
        return copy_to
    shutil.copytree(entry, copy_to, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(COMPLETE))
    return copy_to
