"""The package's layering: check and convert apart, files opened as containers only under formats/."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "convkit"


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.extend((f"{node.module}.{alias.name}", node.lineno) for alias in node.names)
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def test_check_and_convert_do_not_import_each_other() -> None:
    crossings = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for here, other in (("check", "convkit.convert"), ("convert", "convkit.check"))
        for path in _modules(here)
        for name, line in _imports(path)
        if name == other or name.startswith(other + ".")
    ]
    assert not crossings, crossings


def test_model_containers_are_opened_only_under_formats() -> None:
    # The .h5 writer (convert/streaming.py) writes HDF5; reading model files is formats/' alone.
    allowed = {"convert/streaming.py", "train/data.py", "check/inputs.py"}
    found = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "formats" and str(path.relative_to(PACKAGE)) not in allowed
        for name, line in _imports(path)
        if name.split(".")[0] in ("zipfile", "h5py")
    ]
    assert not found, found


def test_no_import_error_fallbacks_around_convkit_modules() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Try):
                continue
            catches_import_error = any(
                isinstance(handler.type, ast.Name) and handler.type.id in ("ImportError", "ModuleNotFoundError")
                for handler in node.handlers
            )
            imports_own = any(
                isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith("convkit")
                for statement in node.body for inner in ast.walk(statement)
            )
            if catches_import_error and imports_own:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert found == [], found


def test_readers_and_shared_modules_import_neither_engine() -> None:
    # formats/ and the modules below both engines (live, samples, _tf, ...) are what check and convert
    # stand on; an import of either engine from there would be a cycle between packages.
    below = [*_modules("formats"), *(path for path in PACKAGE.glob("*.py") if path.stem not in ("__init__", "__main__", "roundtrip", "verify"))]
    found = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in below
        for name, line in _imports(path)
        if name.startswith(("convkit.convert", "convkit.check", "convkit.cli"))
    ]
    assert not found, found
