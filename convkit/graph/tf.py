"""The op graph of a TensorFlow GraphDef: SavedModel signature functions and TF.js graph models.

Both are read in one form, GraphDef as JSON (what TF.js' ``modelTopology``
holds and what ``json_format.MessageToDict`` makes of a SavedModel's
protobuf). Called functions (``PartitionedCall``/``StatefulPartitionedCall``)
are drawn as groups holding their body, wired to the caller's inputs and
outputs; control-flow bodies (``If``/``While`` branches) become groups beside
the op that runs them. ``Const`` and variable handles are folded into the ops
that read them, as their weights. Shapes come from the ``_output_shapes``
attributes where the file has them, else from :mod:`convkit.graph.tf_shapes`.
"""

from __future__ import annotations

import base64
from typing import Any

from convkit.graph import tf_shapes
from convkit.graph.tf_shapes import attr_text
from convkit.graph.model import Edge, Graph, Group, Node, Weight, topological

Ref = tuple[str, int]
_CALLS = ("PartitionedCall", "StatefulPartitionedCall")
_BODIES = {"If": ("then_branch", "else_branch"), "StatelessIf": ("then_branch", "else_branch"),
           "While": ("cond", "body"), "StatelessWhile": ("cond", "body"), "Case": ("branches",),
           "StatelessCase": ("branches",)}
_WEIGHT_OPS = ("Const", "VarHandleOp", "VariableV2", "Variable")
_MAX_DEPTH = 32
# Output argument names whose position is not the index after the colon (``node:name:index`` in functions).
_OUTPUT_OFFSETS = {
    "batch_mean": 1, "batch_variance": 2, "reserve_space_1": 3, "reserve_space_2": 4, "reserve_space_3": 5,
    "indices": 1, "idx": 1,
}


def op_graph(graph_def: dict[str, Any], *, format: str, name: str, functions: dict[str, dict[str, Any]] | None = None,
             weight_shapes: dict[str, tuple[list[int], str]] | None = None, outputs: list[str] | None = None,
             input_shapes: dict[str, list[Any]] | None = None, weight_keys: dict[str, str] | None = None,
             constant_values: dict[str, list[int]] | None = None) -> Graph:
    """The op graph of ``graph_def`` (GraphDef as JSON: ``node``, ``library.function``).

    Args:
        graph_def: the graph, JSON form.
        format: the registry name of the file's format.
        name: the graph's name in the drawing.
        functions: the function library by name (default: ``graph_def["library"]["function"]``).
        weight_shapes: (shape, dtype) of ``Const`` nodes whose values live elsewhere (a TF.js
            weights manifest), by node name.
        outputs: tensor names (``node:0``) whose producers are drawn, with all they depend on;
            default: every node.
        input_shapes: shapes of placeholders by node name (a signature's), used where the graph has none.
        weight_keys: the inspect-report name of a weight (``Const`` or variable handle), by node name.
        constant_values: values of small integer ``Const`` nodes stored outside the graph (shapes, axes).
    """
    library = functions
    if library is None:
        library = {fn.get("signature", {}).get("name", ""): fn
                   for fn in (graph_def.get("library") or {}).get("function") or [] if isinstance(fn, dict)}
    builder = _Builder(format, name, library, weight_shapes or {}, input_shapes or {}, weight_keys or {})
    builder.constant_values = constant_values or {}
    nodes = [node for node in graph_def.get("node") or [] if isinstance(node, dict)]
    if outputs:
        nodes = _reachable(nodes, [tensor.split(":")[0] for tensor in outputs])
    builder.add_scope(nodes, None, "", {}, 0, top=True)
    builder.finish()
    return builder.graph


def _reachable(nodes: list[dict[str, Any]], names: list[str]) -> list[dict[str, Any]]:
    by_name = {str(node.get("name")): node for node in nodes}
    keep: set[str] = set()
    stack = [name for name in names if name in by_name]
    while stack:
        name = stack.pop()
        if name in keep:
            continue
        keep.add(name)
        for source in by_name[name].get("input") or []:
            if isinstance(source, str) and not source.startswith("^"):
                producer = source.split(":")[0]
                if producer in by_name:
                    stack.append(producer)
    return [node for node in nodes if str(node.get("name")) in keep]


