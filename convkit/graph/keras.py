"""The Keras layer graph, read from a model config as data (``.h5``, ``.keras``, TF.js layers, Keras SavedModels).

Functional models (``layers`` with ``inbound_nodes`` and ``input_layers``/
``output_layers``) and Sequential models of both Keras generations; a model
used as a layer becomes a group holding its own layers (collapsible in the
drawing), wired to the layers around it. Output shapes come from the file
where Keras 3 records them (the shapes of the tensors in ``inbound_nodes``),
else from the layer rules of :mod:`convkit.graph.keras_layers`. Nothing is
deserialised: a Lambda layer is a box with its class name, never code.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from convkit.graph import keras_layers
from convkit.graph.model import Edge, Graph, Group, Node, Weight, topological

_MODEL_CLASSES = ("Functional", "Model", "Sequential")
Ref = tuple[str, int]


def is_model(layer: dict[str, Any]) -> bool:
    config = layer.get("config")
    return layer.get("class_name") in _MODEL_CLASSES or (isinstance(config, dict) and isinstance(config.get("layers"), list)
                                                        and "class_name" in layer and layer.get("class_name") not in ("Bidirectional",))


def layer_graph(model_config: dict[str, Any], *, format: str, weights: list[dict[str, Any]] = (),  # type: ignore[assignment]
                keras3_keys: bool = False) -> Graph:
    """The layer graph of ``model_config`` (``{"class_name", "config"}``).

    Args:
        model_config: the model's Keras config, read as JSON.
        format: the registry name of the file's format.
        weights: the format report's weight rows (``name``, ``shape``, ``dtype``, optionally ``layer``),
            attached to the layers that own them.
        keras3_keys: weight names are Keras 3 object paths (``layers/conv2d_3/vars/0``), which name
            layers by class, not by name.
    """
    model_config = _plain(model_config)
    builder = _Builder(format, str((model_config.get("config") or {}).get("name") or "model"))
    builder.add_model(model_config, None, "", "")
    builder.resolve_shapes()
    builder.attach_weights(list(weights), keras3_keys)
    return builder.graph


class _Builder:
    def __init__(self, format: str, name: str) -> None:
        self.graph = Graph(name=name, format=format, level="layers")
        self.nodes: dict[str, Node] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, list[list[Ref]]] = {}
        self.recorded: dict[Ref, tuple[list[Any] | None, str | None]] = {}
        self.by_path: dict[str, str] = {}
        self.keras3_paths: dict[str, str] = {}

    # ------------------------------------------------------------------ structure

    def add_model(self, model: dict[str, Any], group: str | None, prefix: str, key_prefix: str
                  ) -> tuple[list[str], list[Ref]]:
        """Adds a model's layers under ``group``; returns its input layer ids and output refs."""
        config: dict[str, Any] = model["config"] if isinstance(model.get("config"), dict) else {}
        layers = [layer for layer in (config.get("layers") or []) if isinstance(layer, dict)]
        sequential = model.get("class_name") == "Sequential" or not (config.get("input_layers") or config.get("output_layers"))
        nested: dict[str, tuple[list[str], list[Ref]]] = {}
        ids: dict[str, str] = {}
        used: dict[str, int] = {}
        for layer in layers:
            name = _layer_name(layer)
            class_name = str(layer.get("class_name") or "?")
            key = ""
            if not (sequential and class_name == "InputLayer"):
                key = _snake_case(class_name)
                used[key] = used.get(key, -1) + 1
                key = f"{key_prefix}layers/{key}" + (f"_{used[key]}" if used[key] else "")
            if is_model(layer):
                group_id = f"{prefix}{name}"
                self.graph.groups.append(Group(group_id, f"{name} ({class_name})", "model", group))
                nested[name] = self.add_model(layer, group_id, f"{group_id}/", f"{key}/" if key else key_prefix)
                self.by_path[group_id] = group_id
                continue
            node_id = f"{prefix}{name}"
            while node_id in self.nodes:
                node_id += "_"
            ids[name] = node_id
            layer_config = layer["config"] if isinstance(layer.get("config"), dict) else {}
            node = Node(id=node_id, name=name, op=class_name, group=group, attributes=_attributes(layer_config))
            self.nodes[node_id] = node
            self.configs[node_id] = layer_config
            self.calls[node_id] = []
            self.graph.nodes.append(node)
            self.by_path[node_id] = node_id
            if key:
                self.keras3_paths[key] = node_id

        def resolve(ref: tuple[str, int, int]) -> list[Ref]:
            layer_name, _node_index, tensor_index = ref
            if layer_name in nested:
                outputs = nested[layer_name][1]
                return [outputs[tensor_index]] if 0 <= tensor_index < len(outputs) else []
            return [(ids[layer_name], tensor_index)] if layer_name in ids else []

        if sequential:
            previous: list[Ref] = []
            first_inputs: list[str] = []
            for layer in layers:
                name = _layer_name(layer)
                if name in nested:
                    inner_inputs, inner_outputs = nested[name]
                    if previous and inner_inputs:
                        self.calls[inner_inputs[0]].append(previous)
                    first_inputs = first_inputs or inner_inputs
                    previous = inner_outputs[:1]
                    continue
                node_id = ids[name]
                if previous:
                    self.calls[node_id].append(previous)
                else:
                    first_inputs = [node_id]
                previous = [(node_id, 0)]
            return first_inputs, previous
        for layer in layers:
            name = _layer_name(layer)
            for call in _calls(layer):
                resolved_call = [(resolve(ref), recorded) for ref, recorded in call]
                refs = [found for resolved, _recorded in resolved_call for found in resolved]
                for resolved, recorded in resolved_call:
                    if resolved and recorded is not None:
                        self.recorded[resolved[0]] = recorded
                if name in nested:
                    for inner_input, ref_ in zip(nested[name][0], refs):
                        self.calls[inner_input].append([ref_])
                elif name in ids:
                    self.calls[ids[name]].append(refs)
        inputs = [ids[ref[0]] for ref in _endpoints(config.get("input_layers")) if ref[0] in ids]
        outputs = [resolved for ref in _endpoints(config.get("output_layers")) for resolved in resolve(ref)]
        return inputs, outputs

    # ------------------------------------------------------------------ shapes, edges, MACs

    def resolve_shapes(self) -> None:
        order = self._order()
        shapes: dict[Ref, list[Any] | None] = {}
        dtypes: dict[Ref, str | None] = {}
        wired: set[tuple[Ref, str]] = set()
        for node_id in order:
            node, config = self.nodes[node_id], self.configs[node_id]
            rule = keras_layers.layer_rule(node.op)
            calls = self.calls[node_id] or [[]]
            total: int | None = 0
            status = "counted"
            first_outputs: list[Any] | None = None
            for call in calls:
                inputs = [shapes.get(ref) for ref in call]
                if not call:
                    start = config.get("batch_shape") or config.get("batch_input_shape")
                    if node.op == "InputLayer":
                        outputs: list[Any] = [list(start) if isinstance(start, list) else None]
                    else:
                        inputs = [list(start)] if isinstance(start, list) else []
                        outputs = rule[0](config, inputs) if rule and rule[0] and inputs else [None]
                elif node.op == "InputLayer":
                    outputs = [inputs[0] if inputs else None]
                else:
                    outputs = rule[0](config, inputs) if rule and rule[0] else [None]
                for index in range(max(len(outputs), 1 + max((i for (n, i) in self.recorded if n == node_id), default=-1))):
                    recorded = self.recorded.get((node_id, index))
                    while len(outputs) <= index:
                        outputs.append(None)
                    if recorded is not None and recorded[0] is not None:
                        outputs[index] = recorded[0]
                if first_outputs is None:
                    first_outputs = outputs
                    node.outputs = outputs
                    node.output_dtypes = [self._dtype(node_id, index, config) for index in range(len(outputs))]
                for index, shape in enumerate(outputs):
                    shapes.setdefault((node_id, index), shape)
                    dtypes.setdefault((node_id, index), node.output_dtypes[index] if index < len(node.output_dtypes) else None)
                for ref in call:
                    if (ref, node_id) not in wired:
                        wired.add((ref, node_id))
                        self.graph.edges.append(Edge(ref[0], node_id, shapes.get(ref), dtypes.get(ref)))
                if rule is None:
                    status = "unknown"
                elif rule[1] is None:
                    status = "none" if status == "counted" else status
                elif status in ("counted",) and total is not None:
                    count = rule[1](config, inputs, outputs)
                    if count is None:
                        status, total = "no-shape", None
                    else:
                        total += count
            if rule is not None and rule[1] is None:
                node.macs, node.macs_status = 0, "none"
            elif status == "counted":
                node.macs, node.macs_status = total, "counted"
            else:
                node.macs, node.macs_status = None, status

    def _dtype(self, node_id: str, index: int, config: dict[str, Any]) -> str | None:
        recorded = self.recorded.get((node_id, index))
        if recorded is not None and recorded[1]:
            return recorded[1]
        dtype = config.get("dtype")
        if isinstance(dtype, dict):
            dtype = (dtype.get("config") or {}).get("name")
        if isinstance(dtype, str):
            return {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}.get(dtype, dtype)
        return "float32"

    def _order(self) -> list[str]:
        """Node ids, producers before consumers."""
        producers = {node_id: {ref[0] for call in calls for ref in call} for node_id, calls in self.calls.items()}
        return topological(list(self.nodes), producers)

    # ------------------------------------------------------------------ weights

    def attach_weights(self, rows: list[dict[str, Any]], keras3_keys: bool) -> None:
        by_name: dict[str, list[str]] = {}
        for node_id, node in self.nodes.items():
            by_name.setdefault(node.name, []).append(node_id)
        unowned = 0
        for row in rows:
            name = str(row.get("name", ""))
            owner = self._keras3_owner(name) if keras3_keys else self._owner(name, row.get("layer"), by_name)
            if owner is None:
                unowned += 1
                continue
            short = name.split("/")[-1].split(":")[0]
            if keras3_keys and "/vars/" in name:
                short = "vars/" + short
            self.nodes[owner].weights.append(
                Weight(short, [int(d) for d in row.get("shape") or []], str(row.get("dtype", "float32")),
                       key=row.get("key", name)))
        if unowned:
            self.graph.notes.append(f"{unowned} weight(s) belong to no layer of the config")

    def _keras3_owner(self, name: str) -> str | None:
        path = name.rsplit("/vars/", 1)[0]
        while path:
            if path in self.keras3_paths:
                return self.keras3_paths[path]
            path = path.rsplit("/", 1)[0] if "/" in path else ""
        return None

    def _owner(self, name: str, layer: Any, by_name: dict[str, list[str]]) -> str | None:
        parts = [part.split(":")[0] for part in name.split("/")]
        if isinstance(layer, str) and layer and parts[0] != layer:
            parts = [layer, *parts]
        for end in range(len(parts) - 1, 0, -1):
            for start in range(end):
                path = "/".join(parts[start:end])
                if path in self.by_path and path in self.nodes:
                    return path
            candidates = by_name.get(parts[end - 1], [])
            if candidates:
                scoped = [c for c in candidates if "/".join(parts[: end - 1]).endswith(c.rsplit("/", 1)[0])
                          or "/" not in c]
                return (scoped or candidates)[0]
        return None


