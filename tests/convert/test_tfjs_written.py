"""TF.js layers models written by TF.js itself (``model.save``), to every Keras target.

The sources are made by tests/convert/tfjs_written.mjs in real TF.js under Node: a Bidirectional
LSTM (its weights named ``bidirectional/forward_lstm/lstm_cell_1/kernel`` as TF.js scopes them), the
same with TF.js' default hard_sigmoid gates, and a Teachable Machine-shaped model (a Sequential
holding a Sequential with a functional base, and a Sequential head). Each copy is checked against
the source run in TF.js.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from convkit import convert
from convkit.errors import ReadError
from tests.convert.conftest import assert_same_predictions

pytestmark = pytest.mark.models  # make test-models (and CI), not make test: docs/TESTING.md

SCRIPT = Path(__file__).with_name("tfjs_written.mjs")
KERAS_TARGETS = (("h5", "copy.h5"), ("keras", "copy.keras"), ("savedmodel", "copy_savedmodel"))


def written_by_tfjs(kind: str, out: Path) -> Path:
    """The model ``kind`` saved by TF.js into ``out``; returns its model.json."""
    from convkit.runtimes.tfjs.install import find_node_root

    env = {**os.environ, "CONVKIT_NODE_ROOT": str(find_node_root())}
    done = subprocess.run(["node", str(SCRIPT), kind, str(out)], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return out / "model.json"


def _cases() -> list[object]:
    """Both models to every Keras target; the Bidirectional LSTM's SavedModel (the one slow cell: tf_keras traces
    both directions' loops to save it) is make test-all's, its .h5 and .keras stay in make test."""
    return [pytest.param(kind, target, name, id=f"{kind}-{target}",
                         marks=pytest.mark.slow if (kind, target) == ("bidirectional", "savedmodel") else ())
            for kind in ("bidirectional", "teachable") for target, name in KERAS_TARGETS]


@pytest.mark.node
@pytest.mark.parametrize(("kind", "target", "name"), _cases())
def test_tfjs_written_model_to_every_keras_target(kind: str, target: str, name: str, tmp_path: Path) -> None:
    src = written_by_tfjs(kind, tmp_path / "tfjs")
    saved = json.loads(src.read_text())
    if kind == "bidirectional":  # as TF.js names them, cell scope included
        names = [w["name"] for w in saved["weightsManifest"][0]["weights"]]
        assert any(n.startswith("bidirectional") and "/forward_lstm" in n for n in names), names
    else:
        layers = saved["modelTopology"]["config"]["layers"]
        assert [layer["class_name"] for layer in layers] == ["Sequential", "Sequential"]
        assert layers[0]["config"]["layers"][0]["class_name"] == "Model"
    convert(src, target, tmp_path / name)
    assert_same_predictions(src, tmp_path / name)


@pytest.mark.node
def test_tfjs_hard_sigmoid_gates_to_keras_2_targets_only(tmp_path: Path) -> None:
    """TF.js' hardSigmoid is Keras 2's clip(0.2 x + 0.5, 0, 1): .h5 and SavedModel are built in tf_keras and
    match; Keras 3 computes another function under that name, so no .keras is written."""
    src = written_by_tfjs("bidirectional-hard", tmp_path / "tfjs")
    for target, name in KERAS_TARGETS:
        if target == "keras":
            with pytest.raises(ReadError, match="hard_sigmoid.*relu6"):
                convert(src, target, tmp_path / name)
            assert not (tmp_path / name).exists()
            continue
        convert(src, target, tmp_path / name)
        assert_same_predictions(src, tmp_path / name)