class _Builder:
    def __init__(self, format: str, name: str, library: dict[str, dict[str, Any]],
                 weight_shapes: dict[str, tuple[list[int], str]], input_shapes: dict[str, list[Any]],
                 weight_keys: dict[str, str]) -> None:
        self.graph = Graph(name=name, format=format, level="ops")
        self.library = library
        self.weight_shapes = weight_shapes
        self.input_shapes = input_shapes
        self.weight_keys = weight_keys
        self.defs: dict[str, dict[str, Any]] = {}
        self.inputs: dict[str, list[Ref]] = {}
        self.aliases: dict[Ref, Ref] = {}
        self.weights: dict[str, Weight] = {}
        self.order: list[str] = []
        self.loop_bodies = 0
        self.constant_values: dict[str, list[int]] = {}

    # ------------------------------------------------------------------ structure

    def add_scope(self, nodes: list[dict[str, Any]], group: str | None, prefix: str, args: dict[str, Ref], depth: int,
                  *, top: bool = False) -> dict[str, dict[str, Any]]:
        """Adds one graph or function body; returns its nodes by name (for ``ret`` lookups)."""
        by_name = {str(node.get("name")): node for node in nodes}

        def ref(source: str) -> Ref | None:
            if source.startswith("^"):
                return None
            parts = source.split(":")
            if parts[0] in args and len(parts) == 1:
                return args[parts[0]]
            if parts[0] not in by_name:
                return args.get(parts[0])
            if len(parts) == 3:  # node:output_arg:index inside a function
                index = int(parts[2]) + _OUTPUT_OFFSETS.get(parts[1], 0) if parts[2].isdigit() else 0
            else:
                index = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else 0
            return (prefix + parts[0], index)

        for node in nodes:
            name = str(node.get("name"))
            node_id = prefix + name
            op = str(node.get("op", "?"))
            inputs = [r for r in (ref(s) for s in node.get("input") or [] if isinstance(s, str)) if r is not None]
            self.defs[node_id] = node
            self.inputs[node_id] = inputs
            if op in _WEIGHT_OPS:
                self.weights[node_id] = self._weight(node, name)
                continue
            function = _attr_function(node, "f")
            if op in _CALLS and function in self.library and depth < _MAX_DEPTH:
                self._call(node_id, name, function, inputs, group, depth)
                continue
            self.order.append(node_id)
            self.graph.nodes.append(Node(id=node_id, name=name, op=op, group=group,
                                         attributes=_attributes(node.get("attr") or {})))
            for field in _BODIES.get(op, ()):
                for index, body in enumerate(_attr_functions(node, field)):
                    if body in self.library and depth < _MAX_DEPTH:
                        self.loop_bodies += 1
                        body_inputs = inputs[1:] if op.endswith("If") or op.endswith("Case") else inputs
                        body_group = f"{node_id}/{field}{index if field == 'branches' else ''}"
                        label = f"{name}: {field.replace('_', ' ')}{index if field == 'branches' else ''} ({body})"
                        self.graph.groups.append(Group(body_group, label, "body", group))
                        self._body(body, body_group, body_inputs, depth + 1)
        return by_name

    def _call(self, node_id: str, name: str, function: str, inputs: list[Ref], group: str | None, depth: int) -> None:
        label = f"{name} ({function})" if not name.startswith(("StatefulPartitionedCall", "PartitionedCall")) else function
        self.graph.groups.append(Group(node_id, label, "function", group))
        rets = self._body(function, node_id, inputs, depth + 1)
        for index, target in enumerate(rets):
            if target is not None:
                self.aliases[(node_id, index)] = target

    def _body(self, function: str, group: str, inputs: list[Ref], depth: int) -> list[Ref | None]:
        body = self.library[function]
        signature = body.get("signature") or {}
        arg_names = [str(arg.get("name")) for arg in signature.get("inputArg") or []]
        args = dict(zip(arg_names, inputs))
        for arg in signature.get("inputArg") or []:  # resource arguments carry their variable's shape
            handle = arg.get("handleData")
            if str(arg.get("name")) not in args and handle:
                args[str(arg.get("name"))] = (f"{group}/{arg.get('name')}", 0)
        nodes = [node for node in body.get("nodeDef") or [] if isinstance(node, dict)]
        prefix = f"{group}/"
        for arg in signature.get("inputArg") or []:
            handle = (arg.get("handleData") or [None])[0]
            if isinstance(handle, dict) and args.get(str(arg.get("name"))) is not None:
                source = args[str(arg.get("name"))]
                if source[0] not in self.weights and source[0] not in self.defs:
                    self.weights[source[0]] = Weight(str(arg.get("name")), _dims_or_empty(handle.get("shape")),
                                                     _dtype(handle.get("dtype")))
        by_name = self.add_scope(nodes, group, prefix, args, depth)
        rets: list[Ref | None] = []
        ret_map = body.get("ret") or {}
        for output in signature.get("outputArg") or []:
            ret_source = ret_map.get(str(output.get("name")))
            if not isinstance(ret_source, str):
                rets.append(None)
                continue
            parts = ret_source.split(":")
            if parts[0] in by_name:
                index = int(parts[2]) + _OUTPUT_OFFSETS.get(parts[1], 0) if len(parts) == 3 and parts[2].isdigit() else 0
                rets.append((prefix + parts[0], index))
            else:
                rets.append(args.get(parts[0]))
        return rets

    def _weight(self, node: dict[str, Any], name: str) -> Weight:
        attrs = node.get("attr") or {}
        if name in self.weight_shapes:
            shape, dtype = self.weight_shapes[name]
        elif str(node.get("op")) == "Const":
            tensor = (attrs.get("value") or {}).get("tensor") or {}
            shape, dtype = _dims_or_empty(tensor.get("tensorShape")), _dtype(tensor.get("dtype"))
        else:
            shape, dtype = _dims_or_empty((attrs.get("shape") or {}).get("shape")), _dtype((attrs.get("dtype") or {}).get("type"))
        key = self.weight_keys.get(name) or self.weight_keys.get(str((attrs.get("shared_name") or {}).get("s", "")))
        return Weight(name.split("/")[-1], [int(d) for d in shape], dtype, key=key or (name if name in self.weight_shapes else None))

    # ------------------------------------------------------------------ wiring, shapes, MACs

    def _resolve(self, ref: Ref) -> Ref:
        seen = 0
        while ref in self.aliases and seen < 10_000:
            ref = self.aliases[ref]
            seen += 1
        return ref

    def _values(self, ref: Ref) -> list[int] | None:
        definition = self.defs.get(ref[0])
        if ref[1] != 0 or definition is None:
            return None
        stored = self.constant_values.get(str(definition.get("name")))
        return stored if stored is not None else _const_values(definition)

    def finish(self) -> None:
        nodes = {node.id: node for node in self.graph.nodes}
        shapes: dict[Ref, list[Any] | None] = {}
        dtypes: dict[Ref, str | None] = {}
        for weight_id, weight in self.weights.items():
            shapes[(weight_id, 0)] = list(weight.shape)
            dtypes[(weight_id, 0)] = weight.dtype
        resolved = {node_id: [self._resolve(ref) for ref in self.inputs[node_id]] for node_id in self.order}
        # Reading a variable is part of the weight, as a constant is: the op that uses the value owns it.
        reads = [node_id for node_id in self.order if nodes[node_id].op == "ReadVariableOp" and resolved[node_id]
                 and resolved[node_id][0][0] in self.weights]
        for node_id in reads:
            self.weights[node_id] = self.weights[resolved[node_id][0][0]]
        if reads:
            dropped = set(reads)
            self.order = [node_id for node_id in self.order if node_id not in dropped]
            self.graph.nodes = [node for node in self.graph.nodes if node.id not in dropped]
            for weight_id in reads:
                shapes[(weight_id, 0)] = list(self.weights[weight_id].shape)
                dtypes[(weight_id, 0)] = self.weights[weight_id].dtype
        for node_id in topological(self.order, {node_id: {ref[0] for ref in refs} for node_id, refs in resolved.items()}):
            node = nodes[node_id]
            definition = self.defs[node_id]
            refs = resolved[node_id]
            in_shapes = [shapes.get(ref) for ref in refs]
            in_values = [self._values(ref) for ref in refs]
            recorded = _output_shapes(definition)
            if node.op == "Placeholder" and not recorded:
                given = self.input_shapes.get(node.name)
                recorded = [given] if given is not None else [_dims_or_none((definition.get("attr") or {}).get("shape", {}).get("shape"))]
            computed = tf_shapes.output_shapes(node.op, definition.get("attr") or {}, in_shapes, in_values)
            outputs = _merge(recorded, computed)
            node.outputs = outputs
            out_dtype = _output_dtype(definition, [dtypes.get(ref) for ref in refs])
            node.output_dtypes = [out_dtype] * len(outputs)
            for index, shape in enumerate(outputs):
                shapes[(node_id, index)] = shape
                dtypes[(node_id, index)] = out_dtype
            node.macs, node.macs_status = tf_shapes.macs(node.op, definition.get("attr") or {}, in_shapes, outputs)
            for ref in refs:
                if ref[0] in self.weights:
                    weight = self.weights[ref[0]]
                    if all(w is not weight for w in node.weights):
                        node.weights.append(weight)
                elif ref[0] in nodes:
                    self.graph.edges.append(Edge(ref[0], node_id, shapes.get(ref), dtypes.get(ref)))
        if self.loop_bodies:
            self.graph.notes.append("control-flow bodies are drawn once and their MACs count one pass")


