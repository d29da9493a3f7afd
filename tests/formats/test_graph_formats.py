"""Inspecting graph-level files: frozen .pb, TF1 checkpoints with .meta, TF.js 0.x and TF.js graph models.

The files are the tiny model of fixtures/hostile/good at graph level (4 inputs ->
Dense 3 relu -> Dense 2), written by TensorFlow, a TF1 Saver and tensorflowjs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convkit.cli.main import app
from convkit.registry import detect

GOOD = Path(__file__).resolve().parents[2] / "fixtures" / "hostile" / "good"
runner = CliRunner()


def inspect_json(path: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["inspect", str(path), "--json", *extra])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("path, name", [
    ("tiny_frozen.pb", "pb"), ("tiny_tf1/model.ckpt", "metagraph"), ("tiny_tf1", "metagraph"),
    ("tiny_tf1/model.ckpt.meta", "metagraph"), ("tiny_tf1/model.ckpt.index", "metagraph"),
    ("tiny_tfjs_pb", "tfjs-pb"), ("tiny_tfjs_pb/tensorflowjs_model.pb", "tfjs-pb"), ("tiny_tfjs_graph", "tfjs"),
    ("tiny_savedmodel/saved_model.pb", "savedmodel"), ("tiny_ckpt/ckpt", "ckpt"),
])
def test_recognised_by_content(path: str, name: str) -> None:
    assert detect(GOOD / path).name == name


def test_frozen_graph() -> None:
    report = inspect_json(GOOD / "tiny_frozen.pb", "--weights")
    assert report["format"] == "pb" and report["kind"] == "frozen-graph"
    assert report["summary"]["parameters"] == 4 * 3 + 3 + 3 * 2 + 2
    assert report["summary"]["inputs_and_outputs"] == "inferred" and report["summary"]["producer"] > 0
    assert report["inputs"] == [{"name": "input", "tensor": "input:0", "dtype": "float32", "shape": [None, 4]}]
    assert [output["tensor"] for output in report["outputs"]] == ["Identity:0"]
    assert report["ops"]["Placeholder"] == 1 and "MatMul" in report["ops"]
    weights = [row for row in report["constants"] if row["shape"] == [4, 3]]
    assert len(weights) == 1 and weights[0]["stats"]["std"] > 0
    assert report["risky_ops"] == []


def test_tf1_checkpoint_with_its_metagraph() -> None:
    report = inspect_json(GOOD / "tiny_tf1" / "model.ckpt", "--verify")
    assert report["format"] == "metagraph"
    assert report["summary"]["variables"] == 4 and report["summary"]["variables_missing"] == 0
    assert report["summary"]["variable_parameters"] == 23
    assert {row["checkpoint_key"] for row in report["variables"]} == {row["name"] for row in report["variables"]}
    assert report["saver"]["restore_op"] == "save/restore_all" and report["saver"]["version"] == 2
    assert {collection["name"] for collection in report["collections"]} >= {"variables", "trainable_variables"}
    # The saver's own nodes are neither inputs nor outputs.
    assert [info["name"] for info in report["inputs"]] == ["input"]
    assert [info["name"] for info in report["outputs"]] == ["Identity"]
    assert report["verify"]["ok"] is True and report["verify"]["checked"] == 4
    assert report["risky_ops"] == []  # SaveV2/RestoreV2 belong to the saver


def test_a_metagraph_naming_a_variable_the_checkpoint_lacks(tmp_path: Path) -> None:
    case = GOOD.parent / "cases" / "meta_missing_variable" / "model.ckpt"
    report = inspect_json(case)
    assert report["summary"]["variables_missing"] == 1
    assert [row["name"] for row in report["variables"] if not row["in_checkpoint"]] == ["ghost"]
    result = runner.invoke(app, ["convert", str(case), "--to", "pb", "-o", str(tmp_path / "never.pb")])
    assert result.exit_code == 2
    assert "the graph's variable 'ghost' (checkpoint key 'ghost') is not in the checkpoint" in result.stderr
    assert not (tmp_path / "never.pb").exists()


def test_tfjs_0x_layout() -> None:
    report = inspect_json(GOOD / "tiny_tfjs_pb", "--weights")
    assert report["format"] == "tfjs-pb" and report["kind"] == "tfjs-0.x-graph-model"
    assert report["summary"]["parameters"] == 23 and report["summary"]["weight_shards"] == 1
    assert "_FusedMatMul" in report["ops"]  # what the converter fused; rebuilt as MatMul + BiasAdd + Relu
    assert all(row["stats"] is not None for row in report["constants"] if row["dtype"] == "float32")
    assert [info["name"] for info in report["outputs"]] == ["Identity"]


def test_tfjs_graph_model_view() -> None:
    topology = inspect_json(GOOD / "tiny_tfjs_graph")["topology"]
    assert topology["inputs_and_outputs"] == "signature"
    assert [info["name"] for info in topology["inputs"]] == ["input"]
    assert [(info["name"], info["tensor"]) for info in topology["outputs"]] == [("output_0", "Identity:0")]
    assert topology["tfjs_only_ops"] == ["_FusedMatMul"]


def test_tf1_saved_model_without_signatures_shows_what_it_implies(tmp_path: Path) -> None:
    from tests import _graph_models

    folder = _graph_models.built("two", tmp_path, ("tf1_savedmodel",))
    meta_graph = inspect_json(folder / "tf1_savedmodel")["meta_graphs"][0]
    assert meta_graph["tags"] == ["train"] and meta_graph["signatures"] == []
    assert [info["name"] for info in meta_graph["inferred"]["inputs"]] == ["a", "b"]
    assert [info["name"] for info in meta_graph["inferred"]["outputs"]] == ["Identity", "Identity_1"]


@pytest.mark.parametrize("case, message", [
    ("graph_cycle.pb", "the graph has a cycle through node 'a' (only a while loop's NextIteration may close one)"),
    ("graph_function_recursion.pb", "function 'again' calls itself; a graph's functions may not recurse"),
    ("graph_huge_tensor_content.pb", "constant 'w' holds 17179869184 bytes, over convkit's limit of 4294967296"),
    ("graph_missing_input.pb", "in the graph, node 'y' reads 'nowhere:0', which is not there"),
])
def test_broken_graphs_get_one_line(case: str, message: str) -> None:
    result = runner.invoke(app, ["inspect", str(GOOD.parent / "cases" / case)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {GOOD.parent / 'cases' / case}: {message}\n"


BLOCKED = ("tensorflow", "keras", "tf_keras", "tensorflowjs")
CHILD = r"""
import json, sys, time
from convkit.formats import _api

