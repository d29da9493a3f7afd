"""The one screening of a model file before any reader beyond the formats or any runtime sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.containers.files import refuse_links
from convkit.containers.limits import MAX_LAYERS
from convkit.errors import ReadError
from convkit.policy.code import refuse_code
from convkit.policy.graph_ops import refuse_risky_graph
from convkit.registry import get_format


def count_layers(config: Any) -> int:
    """Layer configs in a model config, nested models included (objects listed under ``layers``)."""
    total = 0
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            layers = node.get("layers")
            if isinstance(layers, list):
                total += sum(1 for layer in layers if isinstance(layer, dict))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return total


def _refuse_too_many_layers(config: Any, path: Path) -> None:
    layers = count_layers(config)
    if layers > MAX_LAYERS:
        raise ReadError(f"{path}: the model has {layers} layers, over convkit's limit of {MAX_LAYERS}")


def screen(path: Path, format_name: str, allow_unsafe: bool) -> None:
    """Judges a model file before any runtime or reader beyond the formats sees it.

    Reads the file's Keras configs as data (for HDF5-bearing files in a child
    process, so a libhdf5 hang or crash on a damaged file is one ``ReadError``)
    and scans its TensorFlow graph, through the format's registry record.
    ``convert`` and ``check`` call this first, for the source, the copies and ``--like``.

    Raises:
        UnsafeModelError: code in a config or a risky op in the graph, without ``allow_unsafe``.
        ReadError: the configs or the graph cannot be read.
    """
    refuse_links(Path(path))
    fmt = get_format(format_name)
    if fmt.configs is not None:
        for config in fmt.configs(Path(path)):
            refuse_code(config, Path(path), allow_unsafe)
            _refuse_too_many_layers(config, Path(path))
    graph = fmt.graph(Path(path)) if fmt.graph is not None else None  # None: this file holds no graph to run
    if graph is not None:
        refuse_risky_graph(graph, Path(path), allow_unsafe)
