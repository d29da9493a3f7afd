"""TensorFlow checkpoints: a tensor bundle ``PREFIX.index`` + ``PREFIX.data-NNNNN-of-MMMMM``.

The bundle itself (index table, data shards, CRC32C, object graph) is read by
:mod:`convkit.containers.tensor_bundle`. A checkpoint is named by its prefix,
its ``.index`` file, a data shard, or a directory whose text ``checkpoint``
state file names the latest prefix and all kept prefixes.

Everything here is pure Python (numpy, protobuf, google-crc32c).
"""

from __future__ import annotations

import contextlib
import functools
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convkit.containers import limits, protobuf, tensor_bundle
from convkit.containers.tensor_bundle import (
    FOOTER_BYTES,
    OBJECT_GRAPH_KEY,
    TABLE_MAGIC,
    CheckpointIndex,
    check_crc32c,
    index_path,
    object_graph,
    tensor_value,
)
from convkit.errors import ConvkitError, ReadError, UsageError, error_text
from convkit.formats import _report
from convkit.registry import Format, register_format

if TYPE_CHECKING:
    from convkit.keras_model.data import ModelData, Template

STATE_FILE = "checkpoint"
_DATA_SUFFIX = re.compile(r"\.data-\d{5}-of-\d{5}$")


# --- naming a checkpoint -----------------------------------------------------------------


