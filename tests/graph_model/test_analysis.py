"""Graphs read as data: structural checks, inferred inputs and outputs, --inputs/--outputs, the TF.js rebuild."""

from __future__ import annotations

from pathlib import Path

import pytest

from convkit.errors import ReadError, UsageError
from convkit.graph_model import analysis, model, tfjs
from convkit.graph_model.messages import graph_def_class

HERE = Path("graph.pb")
FLOAT = 1


def graph(*nodes: tuple[str, str, list[str]], **attrs: dict) -> object:
    graph_def = graph_def_class()()
    for name, op, inputs in nodes:
        node = graph_def.node.add(name=name, op=op, input=inputs)
        for key, value in attrs.get(name, {}).items():
            if key == "shape":
                for dim in value:
                    node.attr["shape"].shape.dim.add(size=dim)
            else:
                node.attr[key].type = value
    return graph_def


def test_a_while_loop_may_close_a_cycle_nothing_else_may() -> None:
    loop = graph(("x", "Placeholder", []), ("enter", "Enter", ["x"]), ("merge", "Merge", ["enter", "next"]),
                 ("body", "Identity", ["merge"]), ("next", "NextIteration", ["body"]), ("exit", "Exit", ["merge"]))
    analysis.check_structure(loop, HERE)
    cycle = graph(("x", "Placeholder", []), ("a", "AddV2", ["x", "b"]), ("b", "AddV2", ["a", "x"]))
    with pytest.raises(ReadError, match="has a cycle through node"):
        analysis.check_structure(cycle, HERE)


def test_functions_that_call_each_other_in_a_ring_are_refused() -> None:
    graph_def = graph(("x", "Placeholder", []), ("call", "ping", ["x"]))
    for name, calls in (("ping", "pong"), ("pong", "ping")):
        function = graph_def.library.function.add()
        function.signature.name = name
        function.node_def.add(name="inner", op=calls)
    with pytest.raises(ReadError, match="function '(ping|pong)' calls itself through '(ping|pong)'"):
        analysis.check_structure(graph_def, HERE)


def test_function_calls_nested_deeper_than_the_limit_are_refused() -> None:
    from convkit.containers.limits import MAX_FUNCTION_NESTING

    graph_def = graph(("x", "Placeholder", []), ("call", "f0", ["x"]))
    for level in range(MAX_FUNCTION_NESTING + 2):
        function = graph_def.library.function.add()
        function.signature.name = f"f{level}"
        function.node_def.add(name="inner", op=f"f{level + 1}" if level <= MAX_FUNCTION_NESTING else "Identity")
    with pytest.raises(ReadError, match="nest deeper than convkit's limit"):
        analysis.check_structure(graph_def, HERE)


def test_outputs_are_nodes_nobody_consumes_except_plumbing() -> None:
    graph_def = graph(
        ("x", "Placeholder", []), ("labels", "Placeholder", []), ("w", "VariableV2", []),
        ("logits", "MatMul", ["x", "w"]), ("probabilities", "Softmax", ["logits"]),
        ("score_10", "Identity", ["logits"]), ("score_2", "Identity", ["logits"]),
        ("init", "NoOp", ["^w/Assign"]), ("w/Assign", "Assign", ["w", "x"]),
        ("save/SaveV2", "SaveV2", ["w"]), ("save/restore", "Identity", ["w"]),
        ("gradients/grad", "Identity", ["labels"]), ("check", "Assert", ["x"]),
        ("constant", "Const", []), ("unfed", "Identity", ["constant"]),
    )
    assert analysis.infer_outputs(graph_def, ("save/",)) == ["probabilities:0", "score_2:0", "score_10:0"]
    assert analysis.infer_inputs(graph_def, ["probabilities:0"]) == ["x:0"]


@pytest.mark.parametrize("text, expected", [
    ("x", [("x:0", None)]),
    ("x:0", [("x:0", None)]),
    ("x:1", [("x:1", None)]),
    ("x:1x28x28x1", [("x:0", (1, 28, 28, 1))]),
    ("x:0:?x28x28", [("x:0", (None, 28, 28))]),
    ("x[-1,224,224,3],y:0[2]", [("x:0", (None, 224, 224, 3)), ("y:0", (2,))]),
    ("import/x:0, scope/y", [("import/x:0", None), ("scope/y:0", None)]),
])
def test_inputs_and_outputs_flags(text: str, expected: list) -> None:
    requests = model.parse_requests(text, model.INPUTS_FLAG)
    assert [(request.tensor, request.shape) for request in requests] == expected


