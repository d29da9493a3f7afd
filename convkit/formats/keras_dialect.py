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

import functools
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

# ---------------------------------------------------------------- Keras <-> TF.js names
# One table per kind of serialized object: Keras class or function name -> the name
# TF.js 4.22 registers (None: TF.js has no counterpart). Names missing from a table
# are as unknown to TF.js as those mapped to None.

# Activations TF.js computes as Keras does. Keras 3's hard_sigmoid is relu6(x + 3) / 6,
# not Keras 2's (and TF.js') clip(0.2 x + 0.5): see KERAS3_ACTIVATIONS. "gelu" is the
# exact (erf) GELU in Keras and TF.js alike; TF.js' "gelu_new" does not deserialize.
ACTIVATIONS: dict[str, str | None] = {
    **{name: name for name in ("elu", "selu", "relu", "relu6", "linear", "sigmoid", "hard_sigmoid", "softplus",
                               "softsign", "tanh", "softmax", "log_softmax", "gelu", "mish", "swish")},
    "silu": "swish",
    "hard_silu": None, "hard_swish": None, "leaky_relu": None, "exponential": None, "celu": None, "glu": None,
    "hard_tanh": None, "log_sigmoid": None, "sparsemax": None, "soft_shrink": None, "hard_shrink": None,
    "tanh_shrink": None, "squareplus": None, "sparse_plus": None, "sparse_sigmoid": None, "threshold": None,
}
KERAS3_ACTIVATIONS: dict[str, str | None] = {**ACTIVATIONS, "hard_sigmoid": None}
# Initializers only shape fresh weights, which the stored weights replace: an unknown one
# is written as Zeros (with a warning), never a reason to refuse the model.
INITIALIZERS: dict[str, str | None] = {
    **{name: name for name in ("Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal",
                               "Identity", "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal",
                               "HeUniform", "Orthogonal")},
    "LecunNormal": "LeCunNormal", "LecunUniform": "LeCunUniform", "OrthogonalInitializer": "Orthogonal",
    "IdentityInitializer": "Identity", "zeros": "Zeros", "ones": "Ones", "glorot_uniform": "GlorotUniform",
    "glorot_normal": "GlorotNormal", "he_normal": "HeNormal", "he_uniform": "HeUniform",
    "lecun_normal": "LeCunNormal", "lecun_uniform": "LeCunUniform", "orthogonal": "Orthogonal",
}
# Regularizers act in training only; TF.js gets the ones it has, the others are dropped.
REGULARIZERS: dict[str, str | None] = {"L1L2": "L1L2", "L1": "L1L2", "L2": "L1L2", "l1": "L1L2", "l2": "L1L2",
                                       "l1_l2": "L1L2", "OrthogonalRegularizer": None}
# Constraints are all dropped: Keras applies them after training steps only, but TF.js 4.22
# applies them to the weights it loads (a MaxNorm kernel comes out rescaled), so keeping one
# would change the predictions.
CONSTRAINTS: dict[str, str | None] = {name: None for name in ("MaxNorm", "UnitNorm", "NonNeg", "MinMaxNorm")}
# Config fields TF.js refuses for a layer class although Keras writes them (tf_keras
# SeparableConv2D carries unused kernel_* fields; TF.js demands depthwise_*/pointwise_*).
_TFJS_REFUSED_FIELDS = {
    "SeparableConv2D": ("kernel_initializer", "kernel_regularizer", "kernel_constraint"),
    "SeparableConv1D": ("kernel_initializer", "kernel_regularizer", "kernel_constraint"),
}

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
    from convkit.formats._policy import tf_keras_class_name

    if is_operation_record(layer):
        return tf_op_lambda_of(layer, models)
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
    body = model_config.get("config") or {}
    for layer in (body if isinstance(body, list) else body.get("layers", [])) or []:
        yield layer
        if layer.get("class_name") in MODEL_CLASSES:
            yield from iter_layers(layer)
        for wrapped in ("layer", "backward_layer"):
            inner = (layer.get("config") or {}).get(wrapped)
            if isinstance(inner, dict) and "class_name" in inner:
                yield inner


