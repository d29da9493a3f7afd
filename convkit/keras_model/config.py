"""Walking a Keras model config (either generation, read as JSON): its layers and their names."""

from __future__ import annotations

from typing import Any, Iterator

MODEL_CLASSES = frozenset({"Functional", "Model", "Sequential"})
# Preprocessing layers whose vocabulary Keras keeps beside the config (a .keras archive's assets, a
# SavedModel's lookup table) unless it was given as the ``vocabulary`` argument; convkit carries it there.
LOOKUP_CLASSES = frozenset({"TextVectorization", "StringLookup", "IntegerLookup"})


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
    """Maps every layer name that owns weights to its top-level layer (nested models flattened, a
    Bidirectional's sides by the names :func:`bidirectional_sides` gives them)."""
    owners: dict[str, str] = {}
    for layer in (config.get("config") or {}).get("layers", []):
        top = (layer.get("config") or {}).get("name", layer.get("name"))
        owners[top] = top
        for inner in [layer, *iter_layers(layer)] if layer.get("class_name") in MODEL_CLASSES else [layer]:
            owners[(inner.get("config") or {}).get("name", inner.get("name"))] = top
            owners.update(dict.fromkeys(bidirectional_sides(inner), top))
    return owners


def bidirectional_sides(layer: dict[str, Any]) -> list[str]:
    """The names a Bidirectional record's forward and backward layers get when built (``forward_lstm``,
    ``backward_lstm``), whichever Keras wrote the record; empty for any other record.

    tf_keras and TF.js prefix the wrapped layer's name; Keras 3 stores it prefixed already.
    """
    body = layer.get("config") if layer.get("class_name") == "Bidirectional" else None
    if not isinstance(body, dict):
        return []
    names = []
    for key, prefix in (("layer", "forward_"), ("backward_layer", "backward_")):
        inner = body.get(key) if isinstance(body.get(key), dict) else body.get("layer")
        name = (inner or {}).get("config", {}).get("name") if isinstance(inner, dict) else None
        if isinstance(name, str):
            bare = name.removeprefix("forward_").removeprefix("backward_")
            names.append(prefix + bare)
    return names


def string_inputs(model_config: dict[str, Any]) -> list[str]:
    """The names of the model's inputs that take strings (text preprocessing inside the model)."""
    found = []
    for layer in iter_layers(model_config):
        body = layer.get("config") or {}
        dtype = body.get("dtype")
        if isinstance(dtype, dict):
            dtype = (dtype.get("config") or {}).get("name")
        if layer.get("class_name") == "InputLayer" and dtype == "string":
            found.append(str(body.get("name", layer.get("name"))))
    return found
