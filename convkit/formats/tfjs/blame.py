"""The layer, activation or op of a TF.js model that TF.js's own error message names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


def blame(reason: str, path: Path) -> str | None:
    """The layer, activation or op of the TF.js model at ``path`` that the runtime's message ``reason`` names."""
    model_json = path / "model.json" if path.is_dir() else path
    try:
        document = json.loads(model_json.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    # TF.js writes Keras names camel-cased (hard_silu -> hardSilu) and weights as layer/attribute.
    words = {_folded(word) for word in re.findall(r"[A-Za-z_][A-Za-z0-9_>-]*", reason)}
    topology = document.get("modelTopology") or {}
    if document.get("format") == "graph-model" or isinstance(topology.get("node"), list):
        for node in _graph_nodes(document):
            if _folded(str(node.get("op"))) in words:
                return f"op {node['op']} at node {node.get('name')!r}"
        return None
    config = topology.get("model_config", topology)
    for layer in _layers(config):
        body = layer.get("config") or {}
        name = body.get("name", layer.get("name"))
        class_name = layer.get("class_name")
        if _folded(str(class_name)) in words:
            return f"layer {name!r} ({class_name})"
        for key in ("activation", "recurrent_activation"):
            value = body.get(key)
            if isinstance(value, str) and _folded(value) in words:
                return f"layer {name!r} ({class_name}, {key} {value!r})"
        for key, value in body.items():
            if isinstance(value, dict) and _folded(str(value.get("class_name"))) in words:
                return f"layer {name!r} ({class_name}, {key} {value['class_name']!r})"
        if _folded(str(name)) in words:
            return f"layer {name!r} ({class_name})"
    return None


def _folded(word: str) -> str:
    return word.replace("_", "").lower()


def _layers(config: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    body = config.get("config") if isinstance(config, dict) else None
    layers = body if isinstance(body, list) else (body or {}).get("layers", []) if isinstance(body, dict) else []
    for layer in layers or []:
        if not isinstance(layer, dict):
            continue
        found.append(layer)
        if layer.get("class_name") in ("Sequential", "Functional", "Model"):
            found.extend(_layers(layer))
        inner = (layer.get("config") or {}).get("layer")
        if isinstance(inner, dict) and "class_name" in inner:
            found.append(inner)
    return found


def _graph_nodes(document: dict[str, Any]) -> list[dict[str, Any]]:
    topology = document.get("modelTopology") or {}
    nodes = list(topology.get("node") or [])
    for function in ((topology.get("library") or {}).get("function") or []):
        nodes.extend(function.get("nodeDef") or [])
    return [node for node in nodes if isinstance(node, dict)]