def resolve_prefix(path: Path) -> Path:
    """The checkpoint prefix named by ``path``.

    ``path`` may be the prefix itself (``training_1/cp.ckpt``), its ``.index``
    file, one of its data shards, or a directory holding a ``checkpoint``
    state file (its latest checkpoint) or exactly one ``.index`` file.

    Raises:
        ReadError: the path names no checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        state_file = path / STATE_FILE
        if state_file.is_file():
            state = read_state(state_file)
            latest = state.get("latest")
            if not latest:
                raise ReadError(f"{state_file}: checkpoint state file names no latest checkpoint")
            prefix = _state_path(path, latest)
            if not _is_file(index_path(prefix)):
                raise ReadError(f"{state_file}: latest checkpoint {latest!r} has no {prefix.name}.index file")
            return prefix
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return indexes[0].with_suffix("")
        if not indexes:
            raise ReadError(f"{path}: directory holds no checkpoint (no 'checkpoint' state file and no .index file)")
        raise ReadError(f"{path}: directory holds {len(indexes)} checkpoints and no 'checkpoint' state file; name one prefix")
    if path.suffix == ".index" and path.is_file():
        return path.with_suffix("")
    if _DATA_SUFFIX.search(path.name):
        return path.with_name(_DATA_SUFFIX.sub("", path.name))
    if index_path(path).is_file():
        return path
    raise ReadError(f"{path}: not a checkpoint prefix (no {path.name}.index file)")


def _is_file(path: Path) -> bool:
    # A state file may name anything: a NUL byte or a name over NAME_MAX makes pathlib raise.
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _state_path(directory: Path, recorded: str) -> Path:
    recorded_path = Path(recorded)
    return recorded_path if recorded_path.is_absolute() else directory / recorded_path


def read_state(state_file: Path) -> dict[str, Any]:
    """The text ``checkpoint`` state file: latest prefix, all prefixes, timestamps."""
    from google.protobuf import text_format

    data = limits.read_capped(state_file, limits.MAX_STATE_FILE_BYTES, "checkpoint state file")
    state = protobuf.message_class("CheckpointState")()
    try:
        text_format.Parse(data.decode("utf-8"), state)
    except (text_format.ParseError, UnicodeDecodeError) as error:
        raise ReadError(f"{state_file}: not a checkpoint state file ({error_text(error)})") from None
    return {
        "latest": state.model_checkpoint_path,
        "all": list(state.all_model_checkpoint_paths),
        "timestamps": list(state.all_model_checkpoint_timestamps),
        "last_preserved_timestamp": state.last_preserved_timestamp or None,
    }


def read_index(path: Path) -> CheckpointIndex:
    """The decoded ``.index`` of the checkpoint ``path`` names (see :func:`resolve_prefix`).

    Raises:
        ReadError: no checkpoint there, or its index is missing, truncated, corrupt or over convkit's limits.
    """
    return tensor_bundle.read_index(resolve_prefix(Path(path)))


def read_tensor(path: Path, key: str) -> Any:
    """The tensor stored under ``key`` in the checkpoint ``path`` names, as a numpy array."""
    return tensor_bundle.read_tensor(resolve_prefix(Path(path)), key)


def iter_tensors(path: Path) -> Iterator[tuple[str, Any]]:
    """``(key, array)`` for every tensor of the checkpoint ``path`` names except its object graph, in key order."""
    return tensor_bundle.iter_tensors(resolve_prefix(Path(path)))


def read_object_graph(path: Path) -> Any:
    """The ``TrackableObjectGraph`` of the checkpoint ``path`` names, or None for name-based checkpoints."""
    return tensor_bundle.read_object_graph(resolve_prefix(Path(path)))


# --- inspect ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointReport(_report.ReportBase):
    """What ``convkit inspect`` shows for a checkpoint."""

    format: str
    path: str
    kind: str
    prefix: str
    state: dict[str, Any] | None
    header: dict[str, Any]
    shards: list[dict[str, Any]]
    summary: dict[str, Any]
    objects: list[dict[str, Any]]
    tensors: list[dict[str, Any]]
    object_graph: dict[str, Any] | None
    verify: dict[str, Any] | None = None


def accept(path: Path) -> bool:
    """A prefix, `.index` file or data shard of a checkpoint, or a directory with a `checkpoint` state file."""
    try:
        path = Path(path)
        if path.is_dir():
            if not (path / STATE_FILE).is_file() and len(list(path.glob("*.index"))) != 1:
                return False
        prefix = resolve_prefix(path)
        with index_path(prefix).open("rb") as handle:
            handle.seek(0, 2)
            if handle.tell() < FOOTER_BYTES:
                return False
            handle.seek(-8, 2)
            return struct.unpack("<Q", handle.read(8))[0] == TABLE_MAGIC
    except (ConvkitError, OSError, ValueError):
        return False


def inspect(path: Path, *, weights: bool = False, verify_crc: bool = False, **_options: Any) -> CheckpointReport:
    """Describes the checkpoint at ``path`` without TensorFlow.

    Args:
        path: prefix, `.index` file, data shard or directory with a `checkpoint` state file.
        weights: add per-tensor statistics (reads every tensor). Default False.
        verify_crc: recompute every tensor's CRC32C against the data shards. Default False.
    """
    path = Path(path)
    state = None
    state_dir = path if path.is_dir() else None
    if state_dir is None and (path.parent / STATE_FILE).is_file():
        state_dir = path.parent
    if state_dir is not None and (state_dir / STATE_FILE).is_file():
        state = read_state(state_dir / STATE_FILE)
        state["checkpoints"] = [_listed_checkpoint(state_dir, recorded) for recorded in state["all"]]
    index = read_index(path)
    shards = []
    for shard_id in range(index.num_shards):
        shard = index.shard_path(shard_id)
        present = shard.is_file()
        shards.append({"file": shard.name, "present": present, "bytes": shard.stat().st_size if present else None})
    missing = [s["file"] for s in shards if not s["present"]]
    if missing:
        raise ReadError(f"{index.shard_path(0).parent / str(missing[0])}: checkpoint data shard is missing")
    graph = object_graph(index)
    tensors = []
    parameters = 0
    total_bytes = 0
    for entry in index.entries:
        if entry.key == OBJECT_GRAPH_KEY:
            continue
        row: dict[str, Any] = {
            "key": entry.key,
            "dtype": entry.dtype,
            "shape": list(entry.shape),
            "shard": entry.shard_id,
            "offset": entry.offset,
            "size": entry.size,
            "crc32c": f"{entry.crc32c:08x}" if entry.crc32c is not None else None,
        }
        if weights:
            row["stats"] = _report.tensor_stats(tensor_value(index, entry))
        tensors.append(row)
        if entry.dtype not in ("string", "resource", "variant"):
            parameters += entry.num_elements
        total_bytes += entry.size
    tree, objects = _graph_tree(graph, index) if graph is not None else (None, _objects_by_key(tensors))
    return CheckpointReport(
        format="ckpt",
        path=str(path),
        kind="object-based" if graph is not None else "name-based",
        prefix=str(index.prefix),
        state=state,
        header={"num_shards": index.num_shards, "endianness": index.endianness, "version": index.version},
        shards=shards,
        summary={
            "tensors": len(tensors),
            "parameters": parameters,
            "bytes": total_bytes,
            "object_graph": graph is not None,
            "optimizer_tensors": sum(1 for t in tensors if _is_optimizer_key(t["key"])),
        },
        objects=objects,
        tensors=tensors,
        object_graph=tree,
        verify=check_crc32c(index) if verify_crc else None,
    )


def _listed_checkpoint(directory: Path, recorded: str) -> dict[str, Any]:
    # One line per checkpoint the state file keeps: is it there, how many tensors, how many bytes.
    prefix = _state_path(directory, recorded)
    row: dict[str, Any] = {"prefix": recorded, "present": _is_file(index_path(prefix)), "tensors": None, "bytes": None}
    if row["present"]:
        try:
            listed = read_index(prefix)
        except ReadError as error:
            row["error"] = str(error)
        else:
            row["tensors"] = sum(1 for entry in listed.entries if entry.key != OBJECT_GRAPH_KEY)
            row["bytes"] = sum(entry.size for entry in listed.entries if entry.key != OBJECT_GRAPH_KEY)
    return row


def _is_optimizer_key(key: str) -> bool:
    return key.startswith("optimizer/") or "/.OPTIMIZER_SLOT/" in key


def _objects_by_key(tensors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Name-based checkpoints have no object graph: group variables by their scope instead.
    groups: dict[str, dict[str, Any]] = {}
    for tensor in tensors:
        owner = tensor["key"].rsplit("/", 1)[0] if "/" in tensor["key"] else ""
        group = groups.setdefault(owner, {"object": owner, "tensors": 0, "parameters": 0})
        group["tensors"] += 1
        group["parameters"] += _report.count(tensor["shape"])
    return list(groups.values())


def _graph_tree(graph: Any, index: CheckpointIndex) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The object graph as a nested tree, plus a table of objects owning variables."""
    entries = {entry.key: entry for entry in index.entries}
    nodes = graph.nodes
    slot_owner: dict[int, list[dict[str, Any]]] = {}
    for node_id, node in enumerate(nodes):
        for slot in node.slot_variables:
            slot_owner.setdefault(slot.original_variable_node_id, []).append(
                {"slot": slot.slot_name, "node": slot.slot_variable_node_id, "optimizer_node": node_id}
            )
    objects: list[dict[str, Any]] = []
    owners: dict[str, dict[str, Any]] = {}
    seen: set[int] = set()

    def build(node_id: int, name: str, path: str, depth: int) -> dict[str, Any]:
        item: dict[str, Any] = {"name": name, "node": node_id}
        if node_id in seen or depth > 64 or not 0 <= node_id < len(nodes):
            item["ref"] = True
            return item
        seen.add(node_id)
        node = nodes[node_id]
        attributes = []
        for attribute in node.attributes:
            entry = entries.get(attribute.checkpoint_key)
            attributes.append({
                "name": attribute.name,
                "checkpoint_key": attribute.checkpoint_key,
                "dtype": entry.dtype if entry else None,
                "shape": list(entry.shape) if entry else None,
            })
        if attributes:
            item["attributes"] = attributes
            # A variable node holds one VARIABLE_VALUE attribute: count it under the object owning it.
            owner = path.rsplit("/", 1)[0] if "/" in path and all(a["name"] == "VARIABLE_VALUE" for a in attributes) else path
            row = owners.get(owner)
            if row is None:
                row = owners[owner] = {"object": owner or "(root)", "tensors": 0, "parameters": 0, "variables": []}
                objects.append(row)
            row["tensors"] += len(attributes)
            row["parameters"] += sum(_report.count(a["shape"] or []) for a in attributes if a["dtype"] not in (None, "string"))
            row["variables"].append(path[len(owner):].lstrip("/") or attributes[0]["name"])
        if node_id in slot_owner:
            item["slots"] = slot_owner[node_id]
        children = [build(child.node_id, child.local_name, f"{path}/{child.local_name}" if path else child.local_name, depth + 1)
                    for child in node.children]
        if children:
            item["children"] = children
        return item

    tree = build(0, "(root)", "", 0) if len(nodes) else {"name": "(root)", "node": 0}
    return tree, objects


