"""The whole graph matrix (slow): six models x every graph-level source x every graph target, each output checked.

Models: a CNN, a MobileNet-like depthwise block with BatchNorm and ReLU6, a PReLU model
(fused and standalone PReLU), an LSTM (a while loop), a two-input two-output model and an
integer Embedding input. Sources: tensorflowjs_converter's graph models from the SavedModel
(float32, uint8, uint16, float16, and in 1 KiB shards), from the frozen graph (no input
signature) and with control flow v2 (library functions), the frozen ``.pb``, a TF1 checkpoint with its
``.meta``, a TF1 SavedModel tagged ``train`` without signatures and the TF.js 0.x layout.
Targets: SavedModel, ``.pb``, ONNX, TFLite, TF.js (a graph model). Every output must pass ``convkit check`` against
the Keras model (quantized sources within their quantization's tolerance) and a copy whose
output bias was moved must fail.

``CONVKIT_GRAPH_MATRIX=FILE`` also writes the table of results as JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from tests import _graph_models

runner = CliRunner()
SOURCES = ("tfjs", "tfjs_frozen", "tfjs_uint8", "tfjs_uint16", "tfjs_float16", "tfjs_cf2", "tfjs_sharded", "frozen.pb",
           "tf1", "tf1_savedmodel", "tfjs_legacy")
TARGETS = {"savedmodel": "sm", "pb": "model.pb", "onnx": "model.onnx", "tflite": "model.tflite", "tfjs": "tfjs"}
TOLERANCE = {"tfjs_uint8": ("1e-1", "1e-1"), "tfjs_uint16": ("1e-3", "1e-3"), "tfjs_float16": ("1e-2", "1e-2")}
RESULTS: dict[str, dict[str, dict[str, str]]] = {}


def _cell(source: Path, target: str, out: Path, reference: Path, tolerance: tuple[str, str] | None) -> str:
    converted = runner.invoke(app, ["convert", str(source), "--to", target, "-o", str(out), "--json"])
    if converted.exit_code != 0:
        return f"convert exit {converted.exit_code}: {converted.stderr.strip().splitlines()[-1][-300:]}"
    kind = json.loads(converted.stdout)["kind"]
    extra = ["--atol", tolerance[0], "--rtol", tolerance[1]] if tolerance else []
    checked = runner.invoke(app, ["check", str(reference), str(out), "--json", *extra])
    report = json.loads(checked.stdout) if checked.stdout else {}
    if checked.exit_code != 0:
        return f"check exit {checked.exit_code}: {report.get('headline') or checked.stderr.strip()[-160:]}"
    worst = max(output["max_abs"] or 0.0 for output in report["pairs"][0]["outputs"])
    return f"ok ({kind}, max abs diff {worst:.1e})"


@pytest.mark.slow
@pytest.mark.parametrize("case", _graph_models.CASES)
def test_every_graph_source_to_every_target(case: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = _graph_models.built(case, tmp_path_factory.mktemp("graphs"))
    work = tmp_path_factory.mktemp(f"matrix-{case}")
    reference = folder / "model.keras"
    rows: dict[str, dict[str, str]] = {}
    for source in SOURCES:
        path = _graph_models.variant_path(folder, source)
        rows[source] = {target: _cell(path, target, work / f"{source}-{name}", reference, TOLERANCE.get(source))
                        for target, name in TARGETS.items()}
    # A copy whose output bias moved must fail, whatever the target.
    perturbed = work / "perturbed"
    _graph_models.perturb_tfjs_bias(folder / "tfjs_frozen", perturbed, _graph_models.OUTPUT_LAYER[case])
    rows["perturbed tfjs_frozen"] = {}
    for target, name in TARGETS.items():
        out = work / f"perturbed-{name}"
        converted = runner.invoke(app, ["convert", str(perturbed), "--to", target, "-o", str(out)])
        checked = runner.invoke(app, ["check", str(reference), str(out)]) if converted.exit_code == 0 else None
        rows["perturbed tfjs_frozen"][target] = ("fails the check (exit 1)" if checked is not None and checked.exit_code == 1
                                                 else f"NOT CAUGHT ({converted.exit_code}, "
                                                      f"{checked.exit_code if checked else '-'})")
    RESULTS[case] = rows
    if os.environ.get("CONVKIT_GRAPH_MATRIX"):
        target_file = Path(os.environ["CONVKIT_GRAPH_MATRIX"])
        existing = json.loads(target_file.read_text()) if target_file.exists() else {}
        existing[case] = rows
        target_file.write_text(json.dumps(existing, indent=2))
    failed = {f"{source} -> {target}": cell for source, cells in rows.items() for target, cell in cells.items()
              if not (cell.startswith("ok") or cell.startswith("fails the check"))}
    assert not failed, json.dumps(failed, indent=2)
