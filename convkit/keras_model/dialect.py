"""Keras model configs translated between the dialects tf_keras, Keras 3 and TF.js layers read.

Keras 3 writes configs that TF.js 4.22 refuses: ``batch_shape`` instead of
``batch_input_shape``, ``DTypePolicy`` objects for ``dtype``, ``module`` and
``registered_name`` keys on every object, and functional graph edges as
``{"args": [...], "kwargs": {...}}`` nodes of ``__keras_tensor__`` records.
:func:`to_keras2_config` rewrites a Keras 3 (or Keras 2) model config into the
Keras 2 dialect, which TF.js layers, tf_keras and Keras 3 all read, so one
translated config serves the TF.js and ``.h5`` writers alike;
:func:`keras3_dialect`, :func:`tf_keras_dialect` and :func:`h5_dialect` give
what each Keras generation builds. Operations on tensors are translated in
:mod:`~convkit.keras_model.operations`, layer names in
:mod:`~convkit.keras_model.renames`; the TF.js names of Keras objects are the
TF.js format's (:mod:`convkit.formats.tfjs.names`).
"""

from __future__ import annotations

import functools
from typing import Any, Iterator

from convkit.keras_model.config import MODEL_CLASSES, iter_layers
from convkit.keras_model.operations import (
    is_operation_record, tf_op_lambda_of, tf_op_lambda_of_op_layer, tf_ops_as_operations,
)
from convkit.keras_model.references import keras_tensor, mapped_references, tensor_histories
from convkit.keras_model.renames import rename_layers, keras3_renamed_layers
from convkit.policy.code import TF_OP_LAYER
from convkit.policy.shipped import CLASS_OF_ALIAS, is_keras3_only_layer, keras_shipped_layer, tf_keras_class_name

# Activations Keras 3 computes differently from tf_keras under the same name: hard_sigmoid is
# relu6(x + 3) / 6 in Keras 3 but clip(0.2 x + 0.5) in tf_keras (and TF.js).
KERAS3_REDEFINED_ACTIVATIONS = frozenset({"hard_sigmoid"})

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
    if is_operation_record(layer):
        return tf_op_lambda_of(layer, models)
    if layer.get("class_name") == TF_OP_LAYER:
        lambda_layer = tf_op_lambda_of_op_layer(layer)
        if lambda_layer is not None:
            return lambda_layer
    class_name = tf_keras_class_name(layer.get("class_name"))
    config = dict(layer.get("config") or {}) if isinstance(layer.get("config"), dict) else {}
    if class_name in ("Functional", "Model"):
        config = _functional(config)
    elif class_name == "Sequential":
        # Keras 2.0 stored a Sequential's config as the bare list of its layers
        raw = layer.get("config")
        layers = raw if isinstance(raw, list) else config.get("layers", [])
        config = {
            "name": config.get("name") if isinstance(layer.get("config"), dict) else layer.get("name", "sequential"),
            "layers": [_layer(item) for item in layers],
        }
    else:
        config = _layer_config(class_name, config)
    out: dict[str, Any] = {"class_name": class_name, "config": config}
    if "name" in layer:
        out["name"] = layer["name"]
    if "inbound_nodes" in layer:
        out["inbound_nodes"] = [_node(node, models, _CALL_PARAMETERS.get(class_name, ()))
                                for node in layer["inbound_nodes"]]
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


# Layers called with more than one tensor argument: their call's parameters in order. Keras 2 records the
# first as the node's inputs and each other tensor as a [layer, node, tensor] keyword argument.
_CALL_PARAMETERS = {"MultiHeadAttention": ("query", "value", "key")}


def _node(node: Any, models: frozenset[str] | set[str], parameters: tuple[str, ...] = ()) -> Any:
    if not isinstance(node, dict):
        return node  # already Keras 2: [[layer, node_index, tensor_index, kwargs], ...]

    def reference(history: list[Any]) -> list[Any]:
        layer_name, node_index, tensor_index = history
        return [layer_name, node_index + 1 if layer_name in models else node_index, tensor_index]

    args = list(node.get("args", []))
    kwargs = {
        key: value
        for key, value in (node.get("kwargs") or {}).items()
        if value is not None and not _holds_tensor(value)
    }
    if parameters:  # the first argument is the inputs; the others, and tensors passed by keyword, keywords
        for name, value in [*zip(parameters[1:], args[1:]), *(node.get("kwargs") or {}).items()]:
            histories = list(tensor_histories(value))
            if histories:
                kwargs[name] = reference(histories[0]) if len(histories) == 1 else [reference(h) for h in histories]
        args = args[:1]
    return [[*reference(history), kwargs] for history in tensor_histories(args)]


