"""Pieces every inspect report shares: plain-dict conversion, weight totals,
and reading Keras model configs (layer tables, code-carrying layers).

Reports are frozen dataclasses; ``to_dict()`` gives JSON-ready values with
``format`` first. Keras configs are only ever read as JSON here: nothing in a
config is deserialised into objects or executed.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from convkit.containers.tensors import DTYPE_SIZES, count, tensor_stats  # noqa: F401  (formats' reports use them)
from convkit.policy.code import code_objects


def to_plain(value: Any) -> Any:
    """``value`` with dataclasses, tuples, paths and numpy scalars turned into JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if hasattr(value, "item") and callable(value.item):
        return to_plain(value.item())
    return value


class ReportBase:
    """Mixin for report dataclasses: ``to_dict()`` in field order, ``format`` first."""

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


@dataclasses.dataclass(frozen=True)
class GraphReport(ReportBase):
    """What ``convkit inspect`` shows for a graph-level model (a frozen ``.pb``, a TF.js 0.x model)."""

    format: str
    path: str
    kind: str
    summary: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    ops: dict[str, int]
    function_ops: dict[str, int]
    functions: list[dict[str, Any]]
    constants: list[dict[str, Any]]
    risky_ops: list[dict[str, Any]]


def weight_totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    """``parameters`` and ``bytes`` of weight rows that carry ``shape`` and ``dtype``."""
    return {
        "parameters": sum(count(row["shape"]) for row in rows),
        "bytes": sum(count(row["shape"]) * DTYPE_SIZES.get(row["dtype"], 0) for row in rows),
    }


# --- Keras model configs (read as data, never deserialised) -------------------------------

def config_layers(model_config: Any) -> list[dict[str, Any]]:
    """The layer configs of a Sequential/Functional model config (either Keras generation)."""
    if not isinstance(model_config, dict):
        return []
    inner = model_config.get("config")
    if isinstance(inner, dict) and isinstance(inner.get("layers"), list):
        return [layer for layer in inner["layers"] if isinstance(layer, dict)]
    if isinstance(inner, list):  # very old Sequential configs: a bare list of layers
        return [layer for layer in inner if isinstance(layer, dict)]
    return []


def layer_name(layer: dict[str, Any]) -> str:
    config: dict[str, Any] = layer["config"] if isinstance(layer.get("config"), dict) else {}
    return str(config.get("name") or layer.get("name") or "?")


def code_layers(model_config: Any) -> list[dict[str, Any]]:
    """Objects in a model config that would run code from the file if the model were loaded.

    The rule is :mod:`convkit.policy.code`'s; they are shown, never unmarshalled or imported.
    """
    return [found.to_dict() for found in code_objects(model_config)]


def config_summary(model_config: Any) -> dict[str, Any] | None:
    """A few lines about a model config: class, name, layer count, input shape."""
    if not isinstance(model_config, dict):
        return None
    inner: dict[str, Any] = model_config["config"] if isinstance(model_config.get("config"), dict) else {}
    layers = config_layers(model_config)
    summary: dict[str, Any] = {
        "class_name": model_config.get("class_name"),
        "name": inner.get("name"),
        "layers": len(layers),
    }
    for layer in layers:
        config: dict[str, Any] = layer["config"] if isinstance(layer.get("config"), dict) else {}
        shape = config.get("batch_shape") or config.get("batch_input_shape")
        if shape is not None:
            summary["input_shape"] = shape
            break
    summary["code_layers"] = code_layers(model_config)
    return summary


def layer_table(model_config: Any, weights: list[dict[str, Any]], owner_of: Any) -> list[dict[str, Any]]:
    """A ``model.summary()``-like table: one row per layer with its weights and parameter count.

    Args:
        model_config: the model's config (dict) or None when only weights are known.
        weights: rows with at least ``name`` and ``shape``.
        owner_of: maps a weight row to the layer name it belongs to.
    """
    by_layer: dict[str, list[dict[str, Any]]] = {}
    for weight in weights:
        by_layer.setdefault(owner_of(weight), []).append(weight)
    rows = []
    code = {row["layer"].split("/")[-1]: row["reason"] for row in code_layers(model_config)} if model_config else {}
    listed: set[str] = set()
    for layer in config_layers(model_config):
        name = layer_name(layer)
        listed.add(name)
        owned = by_layer.get(name, [])
        row = {
            "layer": name,
            "class_name": layer.get("class_name"),
            "weights": [f"{w['name']} {list(w['shape'])}" for w in owned],
            "parameters": sum(count(w["shape"]) for w in owned),
        }
        if name in code:
            row["code"] = code[name]
        rows.append(row)
    for name, owned in by_layer.items():
        if name not in listed:
            rows.append({
                "layer": name,
                "class_name": None,
                "weights": [f"{w['name']} {list(w['shape'])}" for w in owned],
                "parameters": sum(count(w["shape"]) for w in owned),
            })
    return rows
