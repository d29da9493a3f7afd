"""A format registered from outside the package is detected, inspected, offered by the CLI, converted to and
checked (its record naming a writer and a runtime of its own), untouched elsewhere."""

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
    from convkit.runtimes.open import open_runner
    from convkit.errors import UsageError

    with pytest.raises(UsageError, match="no runtime for toy files"):
        open_runner(model)


# ---------------------------------------------------------------- a toy format with a writer and a runtime
# Plain text: the magic line, then one JSON line per Dense layer (activation, kernel, bias), evaluated with numpy.


def write_toy(conversion: Any) -> Any:
    """The toy format's writer: every Dense layer of the source, in order (other layers must hold no weights)."""
    import numpy as np

    from convkit.keras_model.config import iter_layers

    notes = conversion.notes()
    model = conversion.source.model()
    weights = {weight.name.rsplit("/", 1)[0]: {} for weight in model.weights()}
    for weight in model.weights():
        owner, _, attribute = weight.name.rpartition("/")
        weights[owner][attribute] = np.asarray(weight.read(), dtype="float32")
    lines = []
    for layer in iter_layers(model.config):
        config = layer.get("config") or {}
        if layer.get("class_name") == "Dense":
            values = weights[config["name"]]
            lines.append(json.dumps({"name": config["name"], "activation": config.get("activation", "linear"),
                                     "kernel": values["kernel"].tolist(), "bias": values["bias"].tolist()}))
    with conversion.output() as temp:
        temp.write_bytes(MAGIC + "\n".join(lines).encode() + b"\n")
    return notes.written("dense-layers")


def open_toy(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Any:
    """The toy format's runtime: numpy."""
    from convkit.runtimes.base import Runner, TensorSpec

    class ToyRunner(Runner):
        runtime = "numpy"

        def _load(self) -> None:
            self.layers = [json.loads(line) for line in Path(path).read_bytes()[len(MAGIC):].decode().splitlines()]
            self._inputs = [TensorSpec("x", (None, len(self.layers[0]["kernel"])))]
            self._outputs = [TensorSpec(self.layers[-1]["name"], (None, len(self.layers[-1]["bias"])))]

        def _infer(self, feed: dict[str, Any]) -> dict[str, Any]:
            import numpy as np

            values = feed["x"].astype("float32")
            for layer in self.layers:
                values = values @ np.asarray(layer["kernel"], "float32") + np.asarray(layer["bias"], "float32")
                if layer["activation"] == "relu":
                    values = np.maximum(values, 0)
            return {self.layers[-1]["name"]: values}

    return ToyRunner(path, "toy")


@pytest.fixture
def toy_with_writer_and_runtime():
    fmt = registry.register_format(registry.Format(
        name="toy", description="a toy format registered by a test", accept=_accept, inspect=_inspect,
        extensions=(".toy",), writer="tests.test_registry:write_toy", runner="tests.test_registry:open_toy",
        default_output=lambda parent, name: parent / f"{name}.toy",
    ))
    yield fmt
    registry.unregister_format("toy")


def test_a_registered_format_is_converted_to_and_checked(toy_with_writer_and_runtime: registry.Format,
                                                         tmp_path: Path) -> None:
    import keras
    import numpy as np

    from convkit import check

    reference = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                                  keras.layers.Dropout(0.5), keras.layers.Dense(3, name="scores")])
    rng = np.random.default_rng(7)
    for variable in reference.weights:
        variable.assign(rng.normal(0.0, 0.5, size=tuple(variable.shape)).astype("float32"))
    reference.save(tmp_path / "ref.keras")

    out = tmp_path / "ref.toy"
    converted = CliRunner().invoke(app, ["convert", str(tmp_path / "ref.keras"), "--to", "toy", "--json"])
    assert converted.exit_code == 0, converted.output
    assert json.loads(converted.stdout)["kind"] == "dense-layers" and json.loads(converted.stdout)["out"] == str(out)
    assert registry.detect(out) is toy_with_writer_and_runtime
    assert json.loads(CliRunner().invoke(app, ["inspect", str(out), "--json"]).stdout)["layers"] == 2

    report = check(tmp_path / "ref.keras", [out], random=50)
    assert report.passed, report.summary()
    (pair,) = report.pairs
    assert pair.model.runtime == "numpy" and pair.model.format == "toy"
    assert pair.outputs[0].max_abs < 1e-5

    layers = [json.loads(line) for line in out.read_bytes()[len(MAGIC):].decode().splitlines()]
    layers[-1]["bias"][0] += 1e-3  # the output bias: a live path for every input
    nudged = tmp_path / "nudged.toy"
    nudged.write_bytes(MAGIC + "\n".join(json.dumps(layer) for layer in layers).encode() + b"\n")
    failed = check(tmp_path / "ref.keras", [out, nudged], random=50)
    assert [pair.status for pair in failed.pairs] == ["PASS", "FAIL"] and failed.exit_code == 1