# ---------------------------------------------------------------------- attributes in JSON form


def _attr_function(node: dict[str, Any], field: str) -> str | None:
    value = (node.get("attr") or {}).get(field) or {}
    name = (value.get("func") or {}).get("name") if isinstance(value, dict) else None
    return str(name) if name else None


def _attr_functions(node: dict[str, Any], field: str) -> list[str]:
    value = (node.get("attr") or {}).get(field) or {}
    if not isinstance(value, dict):
        return []
    if "func" in value:
        name = (value.get("func") or {}).get("name")
        return [str(name)] if name else []
    return [str(f.get("name")) for f in (value.get("list") or {}).get("func") or [] if isinstance(f, dict)]


def _attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for key, value in attrs.items():
        if key.startswith("_") or not isinstance(value, dict) or key == "value":
            continue
        if "s" in value:
            text = attr_text(value)
            if text is not None and text.isprintable() and len(text) <= 200:
                shown[key] = text
        elif "i" in value or "f" in value or "b" in value:
            shown[key] = value.get("i", value.get("f", value.get("b")))
        elif "type" in value:
            shown[key] = _dtype(value["type"])
        elif "list" in value and isinstance(value["list"], dict):
            listed = value["list"]
            items = listed.get("i") or listed.get("f") or [_dtype(t) for t in listed.get("type") or []]
            if items and len(items) <= 16:
                shown[key] = [int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v for v in items]
        elif "func" in value:
            shown[key] = (value.get("func") or {}).get("name")
        elif "shape" in value:
            shown[key] = _dims_or_none(value.get("shape"))
    return shown