def tfjs_unsupported(model_config: dict[str, Any], generation: int = 2) -> list[str]:
    """Why TF.js layers cannot hold this (Keras 2 dialect) model, layer by layer; empty if it can.

    Args:
        model_config: the model in the Keras 2 dialect.
        generation: the Keras generation that wrote it (activations differ between them).
    """
    activations = KERAS3_ACTIVATIONS if generation == 3 else ACTIVATIONS
    reasons = []
    for layer in iter_layers(model_config):
        class_name = layer.get("class_name")
        config = layer.get("config") or {}
        name = config.get("name", layer.get("name"))
        if class_name not in TFJS_LAYER_CLASSES or is_operation_record(layer):  # ops.concatenate is no layer
            reasons.append(f"layer {name!r} ({class_name}) has no TF.js layers counterpart")
        elif class_name == "GRU" and config.get("reset_after"):
            reasons.append(f"layer {name!r} is a GRU with reset_after=True, which TF.js layers does not support")
        for key in ("activation", "recurrent_activation"):
            value = config.get(key)
            if isinstance(value, dict):
                value = value.get("class_name") if not value.get("config") else f"{value.get('class_name')} (configured)"
            if value is not None and activations.get(str(value)) is None:
                reasons.append(f"layer {name!r} ({class_name}) uses the activation {value!r}, which TF.js layers "
                               f"{'computes differently' if ACTIVATIONS.get(str(value)) else 'does not have'}")
        if str(class_name).startswith("Global") and config.get("keepdims"):
            reasons.append(f"layer {name!r} ({class_name}) keeps the pooled dimensions, which TF.js layers cannot")
        if class_name == "ReLU" and (config.get("negative_slope") or config.get("threshold")):
            reasons.append(f"layer {name!r} is a ReLU with a negative slope or threshold, which TF.js layers lacks")
    return reasons


def generations_differ(model_config: dict[str, Any]) -> list[str]:
    """Activations of a Keras 3 model that tf_keras computes differently under the same name."""
    found = []
    for layer in iter_layers(model_config):
        config = layer.get("config") or {}
        for key in ("activation", "recurrent_activation"):
            value = config.get(key)
            if isinstance(value, str) and ACTIVATIONS.get(value) and not KERAS3_ACTIVATIONS.get(value):
                found.append(f"layer {config.get('name')!r} ({key} {value!r})")
    return found


def to_tfjs_config(model_config: dict[str, Any], generation: int = 2) -> tuple[dict[str, Any], list[str]]:
    """The config TF.js layers 4.22 deserializes, and what was changed or dropped on the way.

    Names go through the tables above (activations, initializers, regularizers,
    constraints); training-only objects TF.js has no counterpart for are dropped,
    and every drop is listed. Call :func:`tfjs_unsupported` first: activations
    TF.js lacks are left as they are.
    """
    import copy

    config = copy.deepcopy(model_config)
    activations = KERAS3_ACTIVATIONS if generation == 3 else ACTIVATIONS
    notes: list[str] = []
    for layer in iter_layers(config):
        class_name = layer.get("class_name")
        body = layer.get("config")
        if not isinstance(body, dict) or class_name in MODEL_CLASSES:
            continue
        name = body.get("name", layer.get("name"))
        for key in _TFJS_REFUSED_FIELDS.get(str(class_name), ()):
            if body.pop(key, None) is not None and not key.endswith("initializer"):
                notes.append(f"the {key} of layer {name!r} (TF.js {class_name} takes none)")
        for key, value in list(body.items()):
            if key in ("activation", "recurrent_activation") and isinstance(value, str):
                body[key] = activations.get(value) or value
            elif key.endswith("_initializer") and value is not None:
                body[key] = _tfjs_initializer(value, f"{key} of layer {name!r}", notes)
            elif key.endswith("_regularizer") and value is not None:
                body[key] = _tfjs_object(value, REGULARIZERS, f"{key} of layer {name!r}", notes)
            elif key.endswith("_constraint") and value is not None:
                body[key] = _tfjs_object(value, CONSTRAINTS, f"{key} of layer {name!r}", notes,
                                         "TF.js would apply it to the loaded weights")
    return config, notes


