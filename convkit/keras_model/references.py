"""Tensor references in a Keras functional config: ``[layer, node, tensor, ...]`` edges and Keras 3
``__keras_tensor__`` records, found and rewritten however nested."""

from __future__ import annotations

from typing import Any, Iterator


def tensor_histories(value: Any) -> Iterator[list[Any]]:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        yield list(value["config"]["keras_history"])
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensor_histories(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensor_histories(item)


def mapped_references(value: Any, change: Any) -> Any:
    """``value`` with every tensor reference (``[layer, node, tensor, ...]`` lists, keras_history
    triples), however nested, passed through ``change(layer, node) -> (layer, node)``."""
    if isinstance(value, list):
        if value and isinstance(value[0], str) and len(value) in (3, 4) and isinstance(value[1], int):
            return [*change(value[0], value[1]), *[mapped_references(item, change) for item in value[2:]]]
        return [mapped_references(item, change) for item in value]
    if isinstance(value, dict):
        return {key: mapped_references(item, change) for key, item in value.items()}
    return value


def keras_tensor(reference: list[Any]) -> dict[str, Any]:
    # Keras 3 replaces the placeholder by the inbound layer's output; shape and dtype are unused.
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [], "dtype": "float32", "keras_history": list(reference)}}


def is_tensor_reference(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) \
        and isinstance(value[1], int) and isinstance(value[2], int)