def _dims_or_none(shape: Any) -> list[Any] | None:
    if not isinstance(shape, dict) or shape.get("unknownRank"):
        return None
    dims = []
    for dim in shape.get("dim") or []:
        size = int(dim.get("size", -1)) if isinstance(dim, dict) else -1
        dims.append(size if size >= 0 else None)
    return dims


def _dims_or_empty(shape: Any) -> list[int]:
    dims = _dims_or_none(shape) or []
    return [d if isinstance(d, int) else 0 for d in dims]


def _output_shapes(node: dict[str, Any]) -> list[list[Any] | None]:
    listed = ((node.get("attr") or {}).get("_output_shapes") or {}).get("list") or {}
    return [_dims_or_none(shape) for shape in listed.get("shape") or []]


def _merge(recorded: list[list[Any] | None], computed: list[list[Any] | None]) -> list[list[Any] | None]:
    count = max(len(recorded), len(computed), 1)
    merged: list[list[Any] | None] = []
    for index in range(count):
        first = recorded[index] if index < len(recorded) else None
        second = computed[index] if index < len(computed) else None
        if first is not None and second is not None and len(first) == len(second):
            merged.append([a if a is not None else b for a, b in zip(first, second)])
        else:
            merged.append(first if first is not None else second)
    return merged