def _object_name(value: Any) -> str:
    return str(value.get("class_name") if isinstance(value, dict) else value)


def _tfjs_initializer(value: Any, what: str, notes: list[str]) -> Any:
    name = INITIALIZERS.get(_object_name(value))
    inner = dict(value.get("config") or {}) if isinstance(value, dict) else {}
    if name is None:
        notes.append(f"the {what} ({_object_name(value)}, written as Zeros: the stored weights replace it)")
        return {"class_name": "Zeros", "config": {}}
    if name == "VarianceScaling" and inner.get("distribution") == "untruncated_normal":
        inner["distribution"] = "normal"
    return {"class_name": name, "config": inner}


def _tfjs_object(value: Any, table: dict[str, str | None], what: str, notes: list[str],
                 why: str = "TF.js has no counterpart") -> Any:
    name = table.get(_object_name(value))
    if name is None:
        notes.append(f"the {what} ({_object_name(value)}, used in training only; {why})")
        return None
    if isinstance(value, dict):
        inner = dict(value.get("config") or {})
    else:  # a bare name ("l2") means Keras' default factor
        inner = {factor: 0.01 for factor in ("l1", "l2") if factor in str(value)}
    if name == "L1L2":
        inner = {"l1": float(inner.get("l1") or 0.0), "l2": float(inner.get("l2") or 0.0)}
    return {"class_name": name, "config": inner}


def is_cell_name(name: str) -> bool:
    """Whether a weight path component names an RNN cell (``lstm_cell``, ``lstm_cell_1``)."""
    import re

    return re.search(r"cell(_\d+)?$", name) is not None


def layer_names(model_config: dict[str, Any]) -> frozenset[str]:
    """The name of every layer in a model config, nested ones included."""
    return frozenset(str((layer.get("config") or {}).get("name", layer.get("name"))) for layer in iter_layers(model_config))


def tfjs_weight_name(weight_name: str, layers: frozenset[str] | set[str] = frozenset()) -> str:
    """The name TF.js layers gives a weight: ``<owning layer>/<attribute>``.

    Keras names carry the model (``sequential/dense/kernel``) or the RNN cell
    (``lstm/lstm_cell/kernel``) in the path; TF.js scopes weights by the layer
    that owns them only. Layer names may hold ``/`` themselves (MobileNetV3's
    ``Conv/BatchNorm``): given the model's ``layers``, the longest layer name the
    path holds right before the attribute (or its cell) is the owner.
    """
    parts = weight_name.split(":")[0].split("/")
    if layers:
        for end in (len(parts) - 1, len(parts) - 2):
            if end < 1 or (end == len(parts) - 2 and not is_cell_name(parts[end])):
                continue
            for start in range(end):
                owner = "/".join(parts[start:end])
                if owner in layers:
                    return f"{owner}/{parts[-1]}"
    if len(parts) >= 3 and is_cell_name(parts[-2]):
        return f"{parts[-3]}/{parts[-1]}"
    if len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1]


