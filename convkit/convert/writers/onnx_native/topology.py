"""Walks a Keras model config (Keras 2 dialect) and calls each layer's converter on its inputs.

Functional models are walked by their inbound nodes, in whatever order the
tensors become available (a shared layer's second call may wait for a later
layer); Sequential models layer after layer; a nested model is called like a
layer, its layers inlined. Keras 2 counts a nested functional model's own
construction as its node 0, Keras 3 does not: references are matched to calls
with that offset, checked against what the references ask for.

Graph inputs and outputs keep the Keras names (inputs: the InputLayer names;
outputs: the output layers' names) and Keras' channels-last axis order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from convkit.convert.writers.onnx_native import converters
from convkit.convert.writers.onnx_native.converters import CONVERTERS, Call, LayerWeights
from convkit.convert.writers.onnx_native.graph import ELEMENT_TYPES, GraphBuilder, Tensor, Uncovered, identity
from convkit.keras_model.config import MODEL_CLASSES, iter_layers
from convkit.keras_model.data import ModelData, Weight
from convkit.keras_model.operations import CONSTANT_INPUT, is_operation_record

COMPUTE_DTYPES = frozenset({None, "float32"})
# Tensors a layer may take by keyword, and what it does with them.
TENSOR_KEYWORDS = {"MultiHeadAttention": ("value", "key")}
Key = tuple[str, int, int]


def _name(layer: dict[str, Any]) -> str:
    config = layer.get("config")
    return str((config.get("name") if isinstance(config, dict) else None) or layer.get("name"))


def _is_reference(value: Any) -> bool:
    return (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str)
            and isinstance(value[1], int) and isinstance(value[2], int) and value[0] != CONSTANT_INPUT)


def _histories(value: Any) -> Iterator[list[Any]]:
    """``keras_history`` references in a Keras 3 node's arguments."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            yield list(value["config"]["keras_history"])
            return
        for item in value.values():
            yield from _histories(item)
    elif isinstance(value, list):
        for item in value:
            yield from _histories(item)