def _dtype(value: Any) -> str:
    text = str(value or "DT_FLOAT")
    names = {"DT_FLOAT": "float32", "DT_DOUBLE": "float64", "DT_HALF": "float16", "DT_BFLOAT16": "bfloat16",
             "DT_INT32": "int32", "DT_INT64": "int64", "DT_INT8": "int8", "DT_UINT8": "uint8", "DT_INT16": "int16",
             "DT_UINT16": "uint16", "DT_BOOL": "bool", "DT_STRING": "string", "DT_RESOURCE": "resource",
             "DT_VARIANT": "variant", "DT_COMPLEX64": "complex64"}
    return names.get(text, text.lower().removeprefix("dt_"))


def _output_dtype(node: dict[str, Any], inputs: list[str | None]) -> str | None:
    attrs = node.get("attr") or {}
    for key in ("dtype", "T", "out_type", "DstT", "Tout", "output_type"):
        value = attrs.get(key)
        if isinstance(value, dict) and "type" in value:
            return _dtype(value["type"])
    known = [dtype for dtype in inputs if dtype and dtype != "resource"]
    return known[0] if known else None


def _const_values(node: dict[str, Any] | None) -> list[Any] | None:
    """The values of a small integer ``Const`` (shapes, axes, paddings), else ``None``."""
    if not node or node.get("op") != "Const":
        return None
    tensor = ((node.get("attr") or {}).get("value") or {}).get("tensor") or {}
    for field in ("intVal", "int64Val"):
        values = tensor.get(field)
        if isinstance(values, list):
            count = 1
            for dim in _dims_or_empty(tensor.get("tensorShape")):
                count *= dim
            values = [int(v) for v in values]
            return values * count if len(values) == 1 and count > 1 else values
    content = tensor.get("tensorContent")
    if isinstance(content, str) and len(content) <= 4096:
        import numpy as np

        raw = base64.b64decode(content)
        dtype = {"DT_INT32": "<i4", "DT_INT64": "<i8"}.get(str(tensor.get("dtype")))
        if dtype:
            return [int(v) for v in np.frombuffer(raw, dtype=dtype)]
    return None


# ---------------------------------------------------------------------- formats holding a GraphDef