seconds = {}
for path in sys.argv[1:]:
    started = time.process_time()
    _api.inspect(path, weights=False).to_dict()
    seconds[path] = time.process_time() - started
seconds["_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in %r)
print(json.dumps(seconds))
""" % (BLOCKED,)


def test_inspect_is_fast_and_never_imports_tensorflow(tmp_path: Path) -> None:
    for name in BLOCKED:
        package = tmp_path / "blocked" / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(f"raise ImportError('{name} must not be imported by convkit inspect')\n")
    paths = [GOOD / "tiny_frozen.pb", GOOD / "tiny_tf1" / "model.ckpt", GOOD / "tiny_tfjs_pb", GOOD / "tiny_tfjs_graph"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "blocked"), os.environ.get("PYTHONPATH", "")]))
    child = subprocess.run([sys.executable, "-c", CHILD, *map(str, paths)], capture_output=True, text=True, env=env,
                           timeout=120)
    assert child.returncode == 0, child.stderr[-3000:]
    seconds = json.loads(child.stdout)
    assert seconds.pop("_loaded") == []
    # CPU seconds of each inspect (the first pays for the protobuf classes): well under 0.3 s, whatever the load.
    slow = {path: round(spent, 3) for path, spent in seconds.items() if spent >= 0.3}
    assert not slow, slow
