"""TF.js layers models read into the in-memory model: the Keras config of ``modelTopology``, weights from the shards.

TF.js scopes weights by the layer that owns them (``dense/kernel``) and names a
recurrent layer's by its cell (``lstm_cell_1/kernel``); each weight is placed
in its top-level layer and read from the shards only when asked for.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any

import numpy as np

from convkit.containers.files import open_regular
from convkit.errors import ReadError, UsageError
from convkit.formats import tfjs
from convkit.keras_model.config import iter_layers, layer_names, top_level_owners
from convkit.keras_model.data import ModelData, Template, Weight
from convkit.keras_model.dialect import to_keras2_config
from convkit.keras_model.weights import tfjs_weight_name


def read(path: Path, stack: contextlib.ExitStack, *, like: Path | None, template: Template | None) -> ModelData:
    """The TF.js layers model at ``path`` (``model.json`` or its folder) as ModelData."""
    return read_layers_model(path)


def read_layers_model(path: Path) -> ModelData:
    """A TF.js layers model (``model.json`` or its folder) as a ModelData."""
    model_json = path / "model.json" if path.is_dir() else path
    document = tfjs.read_model_json(model_json)  # size-capped; shard paths checked to stay in the folder
    if document.get("format") == "graph-model":
        raise UsageError(f"{path}: is a TF.js graph model, which holds no Keras architecture")
    topology = document.get("modelTopology")
    if not isinstance(topology, dict):
        raise ReadError(f"{model_json}: has no modelTopology object")
    config = topology.get("model_config", topology)
    if not isinstance(config, dict) or "class_name" not in config:
        raise ReadError(f"{model_json}: modelTopology has no class_name")
    config = to_keras2_config({"class_name": config["class_name"], "config": config.get("config", {})})
    owners = top_level_owners(config)
    layer_weights: dict[str, list[Weight]] = {
        (layer.get("config") or {}).get("name", layer.get("name")): [] for layer in config["config"].get("layers", [])
    }
    cells = _cell_owners(config, document)
    known = layer_names(config)
    for weight in _manifest_weights(model_json, document):
        owner = tfjs_weight_name(weight.name, known).rpartition("/")[0]
        top = owners.get(owner)
        if top is None and owner in cells:  # TF.js names a recurrent layer's weights by its cell
            weight.name = f"{cells[owner]}/{owner}/{weight.name.split('/')[-1]}"
            top = owners.get(cells[owner])
        if top is None:
            raise ReadError(f"{model_json}: weight {weight.name!r} belongs to no layer of the topology")
        if any(other.name == weight.name for other in layer_weights.setdefault(top, [])):
            raise ReadError(f"{model_json}: the manifest lists weight {weight.name!r} twice")
        layer_weights[top].append(weight)
    version = str(topology.get("keras_version", "2"))
    return ModelData(
        config=config,
        layer_weights=layer_weights,
        generation=2,
        keras_version=version if version[:1].isdigit() else "2.19.0",
        training_config=document.get("trainingConfig") or topology.get("training_config"),
        raw_config=config,
    )


def _cell_owners(config: dict[str, Any], document: dict[str, Any]) -> dict[str, str]:
    """Cell names (``lstm_cell_1``) in the manifest -> the recurrent layers they belong to, in order."""
    layers = {(layer.get("config") or {}).get("name") for layer in iter_layers(config)}
    recurrent = [str((layer.get("config") or {}).get("name")) for layer in iter_layers(config)
                 if layer.get("class_name") in ("LSTM", "GRU", "SimpleRNN")]
    cells: list[str] = []
    for group in document.get("weightsManifest", []):
        for spec in group.get("weights", []) if isinstance(group, dict) else []:
            owner = str(spec.get("name", "")).split("/")[0] if isinstance(spec, dict) else ""
            if owner not in layers and "cell" in owner and owner not in cells:
                cells.append(owner)
    if len(cells) != len(recurrent):
        return {}
    return dict(zip(cells, recurrent))


def _manifest_weights(model_json: Path, document: dict[str, Any]) -> list[Weight]:
    weights: list[Weight] = []
    for group in document.get("weightsManifest", []):
        shard_paths = tfjs.group_shards(model_json, group)
        sizes = [shard.stat().st_size for shard in shard_paths]
        offset = 0
        for spec in group.get("weights", []):
            nbytes = tfjs.weight_bytes(spec)
            if nbytes is None:
                raise ReadError(f"{model_json}: weight {spec.get('name')!r} is a string tensor, which no Keras layer holds")
            if offset + nbytes > sum(sizes):
                raise ReadError(f"{model_json}: weight {spec.get('name')!r} runs past the end of its shards")
            weights.append(Weight(
                name=str(spec["name"]),
                shape=tuple(int(d) for d in spec.get("shape", [])),
                dtype=str(spec.get("dtype", "float32")),
                read=functools.partial(_read_manifest_weight, model_json, spec, shard_paths, sizes, offset, nbytes),
                trainable=not str(spec["name"]).endswith(("moving_mean", "moving_variance")),
            ))
            offset += nbytes
    return weights


def _read_manifest_weight(model_json: Path, spec: dict[str, Any], paths: list[Path], sizes: list[int], offset: int,
                          nbytes: int) -> np.ndarray:
    array: np.ndarray = tfjs.decode_weight(spec, _read_span(paths, sizes, offset, nbytes), 0, model_json)[0]
    return array


def _read_span(paths: list[Path], sizes: list[int], offset: int, nbytes: int) -> bytes:
    chunks = []
    start = 0
    for path, size in zip(paths, sizes):
        end = start + size
        if offset < end and offset + nbytes > start:
            low = max(offset, start) - start
            high = min(offset + nbytes, end) - start
            with open_regular(path) as handle:
                handle.seek(low)
                chunks.append(handle.read(high - low))
        start = end
    return b"".join(chunks)
