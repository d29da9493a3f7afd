"""The package's layering, read from its imports: one way down, no circles, format names in their homes.

containers/ <- data/ <- policy/ <- keras_model/ <- formats/ <- runtimes/ <- graph/ <- convert/, check/ <- the API, cli/
"""

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


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def test_check_and_convert_do_not_import_each_other() -> None:
    crossings = [
        f"{_relative(path)}:{line} imports {name}"
        for here, other in (("check", "convkit.convert"), ("convert", "convkit.check"))
        for path in _modules(here)
        for name, line in _imports(path)
        if name == other or name.startswith(other + ".")
    ]
    assert not crossings, crossings


def test_model_containers_are_opened_only_under_containers() -> None:
    # Writing HDF5 is the .h5 writer's; reading model files as containers is containers/' alone.
    allowed = {"convert/writers/h5.py", "train/data.py"}
    found = [
        f"{_relative(path)}:{line} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "containers" and _relative(path) not in allowed
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
                found.append(f"{_relative(path)}:{node.lineno}")
    assert found == [], found


# What stands below both engines imports neither: the containers, the code policy, the in-memory Keras model,
# the data loader, the TensorFlow graph model, the formats, the runtimes, the graph inspect draws and measures,
# and the top-level helpers (everything but the API and what joins the engines).
BELOW_THE_ENGINES = ("containers", "data", "policy", "keras_model", "graph_model", "formats", "runtimes", "graph")
ABOVE_THE_ENGINES = ("__init__", "__main__", "convert_and_check")


def test_what_stands_below_the_engines_imports_neither() -> None:
    below = [*(path for folder in BELOW_THE_ENGINES for path in _modules(folder)),
             *(path for path in PACKAGE.glob("*.py") if path.stem not in ABOVE_THE_ENGINES)]
    found = [
        f"{_relative(path)}:{line} imports {name}"
        for path in below
        for name, line in _imports(path)
        if name.startswith(("convkit.convert", "convkit.check", "convkit.cli"))
    ]
    assert not found, found


def test_imports_run_one_way_down() -> None:
    # Each layer imports only what stands below it (and itself).
    layers = list(BELOW_THE_ENGINES)
    found = []
    for index, layer in enumerate(layers):
        above = tuple(f"convkit.{name}" for name in layers[index + 1:])
        found.extend(
            f"{_relative(path)}:{line} imports {name}"
            for path in _modules(layer)
            for name, line in _imports(path)
            if any(name == package or name.startswith(f"{package}.") for package in above)
        )
    assert not found, found


def test_no_module_under_convert_loads_a_runtime_itself() -> None:
    # The smoke run of every output is the runtimes' (convkit.runtimes.smoke).
    found = [
        f"{_relative(path)}:{line} imports {name}"
        for path in _modules("convert")
        for name, line in _imports(path)
        if name.split(".")[0] in ("onnxruntime", "ai_edge_litert")
    ]
    assert not found, found


# ---------------------------------------------------------------- no import cycle


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _runtime_imports(path: Path, known: set[str]) -> set[str]:
    """The convkit modules ``path`` imports when it runs, at the top or inside functions (``if TYPE_CHECKING:``
    blocks excluded): ``from package import name`` counts as the module ``package.name`` where that is one."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_block(node):
            for child in getattr(node, "orelse", []):
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    """convkit's modules and the convkit modules each imports."""
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    known = set(paths)
    return {name: _runtime_imports(path, known) for name, path in paths.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, as the modules on it (strongly connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def test_no_import_cycle_among_convkit_modules() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "import circles: " + "; ".join(" <-> ".join(cycle) for cycle in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


# ---------------------------------------------------------------- format names in their homes


def _format_names() -> set[str]:
    import convkit  # noqa: F401  (registers the built-in formats)
    from convkit.registry import format_names

    return set(format_names())


def _home(path: Path) -> bool:
    """A format's own module and its writer may name it: ``formats/`` and ``convert/writers/``."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0] == "formats" or parts[:2] == ("convert", "writers")


def format_name_comparisons(source: str, label: str, names: set[str]) -> list[str]:
    """Comparisons (``==``, ``!=``, ``in``, ``not in``) in ``source`` with a registered format name as a literal."""
    found = []
    for node in ast.walk(ast.parse(source, label)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        literals: list[str] = []
        for operand in operands:
            if isinstance(operand, ast.Constant) and isinstance(operand.value, str):
                literals.append(operand.value)
            elif isinstance(operand, (ast.Tuple, ast.List, ast.Set)):
                literals.extend(item.value for item in operand.elts
                                if isinstance(item, ast.Constant) and isinstance(item.value, str))
        named = sorted(set(literals) & names)
        if named and any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
            found.append(f"{label}:{node.lineno} compares with {', '.join(map(repr, named))}")
    return found


def test_no_format_name_is_compared_outside_its_format_and_its_writer() -> None:
    names = _format_names()
    found = [finding for path in sorted(PACKAGE.rglob("*.py")) if not _home(path)
             for finding in format_name_comparisons(path.read_text(), _relative(path), names)]
    assert not found, found


def test_the_format_name_rule_catches_a_comparison() -> None:
    source = 'def f(target, fmt):\n    return target == "tflite" or fmt.name in ("h5", "x") or target != "x"\n'
    assert format_name_comparisons(source, "sample.py", {"tflite", "h5"}) == [
        "sample.py:2 compares with 'tflite'",
        "sample.py:2 compares with 'h5'",
    ]
