"""A transformer-shaped ONNX model of any depth, built with onnx.helper (no TensorFlow): the big graph the tests draw.

Each encoder layer holds 49 nodes named as exporters name them
(``/encoder/layer.3/attention/self/query/MatMul``): layer norms, the query, key
and value projections, scaled dot-product attention, the output projection, a
GELU feed-forward block and two residual additions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NODES_PER_LAYER = 49


def transformer_onnx(path: Path, layers: int, *, hidden: int = 16, heads: int = 2, steps: int = 8) -> int:
    """Writes the model; returns its node count (``2 + NODES_PER_LAYER * layers``)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []

    def weight(name: str, *shape: int) -> str:
        initializers.append(numpy_helper.from_array(rng.normal(0, 0.1, shape).astype(np.float32), name))
        return name

    def const(name: str, values: list[int]) -> str:
        initializers.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    def node(op: str, scope: str, inputs: list[str], **attributes: object) -> str:
        name = f"{scope}/{op}" if not any(n.name == f"{scope}/{op}" for n in nodes[-60:]) else f"{scope}/{op}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [name + ":0"], name=name, **attributes))
        return name + ":0"

    def layer_norm(scope: str, x: str) -> str:
        mean = node("ReduceMean", scope, [x], axes=[-1])
        centred = node("Sub", scope, [x, mean])
        squared = node("Mul", scope, [centred, centred])
        variance = node("ReduceMean", scope, [squared], axes=[-1])
        shifted = node("Add", scope, [variance, weight(f"{scope}/eps", 1)])
        root = node("Sqrt", scope, [shifted])
        normed = node("Div", scope, [centred, root])
        scaled = node("Mul", scope, [normed, weight(f"{scope}/gamma", hidden)])
        return node("Add", scope, [scaled, weight(f"{scope}/beta", hidden)])

    def dense(scope: str, x: str, units: int) -> str:
        product = node("MatMul", scope, [x, weight(f"{scope}/kernel", x_units[x] if x in x_units else hidden, units)])
        return node("Add", scope, [product, weight(f"{scope}/bias", units)])

    x_units: dict[str, int] = {}
    split = const("/shape/split_heads", [1, steps, heads, hidden // heads])
    merge = const("/shape/merge_heads", [1, steps, hidden])
    x = node("Identity", "/embeddings", ["input_ids"])
    x = node("Mul", "/embeddings", [x, weight("/embeddings/scale", hidden)])
    for index in range(layers):
        scope = f"/encoder/layer.{index}"
        h = layer_norm(f"{scope}/attention/norm", x)
        heads_of = {}
        for part in ("query", "key", "value"):
            projected = dense(f"{scope}/attention/self/{part}", h, hidden)
            shaped = node("Reshape", f"{scope}/attention/self/{part}", [projected, split])
            heads_of[part] = node("Transpose", f"{scope}/attention/self/{part}", [shaped],
                                  perm=[0, 2, 3, 1] if part == "key" else [0, 2, 1, 3])
        scores = node("MatMul", f"{scope}/attention/self", [heads_of["query"], heads_of["key"]])
        scores = node("Div", f"{scope}/attention/self", [scores, weight(f"{scope}/attention/self/scale", 1)])
        probabilities = node("Softmax", f"{scope}/attention/self", [scores], axis=-1)
        context = node("MatMul", f"{scope}/attention/self", [probabilities, heads_of["value"]])
        context = node("Transpose", f"{scope}/attention/output", [context], perm=[0, 2, 1, 3])
        context = node("Reshape", f"{scope}/attention/output", [context, merge])
        attended = dense(f"{scope}/attention/output/dense", context, hidden)
        x = node("Add", f"{scope}/attention/output", [x, attended])
        h = layer_norm(f"{scope}/output/norm", x)
        inner = dense(f"{scope}/intermediate/dense", h, 4 * hidden)
        x_units[inner] = 4 * hidden
        halved = node("Div", f"{scope}/intermediate/gelu", [inner, weight(f"{scope}/intermediate/gelu/sqrt2", 1)])
        erf = node("Erf", f"{scope}/intermediate/gelu", [halved])
        erf = node("Add", f"{scope}/intermediate/gelu", [erf, weight(f"{scope}/intermediate/gelu/one", 1)])
        gated = node("Mul", f"{scope}/intermediate/gelu", [inner, erf])
        gated = node("Mul", f"{scope}/intermediate/gelu", [gated, weight(f"{scope}/intermediate/gelu/half", 1)])
        x_units[gated] = 4 * hidden
        out = dense(f"{scope}/output/dense", gated, hidden)
        x = node("Add", f"{scope}/output", [x, out])
    graph = helper.make_graph(
        nodes, "transformer",
        [helper.make_tensor_value_info("input_ids", TensorProto.FLOAT, ["batch", steps, hidden])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["batch", steps, hidden])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="convkit tests")
    onnx.checker.check_model(model)
    Path(path).write_bytes(model.SerializeToString())
    return len(nodes)
