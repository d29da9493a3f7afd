"""Keras 2.2-era ``.h5`` files, made from tf_keras files by rewriting their HDF5 attributes to the old dialect.

What Keras 2.2.4 (``keras_version`` ``2.2.4``) and TensorFlow 1.13's tf.keras (``2.2.4-tf``) wrote,
as their sources (``keras/engine/saving.py``, ``keras/engine/network.py``, the layers' and
initializers' ``get_config``) lay it out:

- root attributes ``keras_version``, ``backend`` (``tensorflow``), ``model_config`` and
  ``training_config`` (``optimizer_config`` with ``lr`` and ``decay``, ``loss``, ``metrics``);
- a functional model's ``class_name`` is ``Model``; its layers name no module, hold no
  ``build_config``, ``registered_name`` or ``ragged``; only input layers and a Sequential's first
  layer carry ``batch_input_shape`` and ``dtype``;
- initializers by their Keras 2.2 classes: ``glorot_uniform`` is ``VarianceScaling`` with
  ``scale`` 1, ``mode`` ``fan_avg`` and ``distribution`` ``uniform``; ``2.2.4-tf`` initializers
  also record their ``dtype``;
- recurrent layers default to ``hard_sigmoid`` gates, ``implementation`` 1, a GRU without
  ``reset_after``; their weights are named ``lstm_1/kernel:0`` (no cell in the path).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

_DROPPED = frozenset({"module", "registered_name", "build_config", "shared_object_id", "ragged", "time_major",
                      "zero_output_for_mask", "groups", "synchronized", "keepdims"})
_INITIALIZERS = {
    "GlorotUniform": ("VarianceScaling", {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}),
    "GlorotNormal": ("VarianceScaling", {"scale": 1.0, "mode": "fan_avg", "distribution": "normal", "seed": None}),
    "HeNormal": ("VarianceScaling", {"scale": 2.0, "mode": "fan_in", "distribution": "normal", "seed": None}),
}


def _initializer(value: dict[str, Any], tf_dialect: bool) -> dict[str, Any]:
    class_name = value.get("class_name")
    config = dict(value.get("config") or {})
    if class_name in _INITIALIZERS and not tf_dialect:
        class_name, config = _INITIALIZERS[class_name][0], dict(_INITIALIZERS[class_name][1])
    if tf_dialect:
        config["dtype"] = "float32"
    return {"class_name": class_name, "config": config}


def _old(value: Any, tf_dialect: bool, key: str = "") -> Any:
    if isinstance(value, dict):
        if key.endswith("_initializer") and "class_name" in value:
            return _initializer(value, tf_dialect)
        out = {}
        for name, item in value.items():
            if name in _DROPPED:
                continue
            if name == "class_name" and item == "Functional":
                item = "Model"
            out[name] = _old(item, tf_dialect, name)
        return out
    if isinstance(value, list):
        return [_old(item, tf_dialect, key) for item in value]
    return value


def _layers_of(config: dict[str, Any]) -> list[dict[str, Any]]:
    body = config.get("config")
    return body.get("layers", []) if isinstance(body, dict) else []


def old_dialect(model_config: dict[str, Any], tf_dialect: bool = False) -> dict[str, Any]:
    """A tf_keras model config as Keras 2.2.4 (``tf_dialect``: TF 1.13's 2.2.4-tf) wrote it."""
    config = _old(model_config, tf_dialect)

    def visit(model: dict[str, Any]) -> None:
        layers = _layers_of(model)
        for index, layer in enumerate(layers):
            body = layer.get("config") or {}
            if layer.get("class_name") in ("Model", "Sequential"):
                visit(layer)
                continue
            first_of_sequential = model.get("class_name") == "Sequential" and index == 0
            if layer.get("class_name") != "InputLayer" and not first_of_sequential:
                body.pop("batch_input_shape", None)
                if not tf_dialect:
                    body.pop("dtype", None)
            if layer.get("class_name") in ("LSTM", "GRU"):
                body["implementation"] = 1
            if layer.get("class_name") == "GRU":
                body.pop("reset_after", None)

    visit(config)
    return config


def rewrite_h5(path: Path, version: str = "2.2.4") -> Path:
    """Rewrites the tf_keras ``.h5`` at ``path`` in place as Keras ``version`` (``2.2.4`` or ``2.2.4-tf``) wrote it.

    The model's recurrent layers must already compute what the old dialect says (build them with
    ``recurrent_activation="hard_sigmoid"``, ``implementation=1`` and, for a GRU, ``reset_after=False``).
    """
    import h5py

    with h5py.File(path, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        h5.attrs["model_config"] = json.dumps(old_dialect(config, tf_dialect=version.endswith("-tf"))).encode()
        h5.attrs["keras_version"] = np.bytes_(version)
        h5.attrs["backend"] = np.bytes_("tensorflow")
        h5.attrs["training_config"] = json.dumps({
            "optimizer_config": {"class_name": "Adam", "config": {"lr": 0.001, "beta_1": 0.9, "beta_2": 0.999,
                                                                  "decay": 0.0, "epsilon": 1e-07, "amsgrad": False}},
            "loss": "categorical_crossentropy", "metrics": ["acc"], "sample_weight_mode": None,
            "loss_weights": None}).encode()
        weights = h5["model_weights"]
        weights.attrs["keras_version"] = np.bytes_(version)
        for layer_name in [name.decode() if isinstance(name, bytes) else name for name in weights.attrs["layer_names"]]:
            group = weights[layer_name]
            names = [name.decode() if isinstance(name, bytes) else name for name in group.attrs["weight_names"]]
            renamed = []
            for name in names:
                parts = name.split("/")
                if len(parts) == 3 and parts[1].endswith("_cell"):  # 2.2 kept cell weights in the layer's scope
                    new = f"{parts[0]}/{parts[2]}"
                    group.move(name, new)
                    name = new
                renamed.append(name.encode())
            group.attrs["weight_names"] = np.array(renamed)
    return path
