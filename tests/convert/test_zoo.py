"""A small real architecture through the zoo (bench/zoo.py): every case loads, runs and matches Keras.

The whole zoo (every keras.applications architecture, every source format and
target, beside tensorflowjs_converter) is ``make zoo``; this small run is part of
``make test-all``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
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
    assert not list(tmp_path.glob("*.tmp")), "a worker's temporary folder is left"


PARAMETERS = {"ConvNeXtPico": 26_090, "MobileNet": 221_114, "MobileNetV2": 423_018, "ResNet50": 23_608_202,
              "ResNet101": 42_678_666, "ConvNeXtTiny": 27_827_818, "ConvNeXtBase": 87_576_714}


def test_zoo_plan_runs_main_sources_smallest_first_then_the_family_members_other_sources() -> None:
    zoo = _zoo()
    assert zoo.family("ResNet101V2") == "ResNetV2" and zoo.family("MobileNetV3Small") == "MobileNetV3"
    assert zoo.family_members(PARAMETERS, PARAMETERS) == ["ConvNeXtPico", "MobileNet", "MobileNetV2", "ResNet50",
                                                          "ConvNeXtTiny"]
    groups = zoo.plan(list(PARAMETERS), PARAMETERS)
    main = [group.arch for group in groups[:len(PARAMETERS)]]
    assert main == sorted(PARAMETERS, key=PARAMETERS.get)
    assert [group.arch for group in groups[len(PARAMETERS):]] == ["ConvNeXtPico", "MobileNet", "MobileNetV2",
                                                                  "ResNet50", "ConvNeXtTiny"]
    first = groups[0].cells
    assert {source for source, _, _ in first} == set(zoo.MAIN_SOURCES)
    tools = [tool for _, _, tool in first]
    # six convkit targets per source, then the anchors: three targets per source
    assert tools[:12] == ["convkit"] * 12 and len(tools) == 18 and "convkit" not in tools[12:]
    others = {(source, tool) for source, _, tool in groups[-1].cells}
    assert ("k3.weights", "tf2onnx") not in others and ("k3.export", "tf2onnx") in others
    assert ("k2.ckpt", "convkit") in others and ("k2.ckpt", "tensorflowjs_converter") not in others
    assert ("k3.ckpt", "convkit") in others and ("k3.ckpt", "TFLiteConverter") not in others


def test_zoo_report_counts_broken_cells_and_what_is_not_yet_run(tmp_path: Path) -> None:
    zoo = _zoo()
    results = tmp_path / "zoo.jsonl"
    cells = [zoo.Case("MobileNet", "k3.keras", "tfjs", "ok", kind="layers", seconds=2.0),
             zoo.Case("MobileNet", "k3.keras", "keras", "BROKEN", "Keras 3 could not load it", seconds=4.0),
             zoo.Case("MobileNet", "k2.h5", "onnx", "exit 2", "Error: a sentence", seconds=1.0),
             zoo.Case("MobileNet", "k3.keras", "onnx", "DIFF", relative_error=0.02, tool="tf2onnx")]
    results.write_text("".join(json.dumps(dataclasses.asdict(case)) + "\n" for case in cells) + '{"arch": "Mob')
    read = zoo.read_results(results)  # the last line, cut short by a killed run, is skipped
    assert [case.key for case in read] == [case.key for case in cells]
    again = dataclasses.replace(cells[1], status="ok")  # run again (--retry): its last line counts
    with results.open("a") as stream:
        stream.write("\n" + json.dumps(dataclasses.asdict(again)) + "\n")
    assert [(case.key, case.status) for case in zoo.read_results(results)] == [
        (cells[0].key, "ok"), (cells[2].key, "exit 2"), (cells[3].key, "DIFF"), (cells[1].key, "ok")]
    text = zoo.report(read, ["MobileNet", "ResNet50"], {"MobileNet": 221_114, "ResNet50": 23_608_202})
    assert "| MobileNet | 221 k | ok / - | - / - | BROKEN / - |" in text
    assert "| MobileNet | k2.h5 | - | - | - | - | - | exit 2 |" in text
    # main sources: 2 architectures x 2 sources x 6 targets; the other six sources of both (each its family's member)
    assert "- convkit: 1/3 cells load, run and match (33.3%); BROKEN 1; exit 2 1; 105 of 108 planned not yet run" in text
    assert "- tf2onnx (anchor): 0/1 cells load, run and match (0.0%); DIFF 1;" in text
    assert "conversion median 2.0 s, max 4 s" in text