# ---------------------------------------------------------------- reading into the in-memory model


def read(path: Path, stack: contextlib.ExitStack, *, like: Path | None, template: Template | None) -> ModelData:
    """The weights of a Keras object-based checkpoint in the architecture of ``template`` (the model ``like``
    names); tensors are read when asked for.

    Either Keras generation's layout (:mod:`convkit.keras_model.checkpoint_layout`): tf_keras'
    ``layer_with_weights-N``, Keras 3's ``_operations/N`` under ``tf.train.Checkpoint(model=m)``,
    with or without the optimizer beside it.

    Raises:
        UsageError: no ``like``, or the checkpoint does not fit its architecture (the first tensor that does not
            is named).
    """
    from convkit.keras_model.checkpoint_layout import layer_variables, match_layer, wanted_paths
    from convkit.keras_model.config import layer_names
    from convkit.keras_model.data import Weight
    from convkit.keras_model.weights import check_fit, check_same_count, needs_like, tfjs_weight_name, with_weights

    if template is None or like is None:
        raise needs_like(path, "a checkpoint")
    model = template()
    prefix = resolve_prefix(Path(path))
    index = tensor_bundle.read_index(prefix)
    targets = [(name, items) for name, items in model.layer_weights.items() if items]
    layers = layer_variables(object_graph(index), (entry.key for entry in index.entries))
    if not layers:
        raise UsageError(f"{path}: holds no Keras model's weights (neither tf_keras' layer_with_weights-N nor "
                         "Keras 3's _operations/N objects)")
    check_same_count(len(layers), len(targets), "layers", "layers with weights", path, like)
    entries = {entry.key: entry for entry in index.entries}
    known = layer_names(model.config)
    records = {(layer.get("config") or {}).get("name", layer.get("name")): layer
               for layer in (model.config.get("config") or {}).get("layers", []) if isinstance(layer, dict)}
    layer_weights: dict[str, list[Weight]] = {name: [] for name in model.layer_weights}
    for number, ((layer_name, expected), found) in enumerate(zip(targets, layers)):
        names = [tfjs_weight_name(w.name, known) for w in expected]
        keys = match_layer(found, wanted_paths(records.get(layer_name), names),
                           [name.rpartition("/")[0] for name in names])
        for want, key in zip(expected, keys):
            if key is None:
                raise UsageError(
                    f"{path}: the checkpoint's layer {number} with weights has no tensor for {want.name!r} of layer "
                    f"{layer_name!r} in {like}; --like must name a model of the same architecture"
                )
            entry = entries[key]
            got = Weight(key, tuple(entry.shape), entry.dtype, functools.partial(tensor_bundle.read_tensor, prefix, key))
            check_fit(want, got, layer_name, path, like)
            layer_weights[layer_name].append(Weight(want.name, want.shape, got.dtype, got.read, want.trainable))
        extra = sorted(set(found.values()) - set(keys))
        if extra:
            raise UsageError(f"{path}: tensor {extra[0]!r} has no counterpart in layer {layer_name!r} of {like}")
    return with_weights(model, layer_weights)


register_format(Format(
    name="ckpt",
    description="TensorFlow checkpoint (.index + .data shards)",
    accept=accept,
    inspect=inspect,
    extensions=(".ckpt", ".index"),
    reader="convkit.formats.checkpoint:read",
    weights_only=lambda path: True,
    writer="convkit.convert.writers.checkpoint:write",
    prefix_output=True,
    runner="convkit.runtimes.keras.open:open_checkpoint",
    default_output=lambda parent, name: parent / f"{name}_ckpt" / "ckpt",
    graph_extractor="convkit.graph.checkpoint:from_checkpoint",
))
