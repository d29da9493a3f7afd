"""``check`` opens what ``convert`` reads: a reference the stock loader refuses is built as convert reads it.

Keras 3's own ``.h5`` of a model with an operation on a tensor (MobileNetV3's ``x + 3.0``)
loses the operation's module, so Keras 3 cannot load its own file; convert reads it
(:mod:`convkit.keras_model.operations`), and check builds the reference the same way,
saying so in a note. A written output is still held to a plain ``load_model``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from convkit import convert
from convkit.cli.main import app
from convkit.errors import RunError
from tests.convert.conftest import _randomize

runner = CliRunner()


def _keras3_h5_keras3_cannot_load(path: Path) -> Path:
    import keras

    inputs = keras.Input((6,))
    x = keras.layers.Dense(5)(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.ReLU(6.0)(x + 3.0) / 6.0)
    model = keras.Model(inputs, outputs)
    _randomize(model, 1)
    model.save(path)
    with pytest.raises((ValueError, TypeError)):  # Keras 3 cannot load its own file
        keras.models.load_model(path, compile=False)
    return path


def test_check_builds_the_reference_as_convert_reads_it(tmp_path: Path) -> None:
    import h5py

    src = _keras3_h5_keras3_cannot_load(tmp_path / "m.h5")
    convert(src, "keras", tmp_path / "copy.keras")
    result = runner.invoke(app, ["check", str(src), str(tmp_path / "copy.keras"), "--random", "16", "--json"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "PASS"
    assert any(note.startswith("reference: built by convkit's reader") for note in report["notes"]), report["notes"]

    convert(src, "h5", tmp_path / "broken.h5")  # a copy whose output bias is off: the check must fail
    with h5py.File(tmp_path / "broken.h5", "r+") as h5:
        group = h5["model_weights"]
        last = [name.decode() if isinstance(name, bytes) else name for name in group.attrs["layer_names"]][-1]
        bias = [name for name in group[last].attrs["weight_names"] if b"bias" in name][0].decode()
        group[last][bias][...] = np.asarray(group[last][bias]) + 0.5
    result = runner.invoke(app, ["check", str(src), str(tmp_path / "broken.h5"), "--random", "16"])
    assert result.exit_code == 1, result.stderr


def test_a_written_output_is_still_held_to_a_plain_load(tmp_path: Path) -> None:
    from convkit.policy.safe_mode import plain_load
    from convkit.runtimes.open import open_runner

    src = _keras3_h5_keras3_cannot_load(tmp_path / "m.h5")
    with plain_load(), pytest.raises(RunError, match="Keras 3 could not load"):
        open_runner(src)
