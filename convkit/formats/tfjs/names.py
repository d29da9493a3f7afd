"""The names TF.js layers 4.22 gives Keras objects, and what it cannot hold.

One table per kind of serialized object: Keras class or function name -> the
name TF.js 4.22 registers (None: TF.js has no counterpart). Names missing from
a table are as unknown to TF.js as those mapped to None.
"""

from __future__ import annotations

from typing import Any

from convkit.keras_model.config import MODEL_CLASSES, iter_layers
from convkit.keras_model.dialect import KERAS3_REDEFINED_ACTIVATIONS, unprefixed_bidirectional
from convkit.keras_model.operations import is_operation_record

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


KERAS3_ACTIVATIONS: dict[str, str | None] = {**ACTIVATIONS, **dict.fromkeys(KERAS3_REDEFINED_ACTIVATIONS)}


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
        if class_name == "UpSampling2D" and config.get("interpolation", "nearest") != "nearest":
            reasons.append(f"layer {name!r} is an UpSampling2D with {config.get('interpolation')} interpolation, "
                           "which TF.js layers computes without Keras' half-pixel centers")
        if class_name == "ReLU" and (config.get("negative_slope") or config.get("threshold")):
            reasons.append(f"layer {name!r} is a ReLU with a negative slope or threshold, which TF.js layers lacks")
    return reasons


def to_tfjs_config(model_config: dict[str, Any], generation: int = 2) -> tuple[dict[str, Any], list[str]]:
    """The config TF.js layers 4.22 deserializes, and what was changed or dropped on the way.

    Names go through the tables above (activations, initializers, regularizers,
    constraints); training-only objects TF.js has no counterpart for are dropped,
    and every drop is listed. Call :func:`tfjs_unsupported` first: activations
    TF.js lacks are left as they are.
    """
    config = unprefixed_bidirectional(model_config, generation)  # a copy
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