# ---------------------------------------------------------------------- config reading


def _plain(value: Any, depth: int = 0) -> Any:
    """The config with tf_keras' SavedModel tuples (``{"class_name": "__tuple__", "items": [...]}``) as lists."""
    if depth > 200:
        return value
    if isinstance(value, dict):
        if value.get("class_name") == "__tuple__" and isinstance(value.get("items"), list):
            return [_plain(item, depth + 1) for item in value["items"]]
        return {key: _plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, depth + 1) for item in value]
    return value


def _layer_name(layer: dict[str, Any]) -> str:
    config: dict[str, Any] = layer["config"] if isinstance(layer.get("config"), dict) else {}
    return str(config.get("name") or layer.get("name") or "?")


def _endpoints(value: Any) -> list[tuple[str, int, int]]:
    """``input_layers``/``output_layers`` of either generation: ``[name, node, tensor]`` or a list of them."""
    if not isinstance(value, list) or not value:
        return []
    if isinstance(value[0], str):
        value = [value]
    found = []
    for item in value:
        if isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str):
            found.append((item[0], int(item[1]), int(item[2])))
    return found


def _calls(layer: dict[str, Any]) -> Iterator[list[tuple[tuple[str, int, int], tuple[list[Any] | None, str | None] | None]]]:
    """Each call of a layer: the tensors it takes, as ``((layer, node, tensor), recorded (shape, dtype) or None)``."""
    for node in layer.get("inbound_nodes") or []:
        yield list(_tensor_refs(node))


