"""Walking a Keras model config (either generation, read as JSON): its layers and their names."""

from __future__ import annotations

from typing import Any, Iterator

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})


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


def layer_names(model_config: dict[str, Any]) -> frozenset[str]:
    """The name of every layer in a model config, nested ones included."""
    return frozenset(str((layer.get("config") or {}).get("name", layer.get("name"))) for layer in iter_layers(model_config))


def is_cell_name(name: str) -> bool:
    """Whether a weight path component names an RNN cell (``lstm_cell``, ``lstm_cell_1``)."""
    import re

    return re.search(r"cell(_\d+)?$", name) is not None


def top_level_owners(config: dict[str, Any]) -> dict[str, str]:
    """Maps every layer name that owns weights to its top-level layer (nested models flattened)."""
    owners: dict[str, str] = {}
    for layer in (config.get("config") or {}).get("layers", []):
        top = (layer.get("config") or {}).get("name", layer.get("name"))
        owners[top] = top
        if layer.get("class_name") in MODEL_CLASSES:
            for inner in iter_layers(layer):
                owners[(inner.get("config") or {}).get("name", inner.get("name"))] = top
    return owners
