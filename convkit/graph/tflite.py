"""The op graph of a TFLite model: operators with the shapes their tensors carry.

Constant tensors become the weights of the operators that read them; the
subgraph's inputs and outputs are drawn as their own boxes. Subgraphs other
than the first (``WHILE``/``IF`` bodies, ``CALL_ONCE`` initialisers) are
groups of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.graph import macs as _macs
from convkit.graph.model import Edge, Graph, Group, Node, Weight

_NO_MACS = frozenset("""
ADD SUB MUL DIV RELU RELU6 RELU_N1_TO_1 RELU_0_TO_1 LOGISTIC TANH SOFTMAX LOG_SOFTMAX HARD_SWISH LEAKY_RELU PRELU ELU
GELU EXP LOG SQRT RSQRT SQUARE ABS NEG POW MAXIMUM MINIMUM SQUARED_DIFFERENCE RESHAPE SQUEEZE EXPAND_DIMS TRANSPOSE
CONCATENATION SPLIT SPLIT_V SLICE STRIDED_SLICE GATHER GATHER_ND PAD PADV2 MIRROR_PAD TILE PACK UNPACK SHAPE FILL
MAX_POOL_2D AVERAGE_POOL_2D L2_POOL_2D MEAN SUM REDUCE_MAX REDUCE_MIN REDUCE_PROD ARG_MAX ARG_MIN RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR QUANTIZE DEQUANTIZE CAST L2_NORMALIZATION LOCAL_RESPONSE_NORMALIZATION DEPTH_TO_SPACE
SPACE_TO_DEPTH BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND BROADCAST_TO SELECT SELECT_V2 EQUAL NOT_EQUAL LESS LESS_EQUAL
GREATER GREATER_EQUAL LOGICAL_AND LOGICAL_OR LOGICAL_NOT FLOOR CEIL ROUND SIN COS ZEROS_LIKE ONE_HOT RANGE CUMSUM
WHILE IF CALL_ONCE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE REVERSE_V2 TOPK_V2 WHERE FLOOR_DIV FLOOR_MOD ADD_N SIGN SUM
""".split())


def from_tflite(path: Path, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """The op graph of the TFLite model at ``path`` (``level`` ``auto`` or ``ops``)."""
    from convkit.errors import ReadError
    from convkit.formats import tflite as tflite_format

    if level == "layers":
        raise ReadError(f"{path}: a TFLite model holds operators, not Keras layers; draw it with --level ops")
    subgraphs = tflite_format.operator_graph(path)
    graph = Graph(name=Path(path).stem, format="tflite", level="ops")
    for index, subgraph in enumerate(subgraphs):
        group = None
        if index:
            group = f"subgraph{index}"
            graph.groups.append(Group(group, f"subgraph {index}: {subgraph['name']}", "subgraph", None))
        _add_subgraph(graph, subgraph, index, group)
    return graph


def _shape(tensor: dict[str, Any]) -> list[Any]:
    signature = tensor.get("shape_signature")
    if signature and len(signature) == len(tensor["shape"]):
        return [None if s < 0 else d for s, d in zip(signature, tensor["shape"])]
    return list(tensor["shape"])


def _add_subgraph(graph: Graph, subgraph: dict[str, Any], index: int, group: str | None) -> None:
    prefix = f"s{index}:" if index else ""
    tensors = subgraph["tensors"]
    producers: dict[int, str] = {}
    for position in subgraph["inputs"]:
        tensor = tensors[position]
        node = Node(id=f"{prefix}input:{position}", name=tensor["name"], op="Input", group=group, kind="input",
                    outputs=[_shape(tensor)], output_dtypes=[tensor["dtype"]], macs=0, macs_status="none")
        graph.nodes.append(node)
        producers[position] = node.id
    for number, operator in enumerate(subgraph["operators"]):
        outputs = [p for p in operator["outputs"] if p >= 0]
        name = tensors[outputs[0]]["name"] if outputs else f"{operator['op']}_{number}"
        node = Node(id=f"{prefix}op:{number}", name=name, op=operator["op"], group=group,
                    attributes={"index": number, **({"custom": True} if operator["custom"] else {})})
        node.outputs = [_shape(tensors[p]) for p in outputs]
        node.output_dtypes = [tensors[p]["dtype"] for p in outputs]
        in_shapes: list[list[Any] | None] = []
        for position in operator["inputs"]:
            if position < 0:
                in_shapes.append(None)
                continue
            tensor = tensors[position]
            in_shapes.append(_shape(tensor))
            if tensor["constant"]:
                node.weights.append(Weight(tensor["name"], list(tensor["shape"]), tensor["dtype"], key=tensor["name"]))
            elif position in producers:
                graph.edges.append(Edge(producers[position], node.id, _shape(tensor), tensor["dtype"]))
        node.macs, node.macs_status = _operator_macs(operator["op"], in_shapes, node.outputs)
        graph.nodes.append(node)
        for position in outputs:
            producers[position] = node.id
    for position in subgraph["outputs"]:
        tensor = tensors[position]
        node = Node(id=f"{prefix}output:{position}", name=tensor["name"], op="Output", group=group, kind="output",
                    macs=0, macs_status="none")
        graph.nodes.append(node)
        if position in producers:
            graph.edges.append(Edge(producers[position], node.id, _shape(tensor), tensor["dtype"]))


def _operator_macs(op: str, inputs: list[list[Any] | None], outputs: list[list[Any] | None]) -> tuple[int | None, str]:
    out = outputs[0] if outputs else None
    weights = inputs[1] if len(inputs) > 1 else None
    count: int | None
    if op == "CONV_2D":
        count = _macs.conv(out, weights[1:3], weights[3]) if weights and len(weights) == 4 else None
    elif op == "CONV_3D":
        count = _macs.conv(out, weights[:3], weights[3]) if weights and len(weights) == 5 else None
    elif op == "DEPTHWISE_CONV_2D":
        count = _macs.depthwise(out, weights[1:3]) if weights and len(weights) == 4 else None
    elif op == "FULLY_CONNECTED":
        count = _macs.matmul(out, weights[-1]) if weights else None
    elif op == "BATCH_MATMUL":
        a = inputs[0] if inputs else None
        count = _macs.matmul(out, a[-1]) if a else None
    elif op == "TRANSPOSE_CONV":
        # inputs: output shape, weights [out, h, w, in], input
        weights = inputs[1] if len(inputs) > 1 else None
        source = inputs[2] if len(inputs) > 2 else None
        count = _macs.transposed_conv(source, weights[1:3], weights[0]) if weights and len(weights) == 4 else None
    elif op in ("UNIDIRECTIONAL_SEQUENCE_LSTM", "UNIDIRECTIONAL_SEQUENCE_RNN", "BIDIRECTIONAL_SEQUENCE_LSTM"):
        x = inputs[0] if inputs else None
        gates = 1 if op.endswith("RNN") else 4
        # the input-to-forget weights [units, input] (LSTM), or the input weights (RNN)
        weight = inputs[2 if gates == 4 else 1] if len(inputs) > 2 else None
        if x is None or len(x) != 3 or not weight:
            count = None
        else:
            one = _macs.recurrent(x[1], gates, x[2], weight[0])
            count = None if one is None else one * (2 if op.startswith("BIDIRECTIONAL") else 1)
    elif op in _NO_MACS:
        return 0, "none"
    else:
        return None, "unknown"
    return (count, "counted") if count is not None else (None, "no-shape")
