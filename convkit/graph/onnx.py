"""The op graph of an ONNX model, with shapes from ``onnx.shape_inference``.

Nodes are the graph's nodes; initializers become the weights of the nodes
that read them; graph inputs and outputs are drawn as their own boxes.
Subgraphs of ``If``/``Loop``/``Scan`` become groups beside the node that runs
them, and calls of the model's local functions become groups holding the
function's body. External data is never read here (shapes are in the protobuf).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.graph import macs as _macs
from convkit.graph.model import Edge, Graph, Group, Node, Weight

Ref = tuple[str, int]
_NO_MACS = frozenset("""
Relu Clip Sigmoid Tanh LeakyRelu PRelu Elu Selu HardSigmoid HardSwish Softmax LogSoftmax Softplus Softsign Gelu Erf
Add Sub Mul Div Pow Sqrt Reciprocal Exp Log Abs Neg Max Min Mean Sum Where Equal Greater Less GreaterOrEqual
LessOrEqual Not And Or Xor Cast CastLike BatchNormalization InstanceNormalization LayerNormalization
GroupNormalization LpNormalization Dropout Identity Reshape Flatten Squeeze Unsqueeze Transpose Concat Split Slice
Gather GatherElements GatherND Pad Expand Tile Shape Size Constant ConstantOfShape Range MaxPool AveragePool
GlobalAveragePool GlobalMaxPool LpPool ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd ReduceL2 ReduceL1
ReduceSumSquare ReduceLogSumExp ArgMax ArgMin Resize Upsample DepthToSpace SpaceToDepth TopK NonZero
NonMaxSuppression QuantizeLinear DequantizeLinear DynamicQuantizeLinear Floor Ceil Round Sign Sin Cos IsNaN IsInf
OneHot ScatterND ScatterElements CumSum Trilu If Loop Scan Mish Celu ThresholdedRelu Shrink Softplus
""".split())
_COUNTED = ("Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum", "LSTM", "GRU", "RNN", "ConvInteger", "MatMulInteger",
            "QLinearConv", "QLinearMatMul")
_ELEMENT_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
                  9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16"}
_MAX_DEPTH = 32


def from_onnx(path: Path, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """The op graph of the ONNX model at ``path`` (``level`` ``auto`` or ``ops``)."""
    from convkit.errors import ReadError
    from convkit.formats import onnx as onnx_format

    if level == "layers":
        raise ReadError(f"{path}: an ONNX model holds ops, not Keras layers; draw it with --level ops")
    model = onnx_format.read_model(path)
    inferred = _infer(model)
    builder = _Builder(str(model.graph.name or Path(path).stem), {
        (function.domain, function.name): function for function in model.functions})
    builder.add_graph(inferred.graph, None, "", {}, 0, top=True)
    if inferred is model:
        builder.graph.notes.append("onnx.shape_inference could not run; shapes are those the file lists")
    return builder.graph


def _infer(model: Any) -> Any:
    import onnx
    from onnx import shape_inference

    try:
        return shape_inference.infer_shapes(model, check_type=False, strict_mode=False, data_prop=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, RuntimeError, ValueError):
        return model


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _value_shape(value: Any) -> tuple[list[Any] | None, str | None]:
    if value.type.WhichOneof("value") != "tensor_type":
        return None, None
    tensor = value.type.tensor_type
    dtype = _ELEMENT_TYPES.get(tensor.elem_type)
    if not tensor.HasField("shape"):
        return None, dtype
    return [dim.dim_value if dim.WhichOneof("value") == "dim_value" else None for dim in tensor.shape.dim], dtype


def _attribute(attribute: Any) -> Any:
    kind = attribute.type
    if kind == 1:
        return attribute.f
    if kind == 2:
        return attribute.i
    if kind == 3:
        return _text(attribute.s)[:200]
    if kind == 6:
        return list(attribute.floats)[:16]
    if kind == 7:
        return list(attribute.ints)[:16]
    if kind == 8:
        return [_text(s)[:50] for s in attribute.strings][:16]
    return None


class _Builder:
    def __init__(self, name: str, functions: dict[tuple[str, str], Any]) -> None:
        self.graph = Graph(name=name, format="onnx", level="ops")
        self.functions = functions
        self.shapes: dict[str, tuple[list[Any] | None, str | None]] = {}
        self.producers: dict[str, Ref] = {}
        self.weights: dict[str, Weight] = {}
        self.pending: list[tuple[Node, list[str], list[str], Any]] = []
        self.aliases: dict[str, str] = {}
        self.scope_parent: dict[str, str] = {}
        self.bodies = 0
        self.ids: set[str] = set()

    def _id(self, wanted: str) -> str:
        node_id = wanted or "node"
        while node_id in self.ids:
            node_id += "_"
        self.ids.add(node_id)
        return node_id

    def add_graph(self, graph: Any, group: str | None, prefix: str, renames: dict[str, str], depth: int,
                  *, top: bool = False) -> None:
        for value in [*graph.input, *graph.output, *graph.value_info]:
            self.shapes.setdefault(prefix + _text(value.name), _value_shape(value))
        for tensor in graph.initializer:
            name = _text(tensor.name)
            dims = [int(d) for d in tensor.dims]
            self.shapes[prefix + name] = (dims, _ELEMENT_TYPES.get(tensor.data_type))
            self.weights[prefix + name] = Weight(name, dims, _ELEMENT_TYPES.get(tensor.data_type, "?"), key=name)
        initializers = {_text(tensor.name) for tensor in graph.initializer}
        if top:
            for value in graph.input:
                name = _text(value.name)
                if name in initializers:
                    continue
                node = Node(id=self._id(f"input:{name}"), name=name, op="Input", group=group, kind="input")
                shape, dtype = self.shapes.get(name, (None, None))
                node.outputs, node.output_dtypes, node.macs, node.macs_status = [shape], [dtype], 0, "none"
                self.graph.nodes.append(node)
                self.producers[name] = (node.id, 0)
        for index, onnx_node in enumerate(graph.node):
            self._add_node(onnx_node, index, group, prefix, renames, depth)
        if top:
            self._wire()
            if self.bodies:
                self.graph.notes.append("control-flow bodies are drawn once and their MACs count one pass")
            for value in graph.output:
                name = _text(value.name)
                node = Node(id=self._id(f"output:{name}"), name=name, op="Output", group=group, kind="output",
                            macs=0, macs_status="none")
                self.graph.nodes.append(node)
                source = self.producers.get(name)
                if source is not None:
                    shape, dtype = self.shapes.get(name, (None, None))
                    self.graph.edges.append(Edge(source[0], node.id, shape, dtype))

    def _add_node(self, onnx_node: Any, index: int, group: str | None, prefix: str, renames: dict[str, str],
                  depth: int) -> None:
        op = _text(onnx_node.op_type)
        domain = _text(onnx_node.domain)
        name = _text(onnx_node.name) or f"{op}_{index}"
        inputs = [renames.get(_text(i)) or self._scoped(_text(i), prefix) if _text(i) else "" for i in onnx_node.input]
        outputs = [prefix + _text(o) for o in onnx_node.output]
        function = self.functions.get((domain, op))
        if function is not None and depth < _MAX_DEPTH:
            group_id = self._id(f"{prefix}{name}")
            self.graph.groups.append(Group(group_id, f"{name} ({op})", "function", group))
            inner = f"{group_id}/"
            self.scope_parent[inner] = prefix
            inner_renames = {_text(arg): value for arg, value in zip(function.input, inputs)}
            self.add_graph(function, group_id, inner, inner_renames, depth + 1)
            for arg, outer in zip(function.output, outputs):
                self.shapes.setdefault(outer, self.shapes.get(inner + _text(arg), (None, None)))
                self._alias(outer, inner + _text(arg))
            return
        node = Node(id=self._id(prefix + name), name=name, op=op if domain in ("", "ai.onnx") else f"{domain}.{op}",
                    group=group, attributes={_text(a.name): v for a in onnx_node.attribute
                                             if (v := _attribute(a)) is not None})
        self.graph.nodes.append(node)
        for position, output in enumerate(outputs):
            if output:
                self.producers[output] = (node.id, position)
        self.pending.append((node, inputs, outputs, onnx_node))
        for attribute in onnx_node.attribute:
            bodies = [attribute.g] if attribute.HasField("g") else list(attribute.graphs)
            for body_index, body in enumerate(bodies):
                if depth >= _MAX_DEPTH:
                    break
                body_group = self._id(f"{node.id}/{_text(attribute.name)}{body_index if len(bodies) > 1 else ''}")
                self.graph.groups.append(Group(body_group, f"{name}: {_text(attribute.name)}", "body", group))
                self.scope_parent[f"{body_group}/"] = prefix
                for value in body.input:  # the body's arguments come from the op that runs it
                    self.producers.setdefault(f"{body_group}/{_text(value.name)}", (node.id, 0))
                self.add_graph(body, body_group, f"{body_group}/", {}, depth + 1)
                self.bodies += 1

    def _scoped(self, name: str, prefix: str) -> str:
        """The full name of a tensor a node in scope ``prefix`` reads: its own scope's, else an enclosing one's."""
        scope = prefix
        while scope:
            if scope + name in self.producers or scope + name in self.weights or scope + name in self.aliases:
                return scope + name
            scope = self.scope_parent.get(scope, "")
        return name

    def _alias(self, outer: str, inner: str) -> None:
        self.aliases[outer] = inner

    def _producer(self, tensor: str) -> Ref | None:
        seen = 0
        while tensor in self.aliases and seen < 10_000:
            tensor = self.aliases[tensor]
            seen += 1
        found = self.producers.get(tensor)
        return found if found and found[0] else None

    def _wire(self) -> None:
        for node, inputs, outputs, onnx_node in self.pending:
            in_shapes = []
            for tensor in inputs:
                shape, dtype = self.shapes.get(tensor, (None, None))
                in_shapes.append(shape)
                if not tensor:
                    continue
                if tensor in self.weights:
                    node.weights.append(self.weights[tensor])
                    continue
                source = self._producer(tensor)
                if source is not None:
                    self.graph.edges.append(Edge(source[0], node.id, shape, dtype))
            outs = [self.shapes.get(output, (None, None)) for output in outputs]
            node.outputs = [shape for shape, _dtype in outs]
            node.output_dtypes = [dtype for _shape, dtype in outs]
            node.macs, node.macs_status = _node_macs(node.op, onnx_node, in_shapes, node.outputs)


def _int_attribute(onnx_node: Any, name: str, default: int) -> int:
    for attribute in onnx_node.attribute:
        if _text(attribute.name) == name:
            return int(attribute.i)
    return default


def _node_macs(op: str, onnx_node: Any, inputs: list[list[Any] | None], outputs: list[list[Any] | None]
               ) -> tuple[int | None, str]:
    out = outputs[0] if outputs else None
    weight = inputs[1] if len(inputs) > 1 else None
    count: int | None
    if op in ("Conv", "ConvInteger"):
        count = _macs.conv(out, weight[2:], weight[1]) if weight and len(weight) >= 3 else None
    elif op == "QLinearConv":
        weight = inputs[3] if len(inputs) > 3 else None
        count = _macs.conv(out, weight[2:], weight[1]) if weight and len(weight) >= 3 else None
    elif op == "ConvTranspose":
        count = _macs.transposed_conv(inputs[0] if inputs else None, weight[2:], weight[1]) if weight and len(weight) >= 3 else None
    elif op in ("MatMul", "MatMulInteger"):
        a = inputs[0] if inputs else None
        count = _macs.matmul(out, a[-1]) if a else None
    elif op == "QLinearMatMul":
        a = inputs[0] if inputs else None
        count = _macs.matmul(out, a[-1]) if a else None
    elif op == "Gemm":
        a = inputs[0] if inputs else None
        contracted = (a[0] if _int_attribute(onnx_node, "transA", 0) else a[-1]) if a and len(a) == 2 else None
        count = _macs.matmul(out, contracted)
    elif op in ("LSTM", "GRU", "RNN"):
        gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[op]
        x = inputs[0] if inputs else None
        hidden = _int_attribute(onnx_node, "hidden_size", 0)
        directions = weight[0] if weight else None
        if x is None or len(x) != 3 or not isinstance(directions, int):
            count = None
        else:
            steps = x[1] if _int_attribute(onnx_node, "layout", 0) else x[0]
            one = _macs.recurrent(steps, gates, x[2], hidden)
            count = None if one is None else one * directions
    elif op == "Einsum":
        count = _einsum(onnx_node, inputs, out)
    elif op in _NO_MACS:
        return 0, "none"
    else:
        return None, "unknown"
    return (count, "counted") if count is not None else (None, "no-shape")


def _einsum(onnx_node: Any, inputs: list[list[Any] | None], out: list[Any] | None) -> int | None:
    equation = ""
    for attribute in onnx_node.attribute:
        if _text(attribute.name) == "equation":
            equation = _text(attribute.s).replace(" ", "")
    if "->" not in equation or equation.count(",") != 1 or len(inputs) != 2 or None in inputs:
        return None
    left, right = equation.split("->")[0].split(",")
    result = equation.split("->")[1]
    a, b = inputs
    if a is None or b is None or len(a) != len(left) or len(b) != len(right):
        return None
    sizes = dict(zip(left, a)) | {k: v for k, v in zip(right, b) if isinstance(v, int)}
    contracted = _macs.product(sizes[c] for c in set(left) & set(right) if c not in result)
    return None if contracted is None else _macs.matmul(out, contracted)
