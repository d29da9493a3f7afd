"""Keras-shipped layer classes written as built-in layers that compute the same, for ``.h5`` outputs.

A legacy ``.h5`` config names each layer by class only, without a module, so a
class Keras ships without exporting it (ConvNeXt's ``LayerScale`` in
``keras.src.applications.convnext``) loads in neither Keras generation without
``custom_objects``. Such a layer is written as a public layer both generations
(and TF.js layers) load, with the same result, and its weights under that
layer's own names:

- ``LayerScale`` (``x * gamma`` over the last axis) becomes
  ``BatchNormalization(center=False, scale=True)`` with ``gamma`` the layer
  scale, ``moving_mean`` 0 and ``moving_variance`` ``1 - epsilon``. With
  ``epsilon = 2**-10`` (above tf_keras' fused minimum, 1.001e-5) both
  ``1 - epsilon`` and ``epsilon`` are exact in float16, float32 and float64,
  their sum is exactly 1, so the normalisation is ``x * gamma * rsqrt(1)``: the
  same numbers, on inputs of any rank.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, Callable

import numpy as np

from convkit.keras_model.config import iter_layers, layer_names
from convkit.keras_model.data import ModelData, Weight
from convkit.keras_model.weights import tfjs_weight_name

# Exact in binary floating point; 1 - EPSILON too, and their sum is 1.
EPSILON = 2.0 ** -10


def with_builtin_layers(model: ModelData) -> tuple[ModelData, list[str]]:
    """``model`` with each ``LayerScale`` written as a ``BatchNormalization`` computing the same.

    Returns:
        The model (``model`` itself when it holds no such layer) and the names of the layers rewritten.
    """
    config = copy.deepcopy(model.config)
    rewritten: list[str] = []
    for layer in iter_layers(config):
        body = layer.get("config")
        if layer.get("class_name") != "LayerScale" or not isinstance(body, dict):
            continue
        name = str(body.get("name", layer.get("name")))
        layer["class_name"] = "BatchNormalization"
        layer["config"] = {
            "name": name,
            "trainable": body.get("trainable", True),
            "dtype": body.get("dtype", "float32"),
            "axis": -1,
            "momentum": 0.99,
            "epsilon": EPSILON,
            "center": False,
            "scale": True,
        }
        rewritten.append(name)
    if not rewritten:
        return model, []
    known = layer_names(config)
    owners = set(rewritten)
    layer_weights: dict[str, list[Weight]] = {}
    for container, items in model.layer_weights.items():
        layer_weights[container] = []
        for weight in items:
            owner = tfjs_weight_name(weight.name, known).rpartition("/")[0]
            if owner in owners:
                layer_weights[container].extend(_normalization_weights(weight, owner))
            else:
                layer_weights[container].append(weight)
    return replace(model, config=config, layer_weights=layer_weights, raw_config=None), rewritten


def _normalization_weights(scale: Weight, owner: str) -> list[Weight]:
    """The layer scale's one weight as BatchNormalization's gamma, moving_mean and moving_variance."""
    prefix = scale.name.rpartition("/")[0] or owner
    return [
        Weight(f"{prefix}/gamma", scale.shape, scale.dtype, scale.read, scale.trainable, scale.raw_span),
        Weight(f"{prefix}/moving_mean", scale.shape, scale.dtype, _filled(scale, 0.0), False),
        Weight(f"{prefix}/moving_variance", scale.shape, scale.dtype, _filled(scale, 1.0 - EPSILON), False),
    ]


def _filled(like: Weight, value: float) -> Callable[[], np.ndarray]:
    def read() -> Any:
        return np.full(like.shape, value, dtype=like.dtype)

    return read


def describe(rewritten: list[str]) -> str:
    """The warning for the layers :func:`with_builtin_layers` rewrote."""
    shown = ", ".join(repr(name) for name in rewritten[:3])
    more = f" and {len(rewritten) - 3} more" if len(rewritten) > 3 else ""
    return (f"LayerScale layers {shown}{more} written as BatchNormalization layers computing the same x * gamma "
            "(no Keras generation loads Keras' unexported LayerScale class from an .h5)")