def _tensor_refs(value: Any, depth: int = 0) -> Iterator[tuple[tuple[str, int, int], tuple[list[Any] | None, str | None] | None]]:
    if depth > 64:
        return
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__" and isinstance(value.get("config"), dict):
            config = value["config"]
            history = config.get("keras_history")
            if isinstance(history, list) and len(history) >= 3 and isinstance(history[0], str):
                shape = config.get("shape")
                yield (history[0], int(history[1]), int(history[2])), (
                    list(shape) if isinstance(shape, list) else None, config.get("dtype"))
            return
        for item in value.values():
            yield from _tensor_refs(item, depth + 1)
    elif isinstance(value, list):
        if (len(value) >= 3 and isinstance(value[0], str) and isinstance(value[1], int) and isinstance(value[2], int)
                and not isinstance(value[1], bool)):
            yield (value[0], value[1], value[2]), None
            if len(value) > 3:
                yield from _tensor_refs(value[3:], depth + 1)
            return
        for item in value:
            yield from _tensor_refs(item, depth + 1)


def _attributes(config: dict[str, Any]) -> dict[str, Any]:
    """What the drawing shows about a layer: plain settings, objects by their class name."""
    shown: dict[str, Any] = {}
    for key, value in config.items():
        if key in ("name", "layers", "input_layers", "output_layers") or value is None:
            continue
        if isinstance(value, dict):
            if "class_name" in value:
                inner: dict[str, Any] = value["config"] if isinstance(value.get("config"), dict) else {}
                value = inner.get("name") if value.get("class_name") == "DTypePolicy" else value["class_name"]
            else:
                continue
        if isinstance(value, (str, int, float, bool)) or (isinstance(value, list) and len(value) <= 16
                                                          and all(isinstance(v, (str, int, float, bool, type(None))) for v in value)):
            shown[key] = value
    return shown


