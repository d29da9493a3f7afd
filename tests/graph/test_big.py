"""A 5,000-node graph: drawn within 10 s without TensorFlow, repeated blocks closed, reopened on request."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from convkit.graph import collapse, extract
from tests.graph._big import NODES_PER_LAYER, transformer_onnx

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys, runpy
sys.argv = ["convkit", "inspect", *sys.argv[1:]]
try:
    runpy.run_module("convkit", run_name="__main__")
except SystemExit as stop:
    assert not stop.code, stop.code
print(sorted(name for name in sys.modules if name == "tensorflow" or name.startswith("tensorflow.")))
"""


@pytest.fixture(scope="module")
def big_onnx(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "transformer.onnx"
    assert transformer_onnx(path, 102) == 2 + 102 * NODES_PER_LAYER == 5000
    return path


@pytest.mark.node
def test_a_5000_node_graph_is_drawn_within_10_s_without_tensorflow(big_onnx, tmp_path):
    out = tmp_path / "big.html"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PROBE, str(big_onnx), "--graph", str(out), "--metrics", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    *document, loaded = done.stdout.strip().splitlines()
    assert loaded == "[]", f"TensorFlow was imported: {loaded}"
    assert seconds < 10, f"{seconds:.1f} s"
    drawn = json.loads("\n".join(document))
    assert drawn["graph"]["nodes"] == 5000 and drawn["metrics"]["summary"]["nodes"] == 5000
    assert drawn["graph"]["boxes"] <= collapse.DEFAULT_MAX_NODES and drawn["graph"]["collapsed_groups"] > 100
    assert "--expand all draws every node" in done.stderr
    page = out.read_text()
    assert page.count('class="node ') == drawn["graph"]["boxes"] and page.count('class="node collapsed') > 100
    assert 'data-file-nodes="5000"' in page


def test_repeated_blocks_stay_closed_and_a_named_one_opens(big_onnx):
    graph = extract(big_onnx)
    closed = collapse.plan(graph)
    labels = {group.id: group.label for group in graph.groups}
    layers = [group.id for group in graph.groups if group.label.startswith("layer.")]
    assert len(layers) == 102
    opened = [group_id for group_id in layers if group_id not in closed]
    assert [labels[group_id] for group_id in opened] == ["layer.0"]  # the first of 102 equal blocks
    graph_again = extract(big_onnx)
    reopened = collapse.plan(graph_again, expand=["layer.57"])
    layer_57 = next(group.id for group in graph_again.groups if group.label == "layer.57")
    assert layer_57 not in reopened and len(reopened) < len(closed)
    assert collapse.plan(extract(big_onnx), expand=["all"]) == set()


def test_a_flat_graph_without_scopes_is_cut_into_runs(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"], name=f"relu{i}") for i in range(3000)]
    graph = helper.make_graph(nodes, "flat", [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("t3000", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(graph), tmp_path / "flat.onnx")
    drawn = extract(tmp_path / "flat.onnx")
    closed = collapse.plan(drawn, max_nodes=500)
    top = sum(1 for node in drawn.nodes if node.group is None) + sum(1 for group in drawn.groups if group.parent is None)
    assert closed and top <= 500 and all(group.kind == "run" for group in drawn.groups)


def test_control_flow_bodies_are_groups_beside_their_op(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="keep_going"),
         helper.make_node("MatMul", ["state_in", "weight"], ["product"], name="step_matmul"),
         helper.make_node("Relu", ["product"], ["state_out"], name="step_relu")],
        "loop_body",
        [helper.make_tensor_value_info("iteration", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1, 4])],
    )
    weight = helper.make_tensor("weight", TensorProto.FLOAT, [4, 4], [0.1] * 16)
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "", "state"], ["final"], name="recurrence", body=body)],
        "looped", [helper.make_tensor_value_info("state", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("final", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor("trips", TensorProto.INT64, [], [3]), weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, tmp_path / "loop.onnx")
    drawn = extract(tmp_path / "loop.onnx")
    (body_group,) = drawn.groups
    assert body_group.kind == "body" and body_group.label == "recurrence: body"
    inside = {node.name for node in drawn.nodes if node.group == body_group.id}
    assert inside == {"keep_going", "step_matmul", "step_relu"}
    step = next(node for node in drawn.nodes if node.name == "step_matmul")
    assert [w.name for w in step.weights] == ["weight"] and step.macs == 16  # one pass of the body
    assert any("one pass" in note for note in drawn.notes) or step.macs_status == "counted"