def keras3_dialect(model_config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 2 dialect config that Keras 3 builds.

    Keras 3 reads Keras 2 style configs but does not count a nested model's
    own construction node (its calls are one lower than Keras 2 wrote them),
    refuses a few Keras 2 arguments (``time_major``) and ``/`` in layer names
    (see :func:`keras3_renamed_layers`), and has no ``TFOpLambda`` (each becomes its
    Keras 3 operation). A class Keras 3 ships without exporting it (ConvNeXt's
    ``LayerScale``) gets the ``module`` Keras 3 finds it by.

    Raises:
        ValueError: a ``TFOpLambda`` without a Keras 3 operation (see :func:`keras3_op_of`).
    """
    import copy

    config = copy.deepcopy(model_config)
    _shift_nested(config)
    _input_layer_first(config)
    _drop_refused_arguments(config)
    _name_shipped_modules(config)
    _tf_ops_as_operations(config)
    _rename_layers(config, keras3_renamed_layers(model_config))
    return config


def keras3_renamed_layers(model_config: dict[str, Any]) -> dict[str, str]:
    """Layer names Keras 3 refuses, each with the name :func:`keras3_dialect` gives it.

    tf_keras names layers with ``/`` (DenseNet's ``conv1/conv``, MobileNetV3's
    ``Conv/BatchNorm``); Keras 3 allows no ``/`` in a name. Each becomes the same
    name with ``_``, made unique among the model's names.
    """
    taken = set(layer_names(model_config))
    renamed: dict[str, str] = {}
    for layer in iter_layers(model_config):
        name = (layer.get("config") or {}).get("name", layer.get("name"))
        if not isinstance(name, str) or "/" not in name or name in renamed:
            continue
        base = candidate = name.replace("/", "_")
        count = 0
        while candidate in taken:
            count += 1
            candidate = f"{base}_{count}"
        taken.add(candidate)
        renamed[name] = candidate
    return renamed


def _rename_layers(model: dict[str, Any], renamed: dict[str, str]) -> None:
    """Renames layers everywhere a config names them: their records, and every reference to them."""
    if not renamed:
        return

    def change(name: str, node_index: int) -> tuple[str, int]:
        return renamed.get(name, name), node_index

    for inner in [model, *iter_layers(model)]:
        config = inner.get("config")
        if isinstance(config, dict) and config.get("name") in renamed:
            config["name"] = renamed[config["name"]]
        if inner.get("name") in renamed:
            inner["name"] = renamed[inner["name"]]
        if inner.get("inbound_nodes"):
            inner["inbound_nodes"] = _mapped_references(inner["inbound_nodes"], change)
        for key in ("input_layers", "output_layers"):
            if isinstance(config, dict) and config.get(key):
                config[key] = _mapped_references(config[key], change)


def with_shipped_modules(model_config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 config whose records of Keras-shipped classes all name their module (Keras 3's legacy
    ``.h5`` configs leave it out); ``model_config`` itself when they already do."""
    import copy

    if not _name_shipped_modules(model_config, dry_run=True):
        return model_config
    config = copy.deepcopy(model_config)
    _name_shipped_modules(config)
    return config


def _name_shipped_modules(model: dict[str, Any], dry_run: bool = False) -> bool:
    from convkit.formats._policy import keras_shipped_layer

    named = False
    for layer in iter_layers(model):
        found = None if "module" in layer else keras_shipped_layer(layer.get("class_name"), 3)
        if found is not None:
            named = True
            if not dry_run:
                layer["module"] = found.__module__
                layer["class_name"] = found.__name__  # tf_keras' "Custom>CustomScaleLayer"
    return named


def _mapped_references(value: Any, change: Any) -> Any:
    """``value`` with every tensor reference (``[layer, node, tensor, ...]`` lists, keras_history
    triples), however nested, passed through ``change(layer, node) -> (layer, node)``."""
    if isinstance(value, list):
        if value and isinstance(value[0], str) and len(value) in (3, 4) and isinstance(value[1], int):
            return [*change(value[0], value[1]), *[_mapped_references(item, change) for item in value[2:]]]
        return [_mapped_references(item, change) for item in value]
    if isinstance(value, dict):
        return {key: _mapped_references(item, change) for key, item in value.items()}
    return value


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
    with one call are rewritten; anything else is left for tf_keras to refuse.
    """
    if generation != 3:
        return model_config
    import copy

    config = copy.deepcopy(model_config)
    for inner in [config, *iter_layers(config)]:
        if inner.get("class_name") in ("Functional", "Model"):
            _activation_steps(inner.get("config") or {})
    return config


def h5_dialect(model_config: dict[str, Any], generation: int) -> tuple[dict[str, Any], int]:
    """The config a whole-model ``.h5`` holds, and the Keras generation that loads it (2: tf_keras, 3: Keras 3).

    Normally :func:`tf_keras_dialect`, for tf_keras. A Keras 3 model holding an
    operation no ``TFOpLambda`` stands for (``ops.cumsum``) cannot load in tf_keras:
    its ``.h5`` then keeps every operation as a Keras 3 record (with its module,
    which Keras 3's own ``.h5`` drops), which Keras 3 loads.
    """
    config = tf_keras_dialect(model_config, generation)
    if generation != 3 or not any(is_operation_record(layer) for layer in iter_layers(config)):
        return config, 2
    import copy

    config = copy.deepcopy(model_config)
    _tf_ops_as_operations(config)
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
            other["inbound_nodes"] = _mapped_references(other.get("inbound_nodes") or [], redirect)
        if "output_layers" in body:
            body["output_layers"] = _mapped_references(body["output_layers"], redirect)
        layers[index:index] = added
        index += len(added)


def _tf_ops_as_operations(model: dict[str, Any]) -> None:
    """Replaces each tf_keras ``TFOpLambda`` by its Keras 3 operation (see :func:`keras3_op_of`)."""
    for inner in [model, *iter_layers(model)]:
        if inner.get("class_name") not in ("Functional", "Model"):
            continue
        layers = (inner.get("config") or {}).get("layers") or []
        for index, layer in enumerate(layers):
            if layer.get("class_name") in ("TFOpLambda", "SlicingOpLambda"):
                layers[index] = keras3_op_of(layer)


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
        accepted = _keras3_arguments(str(class_name))
        if accepted is None:
            continue
        for key in [key for key in config if key not in accepted]:
            del config[key]


_KEPT_ARGUMENTS = frozenset({"name", "trainable", "dtype", "input_shape", "input_dim", "batch_input_shape",
                             "batch_shape", "batch_size", "autocast"})


def _keras3_arguments(class_name: str) -> frozenset[str] | None:
    import inspect

    import keras

    cls = getattr(keras.layers, class_name, None)
    if not isinstance(cls, type):
        return None
    names = set(_KEPT_ARGUMENTS)
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
            layer["inbound_nodes"] = _mapped_references(layer["inbound_nodes"], shifted)
    body = model.get("config") or {}
    if models and body.get("output_layers"):
        body["output_layers"] = _mapped_references(body["output_layers"], shifted)


def _sequential_has_input(layer: dict[str, Any]) -> bool:
    inner = (layer.get("config") or {}).get("layers") or []
    first = inner[0] if inner and isinstance(inner[0], dict) else {}
    return first.get("class_name") == "InputLayer" or "batch_input_shape" in (first.get("config") or {})


# ---------------------------------------------------------------- tf_keras TFOpLambda <-> Keras 3 operations
# What ``x + 3.0`` or ``tf.math.multiply(x, y)`` becomes in a functional model: a tf_keras
# ``TFOpLambda`` layer naming the TensorFlow function, or a Keras 3 operation object
# (``keras.src.ops.numpy.Add``) with the constant among the node's call arguments. Only
# functions that compute exactly what the operation computes are listed: TensorFlow
# function -> (Keras 3 ops module, class, the function's argument names in call order).
_TF_FUNCTION_OPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    **{name: ("numpy", "Add", ("x", "y")) for name in ("__operators__.add", "math.add", "add")},
    **{name: ("numpy", "Subtract", ("x", "y")) for name in ("math.subtract", "subtract")},
    **{name: ("numpy", "Multiply", ("x", "y")) for name in ("math.multiply", "multiply")},
    **{name: ("numpy", "TrueDivide", ("x", "y")) for name in ("math.truediv", "truediv")},
    **{name: ("numpy", "Divide", ("x", "y")) for name in ("math.divide", "divide")},
    **{name: ("numpy", "Maximum", ("x", "y")) for name in ("math.maximum", "maximum")},
    **{name: ("numpy", "Minimum", ("x", "y")) for name in ("math.minimum", "minimum")},
    **{name: ("numpy", "Power", ("x", "y")) for name in ("math.pow", "pow")},
    **{name: ("numpy", "Negative", ("x",)) for name in ("math.negative", "negative")},
    **{name: ("numpy", "Absolute", ("x",)) for name in ("math.abs", "abs")},
    **{name: ("numpy", "Square", ("x",)) for name in ("math.square", "square")},
    **{name: ("numpy", "Sqrt", ("x",)) for name in ("math.sqrt", "sqrt")},
    **{name: ("numpy", "Exp", ("x",)) for name in ("math.exp", "exp")},
    **{name: ("numpy", "Tanh", ("x",)) for name in ("math.tanh", "nn.tanh", "tanh")},
    **{name: ("nn", "Sigmoid", ("x",)) for name in ("math.sigmoid", "nn.sigmoid", "sigmoid")},
    "nn.relu": ("nn", "Relu", ("features",)),
    "nn.relu6": ("nn", "Relu6", ("features",)),
}
# The reverse: Keras 3 operation (module, class) -> the TensorFlow function a TFOpLambda calls.
_OP_TF_FUNCTIONS: dict[tuple[str, str], str] = {}
for _function, (_module, _class_name, _arguments) in _TF_FUNCTION_OPS.items():
    _OP_TF_FUNCTIONS.setdefault((f"keras.src.ops.{_module}", _class_name), _function)
_OP_TF_FUNCTIONS[("keras.src.ops.numpy", "Add")] = "math.add"
# tf_keras' marker for a constant standing where a TFOpLambda's first (tensor) argument goes.
CONSTANT_INPUT = "_CONSTANT_VALUE"


def tf_function_name(name: Any) -> str:
    """A TFOpLambda's ``function`` without the ``tf.`` and ``compat.v1.``/``compat.v2.`` prefixes."""
    name = str(name).removeprefix("tf.")
    for prefix in ("compat.v1.", "compat.v2."):
        name = name.removeprefix(prefix)
    return name


def keras3_op_of(layer: dict[str, Any]) -> dict[str, Any]:
    """The Keras 3 operation record of a tf_keras ``TFOpLambda`` layer record (Keras 2 dialect).

    Raises:
        ValueError: the TensorFlow function has no exact Keras 3 operation, or the
            layer's call cannot be written as one (the message names layer and function).
    """
    config = layer.get("config") or {}
    name = str(config.get("name", layer.get("name")))
    function = tf_function_name(config.get("function"))
    found = _TF_FUNCTION_OPS.get(function) if layer.get("class_name") == "TFOpLambda" else None
    if found is None:
        raise ValueError(f"layer {name!r} ({layer.get('class_name')}) calls tf.{function}, which has no "
                         "Keras 3 operation counterpart")
    module, class_name, arguments = found
    nodes = []
    for node in layer.get("inbound_nodes") or []:
        call = _op_call(node, arguments)
        if call is None:
            raise ValueError(f"layer {name!r} calls tf.{function} with arguments convkit cannot write for "
                             f"Keras 3 ({_json_text(node)})")
        nodes.append({"args": call, "kwargs": {}})
    return {"module": f"keras.src.ops.{module}", "class_name": class_name, "config": {"name": name},
            "registered_name": class_name, "name": name, "inbound_nodes": nodes}


def _json_text(value: Any, limit: int = 200) -> str:
    import json

    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _op_call(node: Any, arguments: tuple[str, ...]) -> list[Any] | None:
    # tf_keras: [inbound layer, node, tensor, {other arguments by name}], the first argument
    # the inbound tensor (or a constant under _CONSTANT_VALUE); tensors among the others
    # are [layer, node, tensor] lists.
    entry = node[0] if isinstance(node, list) and len(node) == 1 and isinstance(node[0], list) else node
    if not (isinstance(entry, list) and len(entry) in (3, 4) and isinstance(entry[0], str)):
        return None
    kwargs = dict(entry[3]) if len(entry) == 4 and isinstance(entry[3], dict) else {}
    kwargs.pop("name", None)
    first = entry[2] if entry[0] == CONSTANT_INPUT else _keras_tensor(entry[:3])
    call = [first]
    for argument in arguments[1:]:
        if argument not in kwargs:
            return None
        value = kwargs.pop(argument)
        call.append(_keras_tensor(value) if _is_tensor_reference(value) else value)
    if kwargs or not all(isinstance(value, (int, float, dict)) for value in call):
        return None
    return call


def _is_tensor_reference(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) \
        and isinstance(value[1], int) and isinstance(value[2], int)


def _keras_tensor(reference: list[Any]) -> dict[str, Any]:
    # Keras 3 replaces the placeholder by the inbound layer's output; shape and dtype are unused.
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [], "dtype": "float32", "keras_history": list(reference)}}