def _snake_case(class_name: str) -> str:
    # Keras 3 names the objects it saves by their class, as keras.src.utils.naming.to_snake_case does.
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


# ---------------------------------------------------------------------- formats holding a Keras config


def _refuse_ops(path: Any, level: str, what: str) -> None:
    if level == "ops":
        from convkit.errors import ReadError

        raise ReadError(f"{path}: {what} holds Keras layers, not an op graph; draw it without --level ops "
                        "(or convert it to a SavedModel, ONNX or TFLite and draw that)")


def from_h5(path: Any, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """The layer graph of a Keras ``.h5`` model (``level`` ``auto`` or ``layers``), from its inspect ``report``
    when the caller has it (else the file is inspected again)."""
    from convkit.errors import ReadError
    from convkit.formats import hdf5

    _refuse_ops(path, level, "an .h5 model")
    report = report if report is not None else hdf5.inspect(path).to_dict()
    if not isinstance(report.get("model_config"), dict):
        raise ReadError(f"{path}: a weights-only .h5 file ({report.get('kind')}) holds no layer graph; "
                        "'convkit inspect' lists its weights")
    return layer_graph(report["model_config"], format="h5", weights=report.get("weights") or [])


def from_keras_archive(path: Any, *, level: str = "auto", report: dict[str, Any] | None = None) -> Graph:
    """The layer graph of a ``.keras`` archive (``level`` ``auto`` or ``layers``), from its inspect ``report``
    when the caller has it (else the archive is inspected again)."""
    from convkit.formats import keras_archive

    _refuse_ops(path, level, "a .keras archive")
    report = report if report is not None else keras_archive.inspect(path).to_dict()
    config = report.get("model_config") or {}
    return layer_graph(config, format="keras", weights=report.get("weights") or [], keras3_keys=True)
