"""`convkit inspect` as a user runs it: exit codes, JSON on stdout, one-line errors on stderr."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from tests.formats import _artifacts

runner = CliRunner()


@pytest.fixture(scope="session")
def tfjs_layers(trained_k2: Path, trained_k3: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _artifacts.tfjs_models(trained_k2, trained_k3, tmp_path_factory.mktemp("tfjs_cli"))["layers"]


def _inspect(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["inspect", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("relative", "fmt", "kind"),
    [
        ("training_1", "ckpt", "object-based"),
        ("training_2/cp-0005.ckpt", "ckpt", "object-based"),
        ("checkpoints/my_checkpoint.index", "ckpt", "object-based"),
        ("training_1/cp.ckpt.data-00000-of-00001", "ckpt", "object-based"),
        ("saved_model/my_model/saved_model.pb", "savedmodel", None),
        ("saved_model/my_model", "savedmodel", None),
        ("my_model.h5", "h5", "legacy-full-model"),
        ("my_model.keras", "keras", "keras3-archive"),
    ],
)
def test_json_names_the_format(trained: Path, relative: str, fmt: str, kind: str | None) -> None:
    code, stdout, stderr = _inspect(str(trained / relative), "--json")
    assert code == 0, stderr
    document = json.loads(stdout)
    assert document["format"] == fmt
    assert list(document)[:2] == ["schema_version", "format"]
    if kind:
        assert document["kind"] == kind


def test_tfjs_json_and_human(tfjs_layers: Path) -> None:
    code, stdout, _ = _inspect(str(tfjs_layers), "--json")
    assert code == 0 and json.loads(stdout)["kind"] == "layers-model"
    code, stdout, _ = _inspect(str(tfjs_layers / "model.json"))
    assert code == 0
    assert "bytes_check" in stdout and "dense/kernel" in stdout


def test_human_view_has_tables_and_trees(trained_k3: Path) -> None:
    code, stdout, _ = _inspect(str(trained_k3 / "training_2"))
    assert code == 0
    assert "cp-0005.ckpt" in stdout and "object_graph:" in stdout and "--tree" in stdout
    code, stdout, _ = _inspect(str(trained_k3 / "training_2"), "--tree")
    assert code == 0 and "layer_with_weights-0" in stdout and "└──" in stdout
    code, stdout, _ = _inspect(str(trained_k3 / "my_model.h5"), "--tree")
    assert code == 0 and "model_weights" in stdout and "┃ layer" in stdout


def test_weights_flag_adds_statistics(trained_k2: Path) -> None:
    code, stdout, _ = _inspect(str(trained_k2 / "my_model.keras"), "--json", "--weights")
    assert code == 0
    weights = json.loads(stdout)["weights"]
    assert all({"min", "max", "mean", "std", "nan", "inf", "zeros"} == set(w["stats"]) for w in weights)


def test_format_option(trained_k3: Path) -> None:
    code, stdout, _ = _inspect(str(trained_k3 / "my_model.keras"), "--format", "keras", "--json")
    assert code == 0 and json.loads(stdout)["format"] == "keras"
    code, _, stderr = _inspect(str(trained_k3 / "my_model.keras"), "--format", "h5")
    assert code == 2 and stderr.startswith("Error: ") and "not an HDF5 file" in stderr
    code, _, stderr = _inspect(str(trained_k3 / "my_model.keras"), "--format", "hdf5")
    message = " ".join(line.strip(" │╭╮╰╯─") for line in stderr.splitlines())
    assert code == 2 and "'hdf5' is not one of" in message and "did you mean 'h5'?" in message
    code, _, stderr = _inspect(str(trained_k3 / "my_model.keras"), "--format", "onnx")
    assert code == 2 and stderr.startswith("Error: ") and "ONNX" in stderr


def test_format_help_lists_every_registered_format() -> None:
    from convkit.registry import format_names

    result = runner.invoke(app, ["inspect", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    listed = " ".join(line.strip(" │╭╮╰╯─") for line in result.stdout.splitlines())
    assert "One of: " + ", ".join(format_names()) in listed
    assert "onnx" in format_names() and "tflite" in format_names()


def test_verify_failure_exits_non_zero(trained_k3: Path, tmp_path: Path) -> None:
    prefix = _artifacts.copy_checkpoint(trained_k3 / "checkpoints" / "my_checkpoint", tmp_path)
    shard = Path(f"{prefix}.data-00000-of-00001")
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF
    shard.write_bytes(bytes(data))
    code, stdout, _ = _inspect(str(prefix), "--json")
    assert code == 0  # without --verify nothing reads the bytes
    code, stdout, stderr = _inspect(str(prefix), "--json", "--verify")
    assert code == 2
    assert json.loads(stdout)["verify"]["ok"] is False
    assert stderr.startswith("Error: ") and "fail their CRC32C check" in stderr


def _one_error_line(code: int, stdout: str, stderr: str, *needles: str) -> None:
    assert code == 2
    assert stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0]


def test_not_a_model(trained_k3: Path) -> None:
    _one_error_line(*_inspect(str(trained_k3 / "training_curve.png")), "training_curve.png", "not a model file")


def test_missing_path(tmp_path: Path) -> None:
    _one_error_line(*_inspect(str(tmp_path / "nothing.h5")), "nothing.h5", "no such file")


def test_directory_without_models(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no model here")
    (tmp_path / "sub").mkdir()
    _one_error_line(*_inspect(str(tmp_path)), str(tmp_path), "not a model file")


def test_directory_of_models_lists_them(trained_k3: Path) -> None:
    code, stdout, stderr = _inspect(str(trained_k3))
    assert code == 0, stderr
    assert f"{trained_k3}: 6 models" in stdout
    for line in ("my_model.h5", "my_model.keras", "saved_model/my_model", "training_1", "training_2", "checkpoints"):
        assert line in stdout


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "weights.h5"
    path.write_bytes(random.Random(1).randbytes(10000))
    _one_error_line(*_inspect(str(path)), "weights.h5")


@pytest.mark.parametrize("name", ["my_model.h5", "my_model.keras", "training_1/cp.ckpt.index"])
def test_truncated_file(trained_k3: Path, tmp_path: Path, name: str) -> None:
    source = trained_k3 / name
    target = tmp_path / source.name
    target.write_bytes(source.read_bytes()[: source.stat().st_size // 3])
    if name.endswith(".index"):
        shutil.copy(Path(str(source).replace(".index", ".data-00000-of-00001")), tmp_path)
        # A truncated index loses its footer: it is named in the error, with the problem.
        code, stdout, stderr = _inspect(str(target), "--format", "ckpt")
        _one_error_line(code, stdout, stderr, "cp.ckpt")
    else:
        code, stdout, stderr = _inspect(str(target))
        _one_error_line(code, stdout, stderr, source.name)


def test_missing_checkpoint_shard(trained_k2: Path, tmp_path: Path) -> None:
    prefix = _artifacts.copy_checkpoint(trained_k2 / "training_1" / "cp.ckpt", tmp_path)
    Path(f"{prefix}.data-00000-of-00001").unlink()
    _one_error_line(*_inspect(str(prefix)), "cp.ckpt.data-00000-of-00001", "missing")


def test_missing_tfjs_shard(tfjs_layers: Path, tmp_path: Path) -> None:
    model = Path(shutil.copytree(tfjs_layers, tmp_path / "m"))
    (model / "group1-shard1of1.bin").unlink()
    _one_error_line(*_inspect(str(model)), "group1-shard1of1.bin", "missing")


def test_tfjs_path_escape(tfjs_layers: Path, tmp_path: Path) -> None:
    model = Path(shutil.copytree(tfjs_layers, tmp_path / "m"))
    document = json.loads((model / "model.json").read_text())
    document["weightsManifest"][0]["paths"] = ["../../secret.bin"]
    (model / "model.json").write_text(json.dumps(document))
    _one_error_line(*_inspect(str(model)), "model.json", "climbs out")
