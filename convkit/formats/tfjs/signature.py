"""The inputs and outputs a TF.js model declares in ``model.json``, and the quantization of its weights.

A graph model names them in its ``signature`` (or, without one, its
``Placeholder`` nodes); a layers model through its Keras config (the input
layers, the first layer's ``batch_input_shape`` for a Sequential, however
nested). Outputs of graph models without a signature are named by the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.containers.tensors import TensorSpec, shape_tuple
from convkit.errors import ReadError

# Quantization dtypes, from most to least lossy; the report states the one in use.
QUANTIZATION_ORDER = ("uint8", "uint16", "float16")


_TF_DTYPES = {"DT_FLOAT": "float32", "DT_INT32": "int32", "DT_BOOL": "bool", "DT_INT64": "int32", "DT_HALF": "float32"}


def model_specs(model_json_path: Path, document: dict[str, Any]) -> tuple[str, list[TensorSpec], list[TensorSpec]]:
    """The kind (``layers`` or ``graph``) of a parsed ``model.json``, its inputs and its outputs.

    Raises:
        ReadError: the topology is malformed or declares no inputs.
    """
    topology = document.get("modelTopology") or {}
    if not isinstance(topology, dict):
        raise ReadError(f"{model_json_path}: modelTopology is not a JSON object")
    is_graph = document.get("format") == "graph-model" or isinstance(topology.get("node"), list)
    try:
        if is_graph:
            inputs, outputs = _graph_specs(document)
        else:
            inputs, outputs = _layers_specs(model_json_path, topology)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as error:
        raise ReadError(f"{model_json_path}: the TF.js model topology is malformed ({type(error).__name__}: {error})"[:400]) from None
    if not inputs:
        raise ReadError(f"{model_json_path}: the TF.js model declares no inputs")
    return ("graph" if is_graph else "layers"), inputs, outputs


def _graph_specs(model_json: dict[str, Any]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    signature = model_json.get("signature") or model_json.get("modelTopology", {}).get("signature") or {}

    def specs(section: dict[str, Any]) -> list[TensorSpec]:
        from convkit.graph_model.analysis import natural_key

        result = []
        # In the order the TF.js runner uses: a signature's map has none of its own, so by name.
        for name, info in sorted(section.items(), key=lambda item: natural_key(item[0])):
            dims = [int(d.get("size", -1)) for d in info.get("tensorShape", {}).get("dim", [])]
            result.append(TensorSpec(name, shape_tuple(dims), _TF_DTYPES.get(info.get("dtype"), "float32")))
        return result

    if signature.get("inputs") and signature.get("outputs"):
        return specs(signature["inputs"]), specs(signature["outputs"])
    inputs = []
    for node in model_json["modelTopology"].get("node", []):
        if node.get("op") == "Placeholder":
            attr = node.get("attr", {})
            dims = [int(d.get("size", -1)) for d in attr.get("shape", {}).get("shape", {}).get("dim", [])]
            dtype = _TF_DTYPES.get(attr.get("dtype", {}).get("type"), "float32")
            inputs.append(TensorSpec(node["name"], shape_tuple(dims), dtype))
    return inputs, []  # the outputs are named by the run


def _layers_specs(path: Path, topology: dict[str, Any]) -> tuple[list[TensorSpec], list[TensorSpec]]:
    config = topology.get("model_config", topology)
    class_name = config.get("class_name")
    body = config.get("config", {})
    layers = body if isinstance(body, list) else body.get("layers", [])
    if not layers:
        raise ReadError(f"{path}: the TF.js layers model lists no layers")

    def shape_of(layer_config: dict[str, Any]) -> tuple[int | None, ...]:
        return shape_tuple(layer_config.get("batch_input_shape") or layer_config.get("batch_shape") or [None])

    if class_name == "Sequential":
        first = layers[0]
        # TF.js tools nest models (Teachable Machine: a Sequential whose first layer is a Sequential)
        while first.get("class_name") in ("Sequential", "Model", "Functional") and not (
                first.get("config", {}).get("batch_input_shape") or first.get("config", {}).get("batch_shape")):
            inner = first.get("config", {})
            inner_layers = inner if isinstance(inner, list) else inner.get("layers", [])
            if not inner_layers:
                break
            first = inner_layers[0]
        first_config = first.get("config", {})
        if first.get("class_name") == "InputLayer":
            name = first_config.get("name", "input")
        else:
            name = f"{first_config.get('name', 'input')}_input"
        inputs = [TensorSpec(name, shape_of(first_config), first_config.get("dtype") or "float32")]
        outputs = [TensorSpec(layers[-1].get("config", {}).get("name", "output"), (None,))]
        return inputs, outputs
    by_name = {layer.get("config", {}).get("name"): layer.get("config", {}) for layer in layers}
    inputs = []
    for entry in _endpoints(body.get("input_layers", [])):
        layer_name = entry[0]
        layer_config = by_name.get(layer_name, {})
        inputs.append(TensorSpec(layer_name, shape_of(layer_config), layer_config.get("dtype") or "float32"))
    output_entries = _endpoints(body.get("output_layers", []))
    names = [entry[0] for entry in output_entries]
    if len(set(names)) != len(names):
        names = [f"{name}_{i}" for i, name in enumerate(names)]
    return inputs, [TensorSpec(name, (None,)) for name in names]


def _endpoints(value: list[Any]) -> list[Any]:
    # Keras 3 writes a single input or output flat (["name", 0, 0]); Keras 2 always nests.
    return [value] if value and isinstance(value[0], str) else list(value)


def quantization(model_json: dict[str, Any]) -> str | None:
    found = set()
    for group in model_json.get("weightsManifest", []) or []:
        for weight in group.get("weights", []):
            quantization = weight.get("quantization")
            if quantization:
                found.add(str(quantization.get("dtype")))
    for dtype in QUANTIZATION_ORDER:
        if dtype in found:
            return dtype
    return None