def _holds_tensor(value: Any) -> bool:
    return any(True for _ in tensor_histories(value))


def _layer_config(class_name: str | None, config: dict[str, Any]) -> dict[str, Any]:
    out = {key: _value(value) for key, value in config.items() if key not in _KERAS3_ONLY_KEYS}
    if out.get("time_major") is False:  # Keras 2's default; Keras 3 refuses the argument
        del out["time_major"]
    if out.get("rms_scaling") is False:  # Keras 3's LayerNormalization default; tf_keras refuses the argument
        del out["rms_scaling"]
    if class_name == "InputLayer":
        if "batch_shape" in out:
            out["batch_input_shape"] = out.pop("batch_shape")
        elif "shape" in out and "batch_input_shape" not in out:
            out["batch_input_shape"] = [None, *out.pop("shape")]
        out.pop("input_tensor", None)
    elif "batch_shape" in out:
        out["batch_input_shape"] = out.pop("batch_shape")
    if class_name == "LeakyReLU" and "negative_slope" in out:  # Keras 3's name for Keras 2's alpha
        out["alpha"] = out.pop("negative_slope")
    if class_name == "MultiHeadAttention":
        out.pop("seed", None)  # dropout's, which inference never draws
        for key, default in (("sliding_window", None), ("use_gate", False)):  # else tf_keras refuses the layer
            if out.get(key, default) == default:
                out.pop(key, None)
        for key in ("query_shape", "key_shape", "value_shape"):  # tf_keras builds it when it is called
            out.setdefault(key, None)
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


def generations_differ(model_config: dict[str, Any]) -> list[str]:
    """Activations of a Keras 3 model that tf_keras computes differently under the same name."""
    found = []
    for layer in iter_layers(model_config):
        config = layer.get("config") or {}
        for key in ("activation", "recurrent_activation"):
            value = config.get(key)
            if isinstance(value, str) and value in KERAS3_REDEFINED_ACTIVATIONS:
                found.append(f"layer {config.get('name')!r} ({key} {value!r})")
    return found


def redefined_recurrent_gates(model_config: dict[str, Any]) -> list[str]:
    """Recurrent layers whose gate activation the other Keras generation computes differently under its name
    (``hard_sigmoid``); unlike an output activation, nothing outside the layer can stand for it."""
    return [found for found in generations_differ(model_config) if "recurrent_activation" in found]


