"""Keras model configs in the dialect TF.js layers and tf_keras read.

Keras 3 writes configs that TF.js 4.22 refuses: ``batch_shape`` instead of
``batch_input_shape``, ``DTypePolicy`` objects for ``dtype``, ``module`` and
``registered_name`` keys on every object, and functional graph edges as
``{"args": [...], "kwargs": {...}}`` nodes of ``__keras_tensor__`` records.
:func:`to_keras2_config` rewrites a Keras 3 (or Keras 2) model config into the
Keras 2 dialect, which TF.js layers, tf_keras and Keras 3 all read, so one
translated config serves the TF.js and ``.h5`` writers alike.
"""

from __future__ import annotations

from typing import Any, Iterator

# Classes TF.js layers 4.22 registers (tfjs-layers serialization registry).
TFJS_LAYER_CLASSES = frozenset(
    """
    Activation Add AlphaDropout Average AveragePooling1D AveragePooling2D AveragePooling3D BatchNormalization
    Bidirectional CategoryEncoding CenterCrop Concatenate Conv1D Conv2D Conv2DTranspose Conv3D Conv3DTranspose
    ConvLSTM2D Cropping2D Dense DepthwiseConv2D Dot Dropout ELU Embedding Flatten Functional GRU GaussianDropout
    GaussianNoise GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling1D GlobalMaxPooling2D InputLayer
    LSTM LayerNormalization LeakyReLU Masking MaxPooling1D MaxPooling2D MaxPooling3D Maximum Minimum Model
    Multiply PReLU Permute ReLU RepeatVector Rescaling Reshape Resizing SeparableConv2D Sequential SimpleRNN
    Softmax SpatialDropout1D ThresholdedReLU TimeDistributed UpSampling2D ZeroPadding2D
    """.split()
)

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})

# Config keys Keras 3 added that TF.js layers and tf_keras do not take.
_KERAS3_ONLY_KEYS = frozenset(
    {"optional", "build_config", "compile_config", "quantization_config", "lora_rank", "lora_alpha",
     "use_cudnn", "synchronized", "registered_name", "module"}
)
# Layer arguments Keras 2 wrote that Keras 3 refuses.
_KERAS2_ONLY_KEYS = ("time_major",)
# Arguments Keras 3 writes into nested objects (initializers); dropped when unset.
_KERAS3_ONLY_ARGS = frozenset({"input_axes", "output_axes"})


def to_keras2_config(model_config: dict[str, Any]) -> dict[str, Any]:
    """The Keras 2 dialect of a model config (``{"class_name", "config"}``).

    Keras 2 configs pass through with only ``module``/``registered_name`` keys
    removed, so the function is safe to call on either generation.
    """
    return _layer(model_config)


