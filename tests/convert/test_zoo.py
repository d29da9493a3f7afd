"""A small real architecture through the zoo (bench/zoo.py): every case loads, runs and matches Keras.

The whole zoo (every keras.applications architecture, every source format and
target, beside tensorflowjs_converter) is ``make zoo``; this small run is part of
``make test-all``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ZOO_PATH = Path(__file__).resolve().parents[2] / "bench" / "zoo.py"


def _zoo():
    spec = importlib.util.spec_from_file_location("convkit_bench_zoo", ZOO_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_zoo_comparison_fails_on_a_perturbed_output() -> None:
    zoo = _zoo()
    reference = np.linspace(-50.0, 50.0, 40, dtype=np.float32).reshape(4, 10)
    assert zoo._compare(reference + 1e-3, reference)[0]
    passed, error = zoo._compare(reference + 0.1, reference)
    assert not passed and error == pytest.approx(0.1 / 50.0, rel=1e-3)
    assert not zoo._compare(reference[:, :9], reference)[0]


@pytest.mark.slow
@pytest.mark.node
def test_a_small_real_architecture_converts_loads_and_matches(tmp_path: Path) -> None:
    zoo = _zoo()
    lines: list[str] = []
    targets = ("tfjs", "keras", "h5")
    result = zoo.run(["ConvNeXtPico"], sources=("k3.keras", "k2.h5"), targets=targets,
                     work=tmp_path, anchor=False, log=lines.append)
    table = zoo.render(result, targets)
    assert not result.notes, table
    assert len(result.cases) == 6, table
    # tf_keras' own ConvNeXt .h5 included, which tf_keras cannot load back (it does not register LayerScale);
    # the Keras round trips cross generations both ways (LayerScale, TFOpLambda <-> operations, nested Sequential)
    assert all(case.status == "ok" for case in result.cases), table
    assert "| ConvNeXtPico | k3.keras | ok (graph) |" in table
