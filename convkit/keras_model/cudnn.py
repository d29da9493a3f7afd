"""Keras 2's ``CuDNNLSTM`` and ``CuDNNGRU`` as the ``LSTM`` and ``GRU`` computing the same, as Keras 2 loaded them.

A cuDNN layer stores its kernels in Keras' shapes (``(input_dim, gates * units)``,
``(units, gates * units)``) but hands each gate's block to cuDNN flattened, which reads it as a
``(units, input_dim)`` matrix applied on the left; it adds an input bias and a recurrent bias
(``2 * gates * units`` values). Its gates are sigmoid, its activation tanh. So the same function is:

- an ``LSTM`` (sigmoid gates) whose kernel blocks are the cuDNN matrices transposed, whose
  recurrent blocks are transposed, and whose bias is the sum of the two biases;
- a ``GRU`` with ``reset_after=True`` (the recurrent bias applied before the reset gate, as cuDNN
  does), kernels converted alike and its two biases as the rows of a ``(2, 3 * units)`` bias.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from convkit.keras_model.config import iter_layers
from convkit.keras_model.data import Weight

# cuDNN class -> (the Keras class computing the same, its number of gates)
CUDNN_LAYERS = {"CuDNNLSTM": ("LSTM", 4), "CuDNNGRU": ("GRU", 3)}
# What a cuDNN layer computes, in its Keras counterpart's arguments.
_FIXED = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True, "dropout": 0.0,
          "recurrent_dropout": 0.0, "unroll": False}


def cudnn_as_keras(config: dict[str, Any], layer_weights: dict[str, list[Weight]]) -> list[str]:
    """Rewrites every cuDNN layer of a Keras 2 dialect config, and its weights, as its Keras counterpart.

    Returns:
        One sentence per layer rewritten, for the warnings of a conversion.
    """
    notes: list[str] = []
    converted: dict[str, tuple[str, int]] = {}
    wrappers = _cudnn_wrappers(config)
    for layer in iter_layers(config):
        class_name = layer.get("class_name")
        if class_name not in CUDNN_LAYERS or not isinstance(layer.get("config"), dict):
            continue
        target, gates = CUDNN_LAYERS[class_name]
        body = layer["config"]
        body.update(_FIXED)
        if target == "GRU":
            body["reset_after"] = True
        layer["class_name"] = target
        name = str(body.get("name", layer.get("name")))
        wrapper = wrappers.get(id(layer))
        # A wrapper (Bidirectional) stores its layers' weights under its own name: both directions convert alike
        converted[wrapper or name] = (target, gates)
        inside = f" inside {wrapper!r}" if wrapper else ""
        notes.append(
            f"layer {name!r}{inside} is a {class_name}, read as the {target} computing the same (sigmoid gates"
            f"{', reset_after=True' if target == 'GRU' else ''}) with its weights moved from cuDNN's layout to "
            f"Keras' ({'one bias, the sum of its input and recurrent biases' if target == 'LSTM' else 'its input and recurrent biases as the two rows of the bias'}), as Keras 2 loaded it")
    for name, (target, gates) in converted.items():
        layer_weights[name] = [_converted(weight, target, gates) for weight in layer_weights.get(name, [])]
    return notes


def _cudnn_wrappers(config: dict[str, Any]) -> dict[int, str]:
    """The wrappers (``Bidirectional``) whose wrapped layers are all cuDNN layers of one class: each wrapped
    record (by identity) -> the wrapper's name. A wrapper mixing a cuDNN layer with another keeps its weights as
    stored, and the build refuses them."""
    owners: dict[int, str] = {}
    for layer in iter_layers(config):
        body = layer.get("config") or {}
        wrapped: list[dict[str, Any]] = [body[key] for key in ("layer", "backward_layer")
                                         if isinstance(body.get(key), dict)]
        classes = {inner.get("class_name") for inner in wrapped}
        if wrapped and len(classes) == 1 and classes <= CUDNN_LAYERS.keys():
            owners.update((id(inner), str(body.get("name", layer.get("name")))) for inner in wrapped)
    return owners


def _converted(weight: Weight, target: str, gates: int) -> Weight:
    role = weight.name.split("/")[-1]
    shape = weight.shape
    transform: Callable[[np.ndarray], np.ndarray]
    if role == "kernel" and len(shape) == 2:
        transform = functools.partial(_per_gate, gates=gates, block=_input_block)
    elif role == "recurrent_kernel" and len(shape) == 2:
        transform = functools.partial(_per_gate, gates=gates, block=np.transpose)
    elif role == "bias" and len(shape) == 1 and shape[0] % (2 * gates) == 0:
        transform = _summed_biases if target == "LSTM" else _bias_rows
        shape = (shape[0] // 2,) if target == "LSTM" else (2, shape[0] // 2)
    else:
        return weight  # a weight the cuDNN layer does not have: left for the build to refuse
    return Weight(weight.name, shape, weight.dtype, functools.partial(_read_converted, weight.read, transform),
                  weight.trainable)


def _read_converted(read: Callable[[], np.ndarray], transform: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(transform(np.asarray(read())))


def _summed_biases(value: np.ndarray) -> np.ndarray:
    half = value.shape[0] // 2
    return value[:half] + value[half:]


def _bias_rows(value: np.ndarray) -> np.ndarray:
    return value.reshape(2, value.shape[0] // 2)


def _per_gate(value: np.ndarray, gates: int, block: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.concatenate([block(part) for part in np.split(value, gates, axis=1)], axis=1)


def _input_block(block: np.ndarray) -> np.ndarray:
    # cuDNN reads the block's values, in storage order, as a (units, input_dim) matrix W and computes W @ x
    input_dim, units = block.shape
    return block.reshape(units, input_dim).T

