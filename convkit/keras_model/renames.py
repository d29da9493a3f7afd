"""Layer names one Keras generation refuses, renamed everywhere a config names them."""

from __future__ import annotations

from typing import Any

from convkit.keras_model.config import iter_layers, layer_names
from convkit.keras_model.references import mapped_references


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


def rename_layers(model: dict[str, Any], renamed: dict[str, str]) -> None:
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
            inner["inbound_nodes"] = mapped_references(inner["inbound_nodes"], change)
        for key in ("input_layers", "output_layers"):
            if isinstance(config, dict) and config.get(key):
                config[key] = mapped_references(config[key], change)