def is_operation_record(layer: dict[str, Any]) -> bool:
    """Whether a functional-model record is a Keras 3 operation (``keras.src.ops.numpy.Add``), not a layer."""
    return operation_module(layer) is not None


# Keras 3 operation classes convkit translates, by class name -> their ops module.
_OP_MODULES = {class_name: f"keras.src.ops.{module}" for module, class_name, _ in _TF_FUNCTION_OPS.values()}


def operation_module(layer: dict[str, Any]) -> str | None:
    """The ops module of a Keras 3 operation record, or ``None`` for a layer.

    Keras 3's legacy ``model.save('x.h5')`` drops the ``module`` of operation records,
    and Keras 3 then builds ``Add`` (``x + 3.0``) as the merge layer of that name and
    cannot load its own file. Such a record is still told apart from a layer: an
    operation's config holds its name only, and its calls pass tensors and constants
    as separate arguments, where a merge layer takes one list.
    """
    module = layer.get("module")
    if isinstance(module, str):
        return module if module.startswith("keras.src.ops.") else None
    found = _OP_MODULES.get(str(layer.get("class_name")))
    config = layer.get("config")
    nodes = layer.get("inbound_nodes") or []
    if found is None or not isinstance(config, dict) or set(config) - {"name"} or not nodes:
        return None
    for node in nodes:
        args = node.get("args") if isinstance(node, dict) else None
        if not isinstance(args, list) or (len(args) == 1 and isinstance(args[0], list)):
            return None
    return found