def _layer(layer: dict[str, Any], models: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    class_name = layer.get("class_name")
    config = dict(layer.get("config") or {})
    if class_name in ("Functional", "Model"):
        config = _functional(config)
    elif class_name == "Sequential":
        config = {
            "name": config.get("name"),
            "layers": [_layer(item) for item in config.get("layers", [])],
        }
    else:
        config = _layer_config(class_name, config)
    out: dict[str, Any] = {"class_name": class_name, "config": config}
    if "name" in layer:
        out["name"] = layer["name"]
    if "inbound_nodes" in layer:
        out["inbound_nodes"] = [_node(node, models) for node in layer["inbound_nodes"]]
    return out


def _functional(config: dict[str, Any]) -> dict[str, Any]:
    # A nested model's node 0 is the one its own construction made; Keras 2 and
    # TF.js count it, Keras 3 does not, so calls of nested models shift by one.
    models = {
        (item.get("config") or {}).get("name", item.get("name"))
        for item in config.get("layers", [])
        if item.get("class_name") in MODEL_CLASSES
    }
    return {
        "name": config.get("name"),
        "trainable": config.get("trainable", True),
        "layers": [_layer(item, models) for item in config.get("layers", [])],
        "input_layers": _endpoints(config.get("input_layers", [])),
        "output_layers": _endpoints(config.get("output_layers", [])),
    }


def _endpoints(value: list[Any]) -> list[Any]:
    # Keras 3 writes a single endpoint flat (["in", 0, 0]); Keras 2 always nests.
    if value and isinstance(value[0], str):
        return [list(value)]
    return [list(item) for item in value]


def _node(node: Any, models: frozenset[str] | set[str]) -> Any:
    if not isinstance(node, dict):
        return node  # already Keras 2: [[layer, node_index, tensor_index, kwargs], ...]
    kwargs = {
        key: value
        for key, value in (node.get("kwargs") or {}).items()
        if value is not None and not _holds_tensor(value)
    }
    edges = []
    for layer_name, node_index, tensor_index in _tensor_histories(node.get("args", [])):
        if layer_name in models:
            node_index += 1
        edges.append([layer_name, node_index, tensor_index, kwargs])
    return edges


def _tensor_histories(value: Any) -> Iterator[list[Any]]:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        yield list(value["config"]["keras_history"])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensor_histories(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensor_histories(item)


def _holds_tensor(value: Any) -> bool:
    return any(True for _ in _tensor_histories(value))


def _layer_config(class_name: str | None, config: dict[str, Any]) -> dict[str, Any]:
    out = {key: _value(value) for key, value in config.items() if key not in _KERAS3_ONLY_KEYS}
    if out.get("time_major") is False:  # Keras 2's default; Keras 3 refuses the argument
        del out["time_major"]
    if class_name == "InputLayer":
        if "batch_shape" in out:
            out["batch_input_shape"] = out.pop("batch_shape")
        elif "shape" in out and "batch_input_shape" not in out:
            out["batch_input_shape"] = [None, *out.pop("shape")]
        out.pop("input_tensor", None)
    elif "batch_shape" in out:
        out["batch_input_shape"] = out.pop("batch_shape")
    for wrapped in ("layer", "backward_layer"):
        if isinstance(out.get(wrapped), dict) and "class_name" in out[wrapped]:
            out[wrapped] = _layer(out[wrapped])
    return out


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" or value.get("class_name") == "FloatDTypePolicy":
            return (value.get("config") or {}).get("name", "float32")
        if "class_name" in value and "config" in value:
            inner = value["config"]
            if isinstance(inner, dict):
                inner = {k: _value(v) for k, v in inner.items() if not (k in _KERAS3_ONLY_ARGS and v is None)}
            return {"class_name": value["class_name"], "config": inner}
        return {key: _value(item) for key, item in value.items() if key not in ("module", "registered_name")}
    if isinstance(value, list):
        return [_value(item) for item in value]
    return value


def iter_layers(model_config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every layer record in a (Keras 2 or 3) model config, nested ones included."""
    for layer in model_config.get("config", {}).get("layers", []) or []:
        yield layer
        if layer.get("class_name") in MODEL_CLASSES:
            yield from iter_layers(layer)
        for wrapped in ("layer", "backward_layer"):
            inner = (layer.get("config") or {}).get(wrapped)
            if isinstance(inner, dict) and "class_name" in inner:
                yield inner


def tfjs_unsupported(model_config: dict[str, Any]) -> list[str]:
    """Why TF.js layers cannot hold this (Keras 2 dialect) model; empty if it can."""
    reasons = []
    for layer in iter_layers(model_config):
        class_name = layer.get("class_name")
        name = (layer.get("config") or {}).get("name", layer.get("name"))
        if class_name not in TFJS_LAYER_CLASSES:
            reasons.append(f"layer {name!r} ({class_name}) has no TF.js layers counterpart")
        elif class_name == "GRU" and (layer.get("config") or {}).get("reset_after"):
            reasons.append(f"layer {name!r} is a GRU with reset_after=True, which TF.js layers does not support")
    return reasons


def tfjs_weight_name(weight_name: str) -> str:
    """The name TF.js layers gives a weight: ``<owning layer>/<attribute>``.

    Keras names carry the model (``sequential/dense/kernel``) or the RNN cell
    (``lstm/lstm_cell/kernel``) in the path; TF.js scopes weights by the layer
    that owns them only.
    """
    parts = weight_name.split(":")[0].split("/")
    if len(parts) >= 3 and parts[-2].endswith("cell"):
        return f"{parts[-3]}/{parts[-1]}"
    if len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def keras3_dialect(model_config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 2 dialect config that Keras 3 builds.

    Keras 3 reads Keras 2 style configs but does not count a nested model's
    own construction node (its calls are one lower than Keras 2 wrote them)
    and refuses a few Keras 2 arguments (``time_major``).
    """
    import copy

    config = copy.deepcopy(model_config)
    _shift_nested(config)
    return config


def _shift_nested(model: dict[str, Any]) -> None:
    if model.get("class_name") not in MODEL_CLASSES:
        return
    layers = (model.get("config") or {}).get("layers", [])
    models = {
        (layer.get("config") or {}).get("name", layer.get("name"))
        for layer in layers
        if layer.get("class_name") in MODEL_CLASSES and layer.get("class_name") != "Sequential"
    }
    for layer in layers:
        _shift_nested(layer)
        layer_config = layer.get("config") or {}
        for key in _KERAS2_ONLY_KEYS:
            layer_config.pop(key, None)
        for node in layer.get("inbound_nodes", []) or []:
            if isinstance(node, list):
                for edge in node:
                    if isinstance(edge, list) and edge and edge[0] in models and edge[1] > 0:
                        edge[1] -= 1