def _kwarg_references(value: Any) -> Iterator[list[Any]]:
    if _is_reference(value):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _kwarg_references(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _kwarg_references(item)


def _entries(node: Any) -> list[list[Any]]:
    """The inbound entries (``[layer, node, tensor, kwargs]``) of a Keras 2 node: a list of them, or one
    entry standing alone (tf_keras writes a TFOpLambda's call that way)."""
    if not isinstance(node, list):
        return []
    if node and isinstance(node[0], str):
        return [node]
    return [entry for entry in node if isinstance(entry, list)]


def _dtype(value: Any) -> str | None:
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    return None if value is None else str(value)


@dataclass
class ModelGraph:
    """The ONNX graph of one ModelData, built layer by layer.

    Attributes:
        model: the Keras model (config + weights).
        builder: the graph under construction.
    """

    model: ModelData
    builder: GraphBuilder
    used: set[int] = field(default_factory=set)

    def build(self) -> None:
        """Adds the model's inputs, every layer and its outputs to the builder.

        Raises:
            Uncovered: a layer or setting without an exact ONNX form here.
        """
        self._refuse_keyword_tensors()
        config = self.model.config
        specs = self._input_specs(config)
        names = self._output_names(config)
        for name in [spec[0] for spec in specs] + names:
            self.builder.reserve(name)
        inputs = [Tensor(name, shape, dtype, identity(len(shape))) for name, shape, dtype in specs]
        self.builder.inputs = inputs
        outputs = self.call_model(config, inputs, owner=None)
        if len(outputs) != len(names):
            raise Uncovered("", "", f"the model lists {len(names)} outputs but computes {len(outputs)}")
        for tensor, name in zip(outputs, names):
            plain = self.builder.plain(tensor)
            from onnx import helper

            self.builder.nodes.append(helper.make_node("Identity", [plain.name], [name],
                                                       name=self.builder.unique(f"{name}/output")))
            self.builder.outputs.append(Tensor(name, plain.shape, plain.dtype, plain.layout))
        unused = [weight for weight in self.model.weights() if id(weight) not in self.used]
        if unused:
            raise Uncovered("", "", f"the stored weight {unused[0].name!r} is used by no layer convkit converts")

    # ------------------------------------------------------------ inputs and outputs

    def _input_specs(self, config: dict[str, Any]) -> list[tuple[str, tuple[int | None, ...], str]]:
        body = config.get("config") or {}
        layers = body.get("layers") or []
        if config.get("class_name") == "Sequential":
            first = layers[0] if layers else {}
            first_config = first.get("config") or {}
            if first.get("class_name") == "InputLayer":
                return [self._input_spec(first)]
            if "batch_input_shape" not in first_config:
                raise Uncovered("", "", "a Sequential model without an input shape")
            spec = self._input_spec(first)
            return [(f"{_name(first)}_input", spec[1], spec[2])]
        records = {_name(layer): layer for layer in layers}
        specs = []
        for reference in body.get("input_layers") or []:
            layer = records.get(reference[0])
            if layer is None or layer.get("class_name") != "InputLayer":
                raise Uncovered("", "", f"the model input {reference[0]!r} is not an InputLayer")
            specs.append(self._input_spec(layer))
        return specs

    @staticmethod
    def _input_spec(layer: dict[str, Any]) -> tuple[str, tuple[int | None, ...], str]:
        config = layer.get("config") or {}
        if config.get("sparse") or config.get("ragged"):
            raise Uncovered(_name(layer), "InputLayer", "sparse or ragged inputs")
        shape = config.get("batch_input_shape")
        if not isinstance(shape, (list, tuple)) or not shape:
            raise Uncovered(_name(layer), "InputLayer", "no input shape")
        dtype = _dtype(config.get("dtype")) or "float32"
        if dtype not in ELEMENT_TYPES or dtype in ("float16", "float64", "bfloat16"):
            raise Uncovered(_name(layer), "InputLayer", f"{dtype} inputs")
        return _name(layer), (None, *(None if d is None else int(d) for d in shape[1:])), dtype

    @staticmethod
    def _output_names(config: dict[str, Any]) -> list[str]:
        body = config.get("config") or {}
        if config.get("class_name") == "Sequential":
            layers = [layer for layer in body.get("layers") or [] if layer.get("class_name") != "InputLayer"]
            if not layers:
                raise Uncovered("", "", "a Sequential model without layers")
            return [_name(layers[-1])]
        found = [str(reference[0]) for reference in body.get("output_layers") or []]
        if len(set(found)) == len(found):
            return found
        return [f"{name}_{index}" for index, name in enumerate(found)]

    # ------------------------------------------------------------ models

    def call_model(self, config: dict[str, Any], inputs: list[Tensor], owner: str | None) -> list[Tensor]:
        """The outputs of a (nested) model called on ``inputs``."""
        if config.get("class_name") == "Sequential":
            return self._call_sequential(config, inputs, owner)
        return self._call_functional(config, inputs, owner)

    def _call_sequential(self, config: dict[str, Any], inputs: list[Tensor], owner: str | None) -> list[Tensor]:
        tensors = inputs
        for layer in (config.get("config") or {}).get("layers") or []:
            if layer.get("class_name") == "InputLayer":
                continue
            tensors = self.apply(layer, tensors, self.weights_of(layer, owner), owner=owner)
            if len(tensors) != 1:
                raise Uncovered(_name(layer), str(layer.get("class_name")), "several outputs inside a Sequential")
        return tensors

    def _call_functional(self, config: dict[str, Any], inputs: list[Tensor], owner: str | None) -> list[Tensor]:
        body = config.get("config") or {}
        layers = [layer for layer in body.get("layers") or [] if isinstance(layer, dict)]
        tensors: dict[Key, Tensor] = {}
        references = body.get("input_layers") or []
        if len(references) != len(inputs):
            raise Uncovered(_name(config), "Functional", f"{len(inputs)} inputs for {len(references)} input layers")
        for reference, tensor in zip(references, inputs):
            tensors[(str(reference[0]), int(reference[1]), int(reference[2]))] = tensor
        offsets = self._offsets(body, layers)
        pending = [(layer, index) for layer in layers if layer.get("class_name") != "InputLayer"
                   for index in range(len(layer.get("inbound_nodes") or []))]
        while pending:
            waiting = []
            for layer, index in pending:
                node = layer["inbound_nodes"][index]
                keras3 = isinstance(node, dict)
                keys = [self._key(reference, keras3, offsets) for reference in self._references(node)]
                if not all(key in tensors for key in keys):
                    waiting.append((layer, index))
                    continue
                produced = self._call_node(layer, index, node, tensors, offsets, owner)
                for position, tensor in enumerate(produced):
                    tensors[(_name(layer), index + offsets.get(_name(layer), 0), position)] = tensor
            if len(waiting) == len(pending):
                layer, index = waiting[0]
                raise Uncovered(_name(layer), str(layer.get("class_name")),
                                "inputs that no layer of the model computes")
            pending = waiting
        outputs = []
        for reference in body.get("output_layers") or []:
            key = (str(reference[0]), int(reference[1]), int(reference[2]))
            if key not in tensors:
                raise Uncovered(str(reference[0]), "", "a model output that no layer computes")
            outputs.append(tensors[key])
        return outputs

    @staticmethod
    def _references(node: Any) -> Iterator[list[Any]]:
        if isinstance(node, dict):
            yield from _histories(node.get("args"))
            yield from _histories(node.get("kwargs"))
            return
        for entry in _entries(node):
            if _is_reference(entry):
                yield entry[:3]
            if isinstance(entry, list) and len(entry) == 4:
                yield from _kwarg_references(entry[3])

    @staticmethod
    def _key(reference: list[Any], keras3: bool, offsets: dict[str, int]) -> Key:
        name, node_index, tensor_index = str(reference[0]), int(reference[1]), int(reference[2])
        return name, node_index + (offsets.get(name, 0) if keras3 else 0), tensor_index

    def _offsets(self, body: dict[str, Any], layers: list[dict[str, Any]]) -> dict[str, int]:
        """Per layer, the node index of its first call here (1 for nested models Keras 2 built on an input)."""
        asked: dict[str, set[int]] = {}
        for layer in layers:
            for node in layer.get("inbound_nodes") or []:
                if isinstance(node, dict):
                    continue
                for reference in self._references(node):
                    asked.setdefault(str(reference[0]), set()).add(int(reference[1]))
        for reference in body.get("output_layers") or []:
            asked.setdefault(str(reference[0]), set()).add(int(reference[1]))
        offsets = {}
        for layer in layers:
            name = _name(layer)
            class_name = layer.get("class_name")
            if class_name == "InputLayer":
                continue
            calls = len(layer.get("inbound_nodes") or [])
            expected = int(class_name in ("Functional", "Model") or (
                class_name == "Sequential" and _starts_from_input(layer)))
            for offset in (expected, 1 - expected):
                if all(offset <= index < offset + calls for index in asked.get(name, ())):
                    offsets[name] = offset
                    break
            else:
                raise Uncovered(name, str(class_name), "references to calls the model does not make")
        return offsets

    def _call_node(self, layer: dict[str, Any], index: int, node: Any, tensors: dict[Key, Tensor],
                   offsets: dict[str, int], owner: str | None) -> list[Tensor]:
        name, class_name = _name(layer), str(layer.get("class_name"))

        def resolve(reference: list[Any], keras3: bool = False) -> Tensor:
            return tensors[self._key(reference, keras3, offsets)]

        if isinstance(node, dict) or class_name == "TFOpLambda":
            return self.apply(layer, [], self.weights_of(layer, owner), node_index=index, resolve=resolve,
                              owner=owner)
        entries = _entries(node)
        inputs = [resolve(entry) for entry in entries if _is_reference(entry)]
        given = entries[0][3] if entries and len(entries[0]) == 4 and isinstance(entries[0][3], dict) else {}
        kwargs, tensor_kwargs = {}, {}
        for key, value in given.items():
            if any(True for _ in _kwarg_references(value)):
                if key not in TENSOR_KEYWORDS.get(class_name, ()) or not _is_reference(value):
                    raise Uncovered(name, class_name, f"a tensor passed as {key!r}")
                tensor_kwargs[key] = resolve(value)
            else:
                kwargs[key] = value
        if kwargs.get("training") is True:
            raise Uncovered(name, class_name, "a call in training mode")
        if kwargs.get("mask") is not None:
            raise Uncovered(name, class_name, "a mask")
        return self.apply(layer, inputs, self.weights_of(layer, owner), node_index=index, kwargs=kwargs,
                          tensor_kwargs=tensor_kwargs, owner=owner)

    # ------------------------------------------------------------ layers

    def weights_of(self, layer: dict[str, Any], owner: str | None) -> LayerWeights:
        """The stored weights of ``layer`` (inside the top-level nested model ``owner``, if any)."""
        name = _name(layer)
        if owner is None:
            return LayerWeights(list(self.model.layer_weights.get(name, [])), self.used)
        parts = name.split("/")
        return LayerWeights([weight for weight in self.model.layer_weights.get(owner, [])
                             if _holds(weight, parts)], self.used)

    def apply(self, layer: dict[str, Any], inputs: list[Tensor], weights: LayerWeights, *, node_index: int = 0,
              kwargs: dict[str, Any] | None = None, tensor_kwargs: dict[str, Tensor] | None = None,
              resolve: Any = None, owner: str | None = None) -> list[Tensor]:
        """``layer`` called on ``inputs``: a nested model inlined, or the layer's converter."""
        name, class_name = _name(layer), str(layer.get("class_name"))
        if class_name in MODEL_CLASSES:
            return self.call_model(layer, inputs, owner if owner is not None else name)
        config = layer["config"] if isinstance(layer.get("config"), dict) else {}
        dtype = _dtype(config.get("dtype"))
        if dtype not in COMPUTE_DTYPES and class_name != "InputLayer":
            raise Uncovered(name, class_name, f"computing in {dtype}")
        if is_operation_record(layer):
            from convkit.convert.writers.onnx_native.operations import operation as converter
        elif class_name in CONVERTERS:
            converter = CONVERTERS[class_name]
        else:
            raise Uncovered(name, class_name, "a layer class the native writer does not convert")

        def apply_inner(inner: dict[str, Any], tensors: list[Tensor], inner_weights: LayerWeights) -> list[Tensor]:
            return self.apply(inner, tensors, inner_weights, owner=owner)

        call = Call(self.builder, layer, weights, self.model.generation, kwargs=kwargs or {},
                    tensor_kwargs=tensor_kwargs or {}, node_index=node_index, resolve=resolve, apply=apply_inner)
        try:
            return converter(call, inputs)
        except Uncovered as error:
            if error.layer:
                raise
            raise call.refuse(error.reason) from None

    def _refuse_keyword_tensors(self) -> None:
        """Keras 3 configs pass some tensors by keyword (``initial_state=``, ``mask=``), which the Keras 2
        dialect drops: refuse them rather than convert a call without them. The dialect keeps those a layer
        takes as tensors (``TENSOR_KEYWORDS``), as Keras 2 keyword references."""
        raw = self.model.raw_config
        if self.model.generation != 3 or not isinstance(raw, dict):
            return
        for layer in iter_layers(raw):
            for node in layer.get("inbound_nodes") or []:
                kwargs = node.get("kwargs") if isinstance(node, dict) else None
                for key, value in (kwargs or {}).items():
                    if key in TENSOR_KEYWORDS.get(str(layer.get("class_name")), ()):
                        continue
                    if any(True for _ in _histories(value)):
                        raise Uncovered(_name(layer), str(layer.get("class_name")), f"a tensor passed as {key!r}")


def _starts_from_input(layer: dict[str, Any]) -> bool:
    """Whether a nested Sequential was built on an input of its own (Keras 2 then counts a node 0 for it)."""
    inner = (layer.get("config") or {}).get("layers") or []
    first = inner[0] if inner and isinstance(inner[0], dict) else {}
    return first.get("class_name") == "InputLayer" or "batch_input_shape" in (first.get("config") or {})


def _holds(weight: Weight, layer_parts: list[str]) -> bool:
    """Whether the weight's path names the layer (its components in a row, before the attribute)."""
    parts = weight.name.split(":")[0].split("/")[:-1]
    width = len(layer_parts)
    return any(parts[start:start + width] == layer_parts for start in range(len(parts) - width + 1))


__all__ = ["ModelGraph", "converters"]
