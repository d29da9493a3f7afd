"""A format registered from outside the package is detected, inspected and offered by the CLI, untouched elsewhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convkit import registry
from convkit.cli._common import SCHEMA_VERSION
from convkit.cli.main import app

MAGIC = b"TOYMODEL1\n"


@dataclass(frozen=True)
class ToyReport:
    format: str
    path: str
    layers: int

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "path": self.path, "layers": self.layers}


def _accept(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _inspect(path: Path, **_options: Any) -> ToyReport:
    return ToyReport("toy", str(path), len(Path(path).read_bytes().splitlines()) - 1)


@pytest.fixture
def toy_format():
    fmt = registry.register_format(registry.Format(
        name="toy", description="a toy format registered by a test", accept=_accept, inspect=_inspect,
        extensions=(".toy",),
    ))
    yield fmt
    registry.unregister_format("toy")


def test_a_registered_format_is_detected_inspected_and_listed(toy_format: registry.Format, tmp_path: Path) -> None:
    model = tmp_path / "model.toy"
    model.write_bytes(MAGIC + b"dense\ndense\n")
    assert registry.detect(model) is toy_format

    result = CliRunner().invoke(app, ["inspect", str(model), "--json"])
    assert result.exit_code == 0, result.output
    # The format's own document, under the version every --json document carries (docs/json.md).
    assert json.loads(result.stdout) == {"schema_version": SCHEMA_VERSION, "format": "toy", "path": str(model), "layers": 2}

    help_text = CliRunner().invoke(app, ["convert", "--help"]).stdout
    assert "toy" in help_text


def test_a_format_without_a_writer_or_runner_says_so(toy_format: registry.Format, tmp_path: Path) -> None:
    model = tmp_path / "model.toy"
    model.write_bytes(MAGIC)
    good = Path(__file__).resolve().parents[1] / "fixtures" / "hostile" / "good" / "tiny_k2.h5"
    converted = CliRunner().invoke(app, ["convert", str(good), "--to", "toy", "-o", str(tmp_path / "out.toy")])
    assert converted.exit_code == 2, converted.output
    assert "does not write toy files" in converted.stderr
    from convkit.check.runners import open_runner
    from convkit.errors import UsageError

    with pytest.raises(UsageError, match="no runtime for toy files"):
        open_runner(model)