@pytest.mark.parametrize("text, flag, message", [
    ("x:1xAx3", model.INPUTS_FLAG, "has a dimension 'A'"),
    ("x:1x28", model.OUTPUTS_FLAG, "takes names only"),
    ("x[1", model.INPUTS_FLAG, r"takes NAME\[:SHAPE\] items"),
])
def test_malformed_flags_say_what_they_take(text: str, flag: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        model.parse_requests(text, flag)


def test_chosen_inputs_must_feed_every_placeholder_the_outputs_need() -> None:
    graph_def = graph(("a", "Placeholder", []), ("b", "Placeholder", []), ("sum", "AddV2", ["a", "b"]),
                      a={"dtype": FLOAT, "shape": [-1, 3]}, b={"dtype": FLOAT, "shape": [-1, 3]})
    inputs, outputs, io_from = model.choose_io(graph_def, HERE)
    assert ([info.name for info in inputs], [info.name for info in outputs], io_from) == (["a", "b"], ["sum"], "inferred")
    with pytest.raises(UsageError, match="the outputs need placeholder 'b', which is not among the inputs"):
        model.choose_io(graph_def, HERE, inputs=model.parse_requests("a", model.INPUTS_FLAG))
    with pytest.raises(UsageError, match="did you mean 'sum'"):
        model.choose_io(graph_def, HERE, outputs=model.parse_requests("sun", model.OUTPUTS_FLAG))


def test_open_dimensions_name_the_flag() -> None:
    graph_def = graph(("image", "Placeholder", []), ("y", "Relu", ["image"]),
                      image={"dtype": FLOAT, "shape": [-1, -1, -1, 3]})
    inputs, outputs, io_from = model.choose_io(graph_def, HERE)
    graph_model = model.GraphModel(graph_def, inputs, outputs, HERE, "frozen GraphDef", io_from)
    with pytest.raises(UsageError, match=r"give its shape with --inputs image:\?xNxNx3"):
        graph_model.require_shapes()
    inputs, outputs, _ = model.choose_io(graph_def, HERE, inputs=model.parse_requests("image:?x?x?x3", model.INPUTS_FLAG))
    model.GraphModel(graph_def, inputs, outputs, HERE, "frozen GraphDef", "given").require_shapes()  # said so


def test_string_attributes_as_character_codes() -> None:
    topology = {"node": [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}},
        {"name": "y", "op": "MaxPool", "input": ["x"], "attr": {
            "padding": {"s": [83, 65, 77, 69]}, "data_format": {"s": {"0": 78, "1": 72, "2": 87, "3": 67}},
            "ksize": {"list": {"i": ["1", "2", "2", "1"]}}}},
    ]}
    graph_def = tfjs.graph_def_from_json(topology, HERE)
    pool = graph_def.node[1]
    assert pool.attr["padding"].s == b"SAME" and pool.attr["data_format"].s == b"NHWC"


def test_tfjs_only_ops_become_tensorflow_ops() -> None:
    graph_def = graph(("x", "Placeholder", []), ("w", "Const", []), ("b", "Const", []), ("alpha", "Const", []),
                      ("dense", "_FusedMatMul", ["x", "w", "b", "alpha"]), ("act", "Prelu", ["dense", "alpha"]))
    dense = graph_def.node[4]
    dense.attr["fused_ops"].list.s.extend([b"BiasAdd", b"Prelu"])
    dense.attr["T"].type = FLOAT
    graph_def.node[2].attr["value"].tensor.tensor_shape.dim.add(size=3)  # a rank-1 bias
    undone = tfjs.undo_tfjs_ops(graph_def, HERE)
    assert undone == {"_FusedMatMul": 1, "Prelu": 1}
    by_name = {node.name: node for node in graph_def.node}
    assert by_name["dense/convkit_MatMul"].op == "MatMul"
    assert by_name["dense/convkit_biasadd"].op == "BiasAdd"
    assert by_name["dense"].op == "Sub" and by_name["act"].op == "Sub"  # Relu(x) - alpha * Relu(-x), named as before
    assert {node.op for node in graph_def.node} >= {"Relu", "Neg", "Mul"}
    assert not {node.op for node in graph_def.node} & {"_FusedMatMul", "Prelu"}
    analysis.check_structure(graph_def, HERE)


def test_a_fused_op_tensorflow_cannot_express_is_refused() -> None:
    graph_def = graph(("x", "Placeholder", []), ("w", "Const", []), ("y", "_FusedConv2D", ["x", "w"]))
    graph_def.node[2].attr["fused_ops"].list.s.append(b"Mystery")
    with pytest.raises(ReadError, match="fuses 'Mystery', which convkit cannot express as TensorFlow ops"):
        tfjs.undo_tfjs_ops(graph_def, HERE)