def keras3_dialect(model_config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 2 dialect config that Keras 3 builds.

    Keras 3 reads Keras 2 style configs but does not count a nested model's
    own construction node (its calls are one lower than Keras 2 wrote them),
    refuses a few Keras 2 arguments (``time_major``) and ``/`` in layer names
    (see :func:`keras3_renamed_layers`), and has no ``TFOpLambda`` (each becomes its
    Keras 3 operation). A class Keras 3 ships without exporting it (ConvNeXt's
    ``LayerScale``) gets the ``module`` Keras 3 finds it by, and so does a layer a
    wrapper holds (a Bidirectional's LSTM): Keras 3 finds those by module only. A
    Bidirectional's backward layer is named as Keras 3 names it (``backward_lstm``; Keras 3
    prefixes only the forward one itself). A recurrent layer called with ``initial_state``
    (a decoder LSTM), which Keras 2 recorded as more inputs, gets its states as that argument. A nested
    model's single input and output are recorded as one tensor, so that it returns one, as in Keras 2.

    Raises:
        ValueError: a ``TFOpLambda`` without a Keras 3 operation (see :func:`keras3_op_of`).
    """
    import copy

    config = copy.deepcopy(model_config)
    _shift_nested(config)
    _input_layer_first(config)
    _drop_refused_arguments(config)
    _name_shipped_modules(config)
    _keras3_wrapped_layers(config)
    _attention_by_module(config)
    _initial_states_as_arguments(config)
    _tensor_keywords_as_tensors(config)
    _nested_single_endpoints(config)
    tf_ops_as_operations(config)
    rename_layers(config, keras3_renamed_layers(model_config))
    return config


def _tensor_keywords_as_tensors(model: dict[str, Any]) -> None:
    # Keras 2 recorded a tensor passed by keyword (MultiHeadAttention's value=, key=, attention_mask=) as the
    # [layer, node, tensor] reference it is; Keras 3 reads a Keras 2 node's keywords as plain values.
    for layers in _functional_layer_lists(model):
        names = {(layer.get("config") or {}).get("name", layer.get("name")) for layer in layers}
        for layer in layers:
            nodes = layer.get("inbound_nodes") or []
            layer["inbound_nodes"] = [_with_tensor_keywords(node, names) for node in nodes]


def _with_tensor_keywords(node: Any, names: set[Any]) -> Any:
    if not isinstance(node, list) or not node or not all(isinstance(edge, list) and len(edge) >= 3 for edge in node):
        return node
    keywords = node[0][3] if len(node[0]) > 3 and isinstance(node[0][3], dict) else {}

    def tensors(value: Any) -> Any:
        if _is_endpoint(value) and value[0] in names:
            return keras_tensor(value[:3])
        return [tensors(item) for item in value] if isinstance(value, list) else value

    converted = {key: tensors(value) for key, value in keywords.items()}
    if converted == keywords:
        return node
    inputs = [keras_tensor(edge[:3]) for edge in node]
    return {"args": [inputs[0] if len(inputs) == 1 else inputs], "kwargs": converted}


def _nested_single_endpoints(model: dict[str, Any]) -> None:
    # Keras 2 wrote every endpoint list as a list ([["relu", 0, 0]]) and called a one-input, one-output
    # model with a tensor, returning a tensor; Keras 3 keeps the list, so a nested model inside a Sequential
    # (Teachable Machine's base) would hand the next layer a list: one endpoint is written as Keras 3 writes it.
    for layer in iter_layers(model):
        if layer.get("class_name") not in ("Functional", "Model"):
            continue
        body = layer.get("config") or {}
        for key in ("input_layers", "output_layers"):
            endpoints = body.get(key)
            if isinstance(endpoints, list) and len(endpoints) == 1 and _is_endpoint(endpoints[0]):
                body[key] = endpoints[0]


def _is_endpoint(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


_RECURRENT_LAYERS = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D",
                               "ConvLSTM3D"})


def _functional_layer_lists(model: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """The layer list of the model and of each functional model nested in it (the configs whose nodes Keras 3
    reads as calls)."""
    for inner in [model, *iter_layers(model)]:
        if inner.get("class_name") in ("Functional", "Model"):
            yield (inner.get("config") or {}).get("layers") or []


def _initial_states_as_arguments(model: dict[str, Any]) -> None:
    for layers in _functional_layer_lists(model):
        for layer in layers:
            if layer.get("class_name") not in _RECURRENT_LAYERS:
                continue
            nodes = layer.get("inbound_nodes") or []
            layer["inbound_nodes"] = [_with_initial_state(node) for node in nodes]


def _with_initial_state(node: Any) -> Any:
    # Keras 2: [[inputs..., {}], [state_h...], [state_c...]]; Keras 3 takes the states as initial_state=[...]
    if not isinstance(node, list) or len(node) < 2 or not all(isinstance(edge, list) and len(edge) >= 3 for edge in node):
        return node
    first, states = node[0], node[1:]
    kwargs = dict(first[3]) if len(first) > 3 and isinstance(first[3], dict) else {}
    kwargs["initial_state"] = [keras_tensor(edge[:3]) for edge in states]
    return {"args": [keras_tensor(first[:3])], "kwargs": kwargs}


def _keras3_wrapped_layers(model: dict[str, Any]) -> None:
    import keras

    for layer in iter_layers(model):
        body = layer.get("config")
        if layer.get("class_name") in MODEL_CLASSES or not isinstance(body, dict):
            continue
        for key in ("layer", "backward_layer"):
            inner = body.get(key)
            if not isinstance(inner, dict):
                continue
            if "module" not in inner and isinstance(getattr(keras.layers, str(inner.get("class_name")), None), type):
                inner["module"] = "keras.layers"
            name = (inner.get("config") or {}).get("name")
            if key == "backward_layer" and isinstance(name, str) and not name.startswith("backward_"):
                inner["config"]["name"] = f"backward_{name}"


def with_shipped_modules(model_config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 config whose records of Keras-shipped classes all name their module (Keras 3's legacy
    ``.h5`` configs leave it out); ``model_config`` itself when they already do."""
    import copy

    if not _name_shipped_modules(model_config, dry_run=True):
        return model_config
    config = copy.deepcopy(model_config)
    _name_shipped_modules(config)
    return config


def _attention_by_module(model: dict[str, Any]) -> None:
    # Keras 3 reads a layer record without a module through its Keras 2 deserializer, which takes a string naming
    # a registered function for that function: Attention's score_mode "dot" became keras.ops.dot ("Invalid value
    # for argument score_mode"). With its module, the record goes through Keras 3's own deserializer.
    for layer in iter_layers(model):
        if layer.get("class_name") in ("Attention", "AdditiveAttention") and "module" not in layer:
            layer["module"], layer["registered_name"] = "keras.layers", None


def _name_shipped_modules(model: dict[str, Any], dry_run: bool = False) -> bool:
    named = False
    for layer in iter_layers(model):
        found = None if "module" in layer else keras_shipped_layer(layer.get("class_name"), 3)
        if found is not None:
            named = True
            if not dry_run:
                layer["module"] = found.__module__
                layer["class_name"] = found.__name__  # tf_keras' "Custom>CustomScaleLayer"
    return named


# Keras 3 activations tf_keras lacks (or computes differently under the same name), as the
# TensorFlow functions Keras 3 computes them with. Each step calls function(previous output,
# operand), the operand a constant, None (none) or "input" (the activation's input).
# hard_sigmoid is relu6(x + 3) / 6 in Keras 3 but clip(0.2 x + 0.5) in tf_keras; hard_silu
# (alias hard_swish) is x * hard_sigmoid(x).
_HARD_SIGMOID = (("math.add", 3.0), ("nn.relu6", None), ("math.truediv", 6.0))


_KERAS3_ACTIVATION_STEPS: dict[str, tuple[tuple[str, float | str | None], ...]] = {
    "hard_sigmoid": _HARD_SIGMOID,
    "hard_silu": (*_HARD_SIGMOID, ("math.multiply", "input")),
    "hard_swish": (*_HARD_SIGMOID, ("math.multiply", "input")),
}


# Layers that apply their ``activation`` to their output (recurrent layers apply it inside).
_OUTPUT_ACTIVATION_CLASSES = frozenset({
    "Activation", "Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose",
    "Conv3DTranspose", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D",
})


def _redirected(old: str, new: str, reference: str, node_index: int) -> tuple[str, int]:
    return (new, 0) if reference == old and node_index == 0 else (reference, node_index)


def tf_keras_dialect(model_config: dict[str, Any], generation: int) -> dict[str, Any]:
    """A Keras 2 dialect config that tf_keras builds and that computes what the Keras ``generation`` computed.

    A Keras 3 activation tf_keras lacks (``hard_silu`` in MobileNetV3) or computes
    differently (``hard_sigmoid``) becomes ``linear`` on its layer, followed by
    ``TFOpLambda`` layers calling the TensorFlow functions Keras 3 computes it with;
    the layer's consumers read the last of them. Only layers of functional models
    with one call are rewritten; anything else is left for tf_keras to refuse. A
    Bidirectional's inner layers lose the prefix Keras 3 names them with (see
    :func:`unprefixed_bidirectional`).
    """
    if generation != 3:
        return model_config
    config = unprefixed_bidirectional(model_config, generation)
    for inner in [config, *iter_layers(config)]:
        if inner.get("class_name") in ("Functional", "Model"):
            _activation_steps(inner.get("config") or {})
    return config


_BIDIRECTIONAL_SIDES = (("layer", "forward_"), ("backward_layer", "backward_"))


def unprefixed_bidirectional(model_config: dict[str, Any], generation: int) -> dict[str, Any]:
    """A copy of the config whose Bidirectional inner layers are named as tf_keras and TF.js configs name them.

    Keras 3 writes a Bidirectional's inner layers as ``forward_gru`` and ``backward_gru``
    (it prefixes once, however often it reads its own config); tf_keras and TF.js
    prefix again when they build one (``forward_forward_gru``), so that its weights
    would no longer be the layer's. For a Keras 3 config (``generation`` 3) the
    prefix is dropped; other configs are copied as they are.
    """
    import copy

    config = copy.deepcopy(model_config)
    if generation != 3:
        return config
    for layer in iter_layers(config):
        body = layer.get("config")
        if layer.get("class_name") != "Bidirectional" or not isinstance(body, dict):
            continue
        for key, prefix in _BIDIRECTIONAL_SIDES:
            inner = (body.get(key) or {}).get("config") if isinstance(body.get(key), dict) else None
            if isinstance(inner, dict) and isinstance(inner.get("name"), str) and inner["name"].startswith(prefix):
                inner["name"] = inner["name"][len(prefix):]
    return config


def h5_dialect(model_config: dict[str, Any], generation: int,
               raw_config: dict[str, Any] | None = None) -> tuple[dict[str, Any], int]:
    """The config a whole-model ``.h5`` holds, and the Keras generation that loads it (2: tf_keras, 3: Keras 3).

    Normally :func:`tf_keras_dialect`, for tf_keras. A Keras 3 model holding an
    operation no ``TFOpLambda`` stands for (``ops.cumsum``) cannot load in tf_keras:
    its ``.h5`` then keeps every operation as a Keras 3 record (with its module,
    which Keras 3's own ``.h5`` drops), which Keras 3 loads. So does one whose recurrent gates
    use Keras 3's ``hard_sigmoid``, which tf_keras computes differently and no layer around the
    recurrent layer can stand for. A Keras 3 model holding a layer tf_keras lacks (``GroupQueryAttention``)
    keeps its own config (``raw_config``), as Keras 3's own ``.h5`` does: Keras 3 builds such a layer only from
    its own calls, and finds it only under its class's name (``GroupedQueryAttention``).
    """
    import copy

    if generation == 3 and raw_config is not None and any(is_keras3_only_layer(layer)
                                                          for layer in iter_layers(raw_config)):
        config = copy.deepcopy(raw_config)
        for layer in iter_layers(config):
            if layer.get("class_name") in CLASS_OF_ALIAS:  # found by its class's name alone, as Keras 3 writes it
                layer["class_name"] = CLASS_OF_ALIAS[layer["class_name"]]
                layer.pop("module", None)
        return config, 3
    config = tf_keras_dialect(model_config, generation)
    if generation != 3 or not (any(is_operation_record(layer) for layer in iter_layers(config))
                               or redefined_recurrent_gates(config)):
        return config, 2
    config = copy.deepcopy(model_config)
    tf_ops_as_operations(config)
    return config, 3


def _activation_steps(body: dict[str, Any]) -> None:
    layers = body.get("layers") or []
    index = 0
    while index < len(layers):
        layer = layers[index]
        index += 1
        config = layer.get("config") or {}
        steps = _KERAS3_ACTIVATION_STEPS.get(str(config.get("activation")))
        if steps is None or layer.get("class_name") not in _OUTPUT_ACTIVATION_CLASSES \
                or len(layer.get("inbound_nodes") or []) != 1:
            continue
        name = str(config.get("name", layer.get("name")))
        activation = str(config["activation"])
        config["activation"] = "linear"
        source: list[Any] = [name, 0, 0]
        previous, last = source, name
        added = []
        for number, (function, operand) in enumerate(steps):
            step = f"{name}_{activation}_{number}"
            if operand is None:
                entry = [*previous, {}]
            elif operand == "input":
                entry = [*previous, {"y": list(source)}]
            else:
                entry = [*previous, {"y": operand}]
            added.append({"class_name": "TFOpLambda",
                          "config": {"name": step, "trainable": True, "dtype": "float32", "function": function},
                          "name": step, "inbound_nodes": [entry]})
            previous, last = [step, 0, 0], step
        redirect = functools.partial(_redirected, name, last)
        for other in layers:
            other["inbound_nodes"] = mapped_references(other.get("inbound_nodes") or [], redirect)
        if "output_layers" in body:
            body["output_layers"] = mapped_references(body["output_layers"], redirect)
        layers[index:index] = added
        index += len(added)


def _input_layer_first(model: dict[str, Any]) -> None:
    # TF.js and Keras 2 let a Sequential's first layer carry batch_input_shape; Keras 3
    # wants an InputLayer for it.
    for inner in [model, *iter_layers(model)]:
        if inner.get("class_name") != "Sequential":
            continue
        layers = (inner.get("config") or {}).get("layers") or []
        first = layers[0] if layers else None
        if not first or first.get("class_name") == "InputLayer":
            continue
        shape = (first.get("config") or {}).pop("batch_input_shape", None)
        if shape is not None:
            dtype = (first.get("config") or {}).get("dtype", "float32")
            name = f"{(first.get('config') or {}).get('name', 'input')}_input"
            layers.insert(0, {"class_name": "InputLayer",
                              "config": {"batch_input_shape": shape, "dtype": dtype, "name": name}})


def _drop_refused_arguments(model: dict[str, Any]) -> None:
    """Drops arguments a Keras 2 layer config holds that the Keras 3 class takes no more (``groups`` of
    DepthwiseConv2D): Keras 3 refuses the whole model for one such key. Asks Keras 3 which
    arguments each class's constructors take."""
    for layer in iter_layers(model):
        class_name = layer.get("class_name")
        config = layer.get("config")
        if class_name in MODEL_CLASSES or not isinstance(config, dict):
            continue
        _drop_refused_object_arguments(config)
        accepted = _keras3_arguments(str(class_name))
        if accepted is None:
            continue
        for key in [key for key in config if key not in accepted]:
            del config[key]


_KEPT_ARGUMENTS = frozenset({"name", "trainable", "dtype", "input_shape", "input_dim", "batch_input_shape",
                             "batch_shape", "batch_size", "autocast"})


_OBJECT_KINDS = (("_initializer", "initializers"), ("_regularizer", "regularizers"), ("_constraint", "constraints"))


def _drop_refused_object_arguments(config: dict[str, Any]) -> None:
    """The same for a layer's initializers, regularizers and constraints: TF 1.x tf.keras (``2.2.4-tf``)
    records each initializer's ``dtype``, and Keras 2.2 calls a truncated normal ``distribution: normal``."""
    for key, value in config.items():
        kind = next((kind for suffix, kind in _OBJECT_KINDS if key.endswith(suffix)), None)
        if kind is None or not isinstance(value, dict) or not isinstance(value.get("config"), dict):
            continue
        arguments = _keras3_arguments(str(value.get("class_name")), kind)
        inner = value["config"]
        if arguments is not None:
            for name in [name for name in inner if name not in arguments]:
                del inner[name]
        if value.get("class_name") == "VarianceScaling" and inner.get("distribution") == "normal":
            inner["distribution"] = "truncated_normal"


def _keras3_arguments(class_name: str, kind: str = "layers") -> frozenset[str] | None:
    import inspect

    import keras

    cls = getattr(getattr(keras, kind), class_name, None)
    if not isinstance(cls, type):
        return None
    names = set(_KEPT_ARGUMENTS) if kind == "layers" else set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        names.update(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return frozenset(names)


def _shift_nested(model: dict[str, Any]) -> None:
    if model.get("class_name") not in MODEL_CLASSES:
        return
    layers = (model.get("config") or {}).get("layers", [])
    # A nested Sequential has a construction node in Keras 2 only when it starts from an input
    # (ConvNeXt's stem); one without is first called at node 0 in both generations.
    models = {
        (layer.get("config") or {}).get("name", layer.get("name"))
        for layer in layers
        if layer.get("class_name") in MODEL_CLASSES
        and (layer.get("class_name") != "Sequential" or _sequential_has_input(layer))
    }

    def shifted(name: str, node_index: int) -> tuple[str, int]:
        return (name, node_index - 1) if name in models and node_index > 0 else (name, node_index)

    for layer in layers:
        _shift_nested(layer)
        layer_config = layer.get("config") or {}
        for key in _KERAS2_ONLY_KEYS:
            layer_config.pop(key, None)
        # every reference, wherever a node holds it (a TFOpLambda's node is one flat edge, its
        # other operands sit in the call arguments)
        if models and layer.get("inbound_nodes"):
            layer["inbound_nodes"] = mapped_references(layer["inbound_nodes"], shifted)
    body = model.get("config") or {}
    if models and body.get("output_layers"):
        body["output_layers"] = mapped_references(body["output_layers"], shifted)


def _sequential_has_input(layer: dict[str, Any]) -> bool:
    inner = (layer.get("config") or {}).get("layers") or []
    first = inner[0] if inner and isinstance(inner[0], dict) else {}
    return first.get("class_name") == "InputLayer" or "batch_input_shape" in (first.get("config") or {})