def from_tfjs(path: Any, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """A TF.js model's graph: the layer graph of a layers model, the op graph of a graph model."""
    from pathlib import Path

    from convkit.errors import ReadError
    from convkit.formats import tfjs
    from convkit.graph import keras

    document = tfjs.read_model_json(Path(path))
    topology: dict[str, Any] = document["modelTopology"] if isinstance(document.get("modelTopology"), dict) else {}
    rows = [weight for group in document.get("weightsManifest") or [] for weight in group.get("weights") or []]
    if document.get("format") == "graph-model" or "node" in topology:
        if level == "layers":
            raise ReadError(f"{path}: a TF.js graph model holds ops, not Keras layers; draw it without --level layers")
        shapes = {str(row["name"]): ([int(d) for d in row["shape"]], str(row.get("dtype", "float32"))) for row in rows}
        signature: dict[str, Any] = document["signature"] if isinstance(document.get("signature"), dict) else {}
        inputs = {}
        for info in (signature.get("inputs") or {}).values():
            if isinstance(info, dict) and isinstance(info.get("name"), str):
                inputs[info["name"].split(":")[0]] = _dims_or_none(info.get("tensorShape"))
        small = {str(row["name"]) for row in rows if row.get("dtype") == "int32" and "quantization" not in row
                 and len(row["shape"]) <= 1 and (not row["shape"] or int(row["shape"][0]) <= 64)}
        values = {name: [int(v) for v in array.reshape(-1)] for name, array in tfjs.iter_weights(Path(path))
                  if name in small} if small else {}
        return op_graph(topology, format="tfjs", name=Path(path).name, weight_shapes=shapes,
                        input_shapes={k: v for k, v in inputs.items() if v is not None}, constant_values=values)
    keras._refuse_ops(path, level, "a TF.js layers model")
    config: dict[str, Any] = topology["model_config"] if isinstance(topology.get("model_config"), dict) else topology
    return keras.layer_graph(config, format="tfjs", weights=[{"name": row["name"], "shape": row["shape"],
                                                               "dtype": row.get("dtype", "float32")} for row in rows])


def from_savedmodel(path: Any, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """A SavedModel's graph: the Keras layer graph when ``keras_metadata.pb`` holds one (and ``level`` is not
    ``ops``), else the op graph of the ``serving_default`` signature (or the first one); ``report``: its inspect
    report, when the caller has it (else it is inspected again)."""
    from pathlib import Path

    from google.protobuf.json_format import MessageToDict

    from convkit.errors import ReadError
    from convkit.formats import savedmodel
    from convkit.graph import keras

    directory = Path(path)
    saved = savedmodel.read_saved_model(directory)
    keys = _variable_keys(directory, saved)
    if level != "ops":
        report = report if report is not None else savedmodel.inspect(directory).to_dict()
        config = (report.get("keras_metadata") or {}).get("model_config")
        if isinstance(config, dict) and config.get("config"):
            rows = [{"name": name, "shape": shape, "dtype": dtype, "key": keys.get(name)}
                    for name, (shape, dtype) in _variables(saved).items()]
            return keras.layer_graph(config, format="savedmodel", weights=rows)
        if level == "layers":
            raise ReadError(f"{path}: the SavedModel holds no Keras config (no keras_metadata.pb); draw it without --level")
    meta_graph = next((m for m in saved.meta_graphs if "serve" in m.meta_info_def.tags), saved.meta_graphs[0])
    signatures = meta_graph.signature_def
    if not signatures:
        raise ReadError(f"{path}: the SavedModel has no signature to draw")
    key = "serving_default" if "serving_default" in signatures else sorted(signatures)[0]
    signature = signatures[key]
    graph_def = type(meta_graph.graph_def)()
    graph_def.CopyFrom(meta_graph.graph_def)
    _strip_large_constants(graph_def)
    document = MessageToDict(graph_def)
    inputs = {info.name.split(":")[0]: [None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim]
              for info in signature.inputs.values() if not info.tensor_shape.unknown_rank}
    graph = op_graph(document, format="savedmodel", name=f"{directory.name} ({key})",
                     outputs=[info.name for info in signature.outputs.values()], input_shapes=inputs, weight_keys=keys)
    if len(signatures) > 1:
        graph.notes.append(f"drew signature {key!r} of {len(signatures)}: {', '.join(sorted(signatures))}")
    return graph


def _variables(saved: Any) -> dict[str, tuple[list[int], str]]:
    from convkit.containers import protobuf

    found: dict[str, tuple[list[int], str]] = {}
    for node in saved.meta_graphs[0].object_graph_def.nodes:
        if node.WhichOneof("kind") == "variable":
            variable = node.variable
            shape = [max(int(d.size), 0) for d in variable.shape.dim]
            found.setdefault(variable.name, (shape, protobuf.dtype_name(variable.dtype)))
    return found


def _variable_keys(directory: Any, saved: Any) -> dict[str, str]:
    """Variable name -> its key in ``variables/variables.index`` (object graphs of the SavedModel and its
    checkpoint list the same objects in the same order)."""
    from convkit.errors import ReadError
    from convkit.formats import checkpoint

    prefix = directory / "variables" / "variables"
    if not prefix.with_name("variables.index").is_file():
        return {}
    try:
        stored = checkpoint.read_object_graph(prefix)
    except ReadError:
        return {}
    if stored is None:
        return {}
    keys: dict[str, str] = {}
    for number, node in enumerate(saved.meta_graphs[0].object_graph_def.nodes):
        if node.WhichOneof("kind") != "variable" or number >= len(stored.nodes):
            continue
        for attribute in stored.nodes[number].attributes:
            if attribute.name == "VARIABLE_VALUE":
                keys.setdefault(node.variable.name, attribute.checkpoint_key)
    return keys


_LARGE_CONSTANT_BYTES = 4096


def _strip_large_constants(graph_def: Any) -> None:
    """Drops the bytes of large constants (kept: their dtype and shape), so the JSON form stays small."""
    nodes = [*graph_def.node, *(node for function in graph_def.library.function for node in function.node_def)]
    for node in nodes:
        if node.op == "Const" and "value" in node.attr:
            tensor = node.attr["value"].tensor
            if len(tensor.tensor_content) > _LARGE_CONSTANT_BYTES:
                tensor.tensor_content = b""
            for field in ("float_val", "double_val", "half_val"):
                if len(getattr(tensor, field)) > 64:
                    tensor.ClearField(field)



def from_frozen_graph(path: Any, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """A frozen GraphDef's op graph, from its inputs to the outputs inspect names (every node when none is found)."""
    from pathlib import Path

    from convkit.formats import frozen_graph
    from convkit.graph_model.model import described_io

    _refuse_layers(path, level, "a frozen GraphDef")
    graph_def = frozen_graph.read_graph_def(Path(path))
    return _graph_def_graph(graph_def, Path(path).name, "pb", described_io(graph_def, Path(path))[1])


def from_metagraph(path: Any, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """A TF1 checkpoint's op graph, read from its ``.meta`` MetaGraph: what its outputs need, savers left out."""
    from pathlib import Path

    from convkit.formats import metagraph
    from convkit.graph_model.freeze import saver_scope
    from convkit.graph_model.model import described_io

    _refuse_layers(path, level, "a TF1 MetaGraph")
    _prefix, meta, meta_graph = metagraph.read_meta(Path(path))
    outputs = described_io(meta_graph.graph_def, meta, skip_scopes=saver_scope(meta_graph))[1]
    return _graph_def_graph(meta_graph.graph_def, meta.name, "metagraph", outputs)


def from_tfjs_legacy(path: Any, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """A TF.js 0.x model's op graph (``tensorflowjs_model.pb``), its weights' shapes from the manifest."""
    from pathlib import Path

    from convkit.formats import tfjs_pb
    from convkit.graph_model.model import described_io

    _refuse_layers(path, level, "a TF.js 0.x graph model")
    graph_def, manifest = tfjs_pb.read_checked_graph(Path(path))
    shapes = {str(row["name"]): ([int(d) for d in row["shape"]], str(row.get("dtype", "float32")))
              for group in manifest for row in group["weights"]}
    graph_file = tfjs_pb.model_folder(Path(path)) / tfjs_pb.GRAPH_FILE
    return _graph_def_graph(graph_def, graph_file.name, "tfjs-pb", described_io(graph_def, graph_file)[1],
                            weight_shapes=shapes)


def _refuse_layers(path: Any, level: str, what: str) -> None:
    from convkit.errors import ReadError

    if level == "layers":
        raise ReadError(f"{path}: {what} holds ops, not Keras layers; draw it without --level layers")


def _graph_def_graph(graph_def: Any, name: str, format: str, outputs: list[Any],
                     weight_shapes: dict[str, tuple[list[int], str]] | None = None) -> Graph:
    """The op graph of a GraphDef message, drawn back from ``outputs`` (every node when there are none)."""
    from google.protobuf.json_format import MessageToDict

    copy = type(graph_def)()
    copy.CopyFrom(graph_def)
    _strip_large_constants(copy)
    return op_graph(MessageToDict(copy), format=format, name=name, weight_shapes=weight_shapes,
                    outputs=[tensor.tensor for tensor in outputs] or None)
