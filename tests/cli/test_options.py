"""What `--help`, `--version` and near-miss options show; the stage display on stderr."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli import convert as convert_cli
from convkit.cli._progress import StageDisplay
from convkit.cli.main import app
from convkit.registry import format_names
from convkit.runtimes.tfjs import install

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _flat(text: str) -> str:
    """Help and error text without rich's box drawing, one line."""
    return " ".join(line.strip(" │╭╮╰╯─") for line in text.splitlines())


def test_version_lists_every_runtime_without_importing_tensorflow() -> None:
    code = ("import sys; from convkit.cli.main import app\n"
            "try:\n    app(['--version'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, done.stderr
    versions = dict(line.split(None, 1) for line in done.stdout.strip().splitlines())
    assert list(versions) == ["convkit", "TensorFlow", "Keras", "tf_keras", "tensorflowjs", "@tensorflow/tfjs", "Node.js"]
    assert versions["TensorFlow"].startswith("2.19") and versions["@tensorflow/tfjs"] == install.TFJS_VERSION
    assert versions["Node.js"][0].isdigit()


def test_help_shows_choices_not_types() -> None:
    text = _flat(runner.invoke(app, ["convert", "--help"], env={"COLUMNS": "200"}).stdout)
    assert "One of: " + ", ".join(format_names()) in text
    assert "[layers|graph]" in text and "[float16|uint8|uint16|dynamic|int8]" in text
    for command in ("train", "convert", "inspect", "check"):
        help_text = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"}).stdout
        assert "<bool>" not in help_text and "<list[str]>" not in help_text and "<str>" not in help_text, command


def test_the_cli_choices_are_the_records() -> None:
    from convkit.registry import formats

    assert set(convert_cli.model_kinds()) == {kind for fmt in formats() for kind in fmt.write_options.kinds}
    assert set(convert_cli.quantizations()) == {q for fmt in formats() for q in fmt.write_options.quantizations}
    assert set(convert_cli.model_kinds()) == {"layers", "graph"}
    assert set(convert_cli.quantizations()) == {"float16", "uint8", "uint16", "dynamic", "int8"}
    assert convert_cli.routes() == ["native", "tf2onnx"]


def test_shell_completion_is_on() -> None:
    text = runner.invoke(app, ["--help"]).stdout
    assert "--install-completion" in text and "--show-completion" in text


@pytest.mark.parametrize(("args", "expected"), [
    (["convert", "x.h5", "--to", "keras", "--tfjs-kind", "grph"], "did you mean 'graph'?"),
    (["convert", "x.h5", "--to", "tfjs", "--quantize", "unit8"], "did you mean 'uint8'?"),
    (["convert", "x.h5", "--too", "tfjs"], "No such option: --too (Possible options: --std, --tag, --to)"),
    (["check", "a", "b", "--all-format"], "(Possible options: --all-formats)"),
])
def test_near_misses_get_a_suggestion(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert expected in _flat(result.stderr)


def test_the_pinned_tfjs_is_the_lock_files() -> None:
    """The package carries the checkout's package.json and package-lock.json, which setup-tfjs installs from."""
    for name in ("package.json", "package-lock.json"):
        assert (install.NPM_PROJECT / name).read_bytes() == (ROOT / name).read_bytes(), name
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/@tensorflow/tfjs"]["version"] == install.TFJS_VERSION
    assert set(install.required_packages()) >= {"@tensorflow/tfjs", "@tensorflow/tfjs-backend-wasm", install.LAYOUT_PACKAGE}
    assert lock["packages"][f"node_modules/{install.LAYOUT_PACKAGE}"]["version"] == install.LAYOUT_VERSION


@pytest.mark.parametrize("present", [(), ("@tensorflow/tfjs",)])
def test_a_missing_tfjs_runtime_is_named_with_the_command_that_installs_it(
        present: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not "the written model does not load": what is missing, and `convkit setup-tfjs`; nothing written."""
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    folder = tmp_path / "node"
    for package in present:
        (folder / "node_modules" / package).mkdir(parents=True)
        (folder / "node_modules" / package / "package.json").write_text('{"version": "4.22.0"}')
    monkeypatch.setattr(install, "candidate_roots", lambda: [folder])
    result = runner.invoke(app, ["convert", str(tmp_path / "m.keras"), "--to", "tfjs", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.stderr
    text = _flat(result.stderr)
    assert "'convkit setup-tfjs'" in text and "@tensorflow/tfjs-backend-wasm" in text, text
    assert "does not load or run" not in text and "graph" not in text
    assert not (tmp_path / "out").exists()


def test_node_root_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user = tmp_path / "cache" / "convkit" / "node"
    (user / "node_modules" / "@tensorflow" / "tfjs").mkdir(parents=True)
    (user / "node_modules" / "@tensorflow" / "tfjs" / "package.json").write_text('{"version": "4.22.0"}')
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(install.NODE_ROOT_ENV, raising=False)
    roots = install.candidate_roots()
    assert roots[-1] == user and ROOT in roots  # the checkout (above the package) before the user folder
    monkeypatch.setenv(install.NODE_ROOT_ENV, str(tmp_path / "elsewhere"))
    assert install.candidate_roots()[0] == tmp_path / "elsewhere"


def test_setup_tfjs_without_npm_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["setup-tfjs", "--root", str(tmp_path / "node")], env={"PATH": str(tmp_path)})
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "Node.js" in result.stderr
    assert not (tmp_path / "node").exists()


def test_stage_display_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    with StageDisplay() as show:
        show("loading my_model.h5")
        show("writing weights", 10, 100)
        show("writing weights", 100, 100)
        show("checking")
    assert stderr.getvalue().splitlines() == ["loading my_model.h5", "writing weights", "checking"]
    quiet = io.StringIO()
    monkeypatch.setattr(sys, "stderr", quiet)
    with StageDisplay(quiet=True) as show:
        show("loading my_model.h5")
    assert quiet.getvalue() == ""