def with_operation_modules(model_config: dict[str, Any]) -> dict[str, Any]:
    """A Keras 3 model config whose operation records all name their module (see :func:`operation_module`)."""
    import copy

    config = copy.deepcopy(model_config)
    for inner in [config, *iter_layers(config)]:
        if inner.get("class_name") not in ("Functional", "Model"):
            continue
        for layer in (inner.get("config") or {}).get("layers") or []:
            module = operation_module(layer)
            if module is not None and "module" not in layer:
                layer["module"], layer["registered_name"] = module, layer.get("class_name")
    return config


def tf_op_lambda_of(layer: dict[str, Any], models: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """The tf_keras ``TFOpLambda`` record (Keras 2 dialect) of a Keras 3 operation record.

    An operation without an exact TensorFlow function, or called in a way a
    TFOpLambda cannot record, stays a Keras 3 record (its ``module`` and
    ``{"args", "kwargs"}`` nodes kept): Keras 3 still builds it, tf_keras and
    TF.js layers do not.

    Args:
        layer: the Keras 3 record.
        models: names of nested models (Keras 2 counts their construction node).
    """
    name = (layer.get("config") or {}).get("name", layer.get("name"))
    module = operation_module(layer)
    function = _OP_TF_FUNCTIONS.get((str(module), str(layer.get("class_name"))))
    nodes = []
    for node in layer.get("inbound_nodes") or []:
        entry = _op_lambda_node(node, _TF_FUNCTION_OPS[function][2], models) if function else None
        if entry is None:
            kept = {key: layer[key] for key in ("class_name", "config", "name", "inbound_nodes") if key in layer}
            return {"module": module, "registered_name": layer.get("class_name"), **kept}
        nodes.append(entry)
    return {"class_name": "TFOpLambda",
            "config": {"name": name, "trainable": True, "dtype": "float32", "function": function},
            "name": name, "inbound_nodes": nodes}


def _op_lambda_node(node: Any, arguments: tuple[str, ...], models: frozenset[str] | set[str]) -> list[Any] | None:
    if not isinstance(node, dict) or node.get("kwargs") or len(node.get("args") or []) != len(arguments):
        return None
    references: list[Any] = []
    for value in node["args"]:
        histories = list(_tensor_histories(value))
        if histories and isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            layer_name, node_index, tensor_index = histories[0]
            references.append([layer_name, node_index + (1 if layer_name in models else 0), tensor_index])
        elif isinstance(value, (int, float)) and not histories:
            references.append(value)
        else:
            return None
    first, rest = references[0], references[1:]
    kwargs = dict(zip(arguments[1:], rest))
    if isinstance(first, list):
        return [*first, kwargs]
    if not any(isinstance(value, list) for value in rest):
        return None  # an operation on constants only
    return [CONSTANT_INPUT, -1, first, kwargs]
