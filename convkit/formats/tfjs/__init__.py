"""TensorFlow.js models: a directory with ``model.json`` and binary weight shards.

``model.json`` holds ``format`` (``layers-model`` or ``graph-model``),
``generatedBy``/``convertedBy``, ``modelTopology`` (a Keras model config for
layers models, a GraphDef as JSON for graph models) and ``weightsManifest``:
groups of ``{paths, weights}`` where each group's weights are packed, in
order, across the group's shard files. A weight may be quantized
(``quantization: {dtype: uint8|uint16|float16, min, scale}``) and then takes
1 or 2 bytes per element on disk.

Shard paths must stay inside the model's directory: absolute paths and ``..``
are refused, so a manifest cannot make convkit read elsewhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from convkit.containers import limits
from convkit.containers.files import head_bytes, is_regular_file, open_regular
from convkit.errors import ReadError
from convkit.formats import _report
from convkit.formats.tfjs.blame import blame
from convkit.graph_model.model import GraphSource
from convkit.policy.code import without_training
from convkit.policy.graph_ops import risky_ops
from convkit.registry import Format, WriteOptions, register_format

MODEL_JSON = "model.json"
_DTYPE_BYTES = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2, "complex64": 8}
_SNIFF_BYTES = 4096
QUANTIZED_DTYPES = ("uint8", "uint16", "float16")
# What convert writes: the model kinds, weight quantizations and shard size tensorflowjs_converter writes.
KINDS = ("layers", "graph")
QUANTIZATIONS = ("float16", "uint8", "uint16")
DEFAULT_SHARD_SIZE = 4 * 1024 * 1024


@dataclass(frozen=True)
class TfjsReport(_report.ReportBase):
    """What ``convkit inspect`` shows for a TF.js model."""

    format: str
    path: str
    kind: str
    generated_by: str | None
    converted_by: str | None
    summary: dict[str, Any]
    topology: dict[str, Any]
    layers: list[dict[str, Any]]
    signature: dict[str, Any] | None
    weights: list[dict[str, Any]]
    shards: list[dict[str, Any]]
    bytes_check: dict[str, Any]
    user_defined_metadata: Any
    risky_ops: list[dict[str, Any]]


def _model_json(path: Path) -> Path:
    path = Path(path)
    return path / MODEL_JSON if path.is_dir() else path


def model_json_path(path: Path) -> Path:
    """The ``model.json`` of the TF.js model at ``path`` (the file itself or its folder)."""
    return _model_json(Path(path))


def document_is_graph_model(document: dict[str, Any]) -> bool:
    """Whether a parsed ``model.json`` is a graph model (its own ``format``, else a GraphDef topology)."""
    topology = document.get("modelTopology")
    fmt = document.get("format")
    return fmt == "graph-model" or (fmt is None and isinstance(topology, dict) and "node" in topology)


def accept(path: Path) -> bool:
    """``model.json`` (or a directory holding one) that looks like a TF.js model."""
    try:
        head = head_bytes(_model_json(path), _SNIFF_BYTES)
    except OSError:  # a folder that cannot be listed
        return False
    return head.lstrip()[:1] == b"{" and any(
        key in head for key in (b'"modelTopology"', b'"weightsManifest"', b'"format"')
    )


def read_model_json(path: Path) -> dict[str, Any]:
    """The parsed ``model.json`` of the TF.js model at ``path`` (file or directory).

    Checks the manifest's structure and that every shard path stays inside the
    model's directory.

    Raises:
        ReadError: missing, too large, not JSON, malformed manifest, or a shard path
            that is absolute or climbs out with ``..``.
    """
    model_json = _model_json(Path(path))
    document = limits.read_json(model_json, "TF.js model.json")
    if not isinstance(document, dict):
        raise ReadError(f"{model_json}: model.json is not a JSON object")
    if "modelTopology" not in document and "weightsManifest" not in document:
        raise ReadError(f"{model_json}: JSON has neither modelTopology nor weightsManifest; not a TF.js model")
    check_manifest(document.get("weightsManifest", []), model_json)
    return document


def check_manifest(manifest: Any, model_json: Path) -> None:
    """Checks a weights manifest's structure, its sizes, and that every shard path stays in the model's folder.

    Raises:
        ReadError: a malformed group or weight, too many weights or shards, or a shard path that is
            absolute or climbs out with ``..``.
    """
    if not isinstance(manifest, list):
        raise ReadError(f"{model_json}: weightsManifest is not a list")
    weight_count = 0
    shard_count = 0
    for group_index, group in enumerate(manifest):
        if not isinstance(group, dict) or not isinstance(group.get("paths"), list) or not isinstance(group.get("weights"), list):
            raise ReadError(f"{model_json}: weightsManifest group {group_index} needs 'paths' and 'weights' lists")
        for shard in group["paths"]:
            _check_shard_path(shard, model_json)
        shard_count += len(group["paths"])
        for weight in group["weights"]:
            _check_weight(weight, model_json)
        weight_count += len(group["weights"])
    if weight_count > limits.MAX_MANIFEST_WEIGHTS:
        raise ReadError(f"{model_json}: manifest lists {weight_count} weights, over convkit's limit of {limits.MAX_MANIFEST_WEIGHTS}")
    if shard_count > limits.MAX_MANIFEST_SHARDS:
        raise ReadError(f"{model_json}: manifest lists {shard_count} shards, over convkit's limit of {limits.MAX_MANIFEST_SHARDS}")


def _check_shard_path(shard: Any, model_json: Path) -> None:
    if not isinstance(shard, str) or not shard:
        raise ReadError(f"{model_json}: manifest has a shard path that is not a non-empty string: {shard!r}")
    posix = PurePosixPath(shard.replace("\\", "/"))
    if posix.is_absolute() or shard.startswith(("/", "\\")) or (len(shard) > 1 and shard[1] == ":"):
        raise ReadError(f"{model_json}: shard path {shard!r} is absolute; TF.js shard paths must stay inside the model folder")
    if ".." in posix.parts:
        raise ReadError(f"{model_json}: shard path {shard!r} climbs out of the model folder with '..'")


def _check_weight(weight: Any, model_json: Path) -> None:
    if not isinstance(weight, dict) or not isinstance(weight.get("name"), str) or not isinstance(weight.get("shape"), list):
        raise ReadError(f"{model_json}: manifest has a weight without a name and shape: {str(weight)[:80]}")
    if not all(isinstance(dim, int) and not isinstance(dim, bool) for dim in weight["shape"]):
        raise ReadError(f"{model_json}: weight {weight['name']!r} has a non-integer shape {weight['shape']}")
    limits.check_shape(tuple(weight["shape"]), model_json, f"weight {weight['name']!r}")
    dtype = weight.get("dtype", "float32")
    quantization = weight.get("quantization")
    stored = quantization.get("dtype") if isinstance(quantization, dict) else dtype
    if not isinstance(stored, str) or not isinstance(dtype, str) or (stored not in _DTYPE_BYTES and dtype != "string"):
        raise ReadError(f"{model_json}: weight {weight['name']!r} has unsupported dtype {stored!r}")
    if quantization is not None and not isinstance(quantization, dict):
        raise ReadError(f"{model_json}: weight {weight['name']!r} has a quantization that is not an object")
    if isinstance(quantization, dict):
        if stored not in QUANTIZED_DTYPES:
            raise ReadError(f"{model_json}: weight {weight['name']!r} is quantized to {stored!r}; TF.js quantizes "
                            f"to {', '.join(QUANTIZED_DTYPES)} only")
        if dtype not in ("float32", "int32"):
            raise ReadError(f"{model_json}: weight {weight['name']!r} of dtype {dtype!r} cannot be quantized")
        for field in ("scale", "min"):
            value = quantization.get(field, 0.0)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ReadError(f"{model_json}: weight {weight['name']!r} has a non-numeric quantization {field} {value!r}")


def weight_bytes(weight: dict[str, Any]) -> int | None:
    """Bytes a (checked) manifest weight takes in its shards; None for strings, whose length varies."""
    quantization = weight.get("quantization")
    dtype = quantization["dtype"] if isinstance(quantization, dict) else weight.get("dtype", "float32")
    if dtype == "string":
        return None
    return _report.count(weight["shape"]) * _DTYPE_BYTES[dtype]


def group_shards(model_json: Path, group: dict[str, Any]) -> list[Path]:
    """The shard files of one manifest group: regular files inside the model folder, links refused.

    Raises:
        ReadError: a shard is missing, a link, a special file, or outside the folder.
    """
    folder = model_json.parent.resolve()
    shards = []
    for relative in group["paths"]:
        shard = model_json.parent / relative
        try:
            if not shard.exists() and not shard.is_symlink():
                raise ReadError(f"{shard}: weight shard named in {model_json.name} is missing")
            if not is_regular_file(shard):
                raise ReadError(f"{shard}: weight shard is not a regular file inside the model folder "
                                "(a link or special file; convkit follows no links)")
            if folder not in shard.resolve().parents:
                raise ReadError(f"{shard}: weight shard is not a file inside the model folder")
        except (OSError, ValueError) as error:
            raise ReadError(f"{shard}: cannot read weight shard ({getattr(error, 'strerror', None) or error})") from None
        shards.append(shard)
    return shards


def check_shards(model_json_path: Path, model_json: dict[str, Any]) -> int:
    """Checks that every weight shard is a regular file inside the model folder (no links) holding exactly
    the bytes the manifest declares; returns the total.

    Raises:
        ReadError: a shard is missing, a link or special file, outside the folder, or the byte counts disagree.
    """
    total = 0
    for index, group in enumerate(model_json.get("weightsManifest") or []):
        needed: int | None = 0
        for weight in group["weights"]:
            size = weight_bytes(weight)
            needed = None if size is None or needed is None else needed + size
        on_disk = sum(shard.stat().st_size for shard in group_shards(model_json_path, group))
        if needed is not None and on_disk != needed:
            raise ReadError(
                f"{model_json_path}: weight group {index} needs {needed} bytes but its shards hold {on_disk}"
            )
        total += on_disk
    return total


def _read_group(model_json: Path, group: dict[str, Any], group_index: int) -> bytes:
    chunks = []
    for shard in group_shards(model_json, group):
        with open_regular(shard) as handle:
            chunks.append(handle.read(limits.MAX_SHARD_BYTES + 1))
        if len(chunks[-1]) > limits.MAX_SHARD_BYTES:
            raise ReadError(f"{shard}: weight shard is over convkit's limit of {limits.MAX_SHARD_BYTES} bytes")
    return b"".join(chunks)


def decode_weight(weight: dict[str, Any], data: bytes, offset: int, model_json: Path) -> tuple[Any, int]:
    """The array of one manifest weight at ``offset`` in its group's bytes, dequantized; and the next offset."""
    import numpy as np

    shape = tuple(weight["shape"])
    count = _report.count(shape)
    dtype = weight.get("dtype", "float32")
    if dtype == "string":
        strings: list[bytes] = []
        for _ in range(count):
            if offset + 4 > len(data):
                raise ReadError(f"{model_json}: string weight {weight['name']!r} runs past the end of its shards")
            length = int.from_bytes(data[offset : offset + 4], "little")
            strings.append(data[offset + 4 : offset + 4 + length])
            offset += 4 + length
        return np.array(strings, dtype=object).reshape(shape), offset
    size = weight_bytes(weight)
    assert size is not None
    if offset + size > len(data):
        raise ReadError(
            f"{model_json}: weight {weight['name']!r} needs bytes {offset}..{offset + size} but its shards hold "
            f"{len(data)} (truncated shard)"
        )
    raw = data[offset : offset + size]
    quantization = weight.get("quantization")
    if isinstance(quantization, dict):
        stored = quantization["dtype"]
        if stored == "float16":
            values = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        else:
            quantized = np.frombuffer(raw, dtype="<u1" if stored == "uint8" else "<u2")
            scale = float(quantization.get("scale", 1.0))
            minimum = float(quantization.get("min", 0.0))
            values = quantized.astype(np.float32) * np.float32(scale) + np.float32(minimum)
            if dtype == "int32":
                values = np.round(values)  # as tensorflowjs dequantizes integer weights
        values = values.astype(np.dtype(dtype if dtype in ("float32", "int32") else "float32"))
    elif dtype == "bool":
        values = np.frombuffer(raw, dtype=np.uint8).astype(bool)
    else:
        values = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).copy()
    try:
        return values.reshape(shape), offset + size
    except ValueError:  # e.g. [0, 2**40]: no elements, but numpy cannot describe the shape
        raise ReadError(f"{model_json}: weight {weight['name']!r} has a shape numpy cannot hold: {list(shape)}") from None


def iter_weights(path: Path) -> Iterator[tuple[str, Any]]:
    """Yields ``(name, array)`` for every weight in the manifest, dequantized to its declared dtype.

    Raises:
        ReadError: a shard is missing or holds fewer bytes than the manifest needs.
    """
    model_json = _model_json(Path(path))
    document = read_model_json(model_json)
    yield from iter_manifest_weights(model_json, document.get("weightsManifest", []))


def iter_manifest_weights(manifest_file: Path, manifest: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    """Yields ``(name, array)`` for every weight of a checked ``manifest`` whose shards sit beside ``manifest_file``."""
    model_json = manifest_file
    for group_index, group in enumerate(manifest):
        data = _read_group(model_json, group, group_index)
        offset = 0
        for weight in group["weights"]:
            array, offset = decode_weight(weight, data, offset, model_json)
            yield weight["name"], array


def _topology(document: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    topology = document.get("modelTopology") or {}
    fmt = document.get("format")
    if not isinstance(topology, dict):
        topology = {}
    is_graph = fmt == "graph-model" or (fmt is None and "node" in topology)
    if is_graph:
        nodes = _list(topology.get("node"))
        functions = _list(topology["library"].get("function")) if isinstance(topology.get("library"), dict) else []
        function_ops: Counter[str] = Counter(
            str(node.get("op", "?")) for function in functions if isinstance(function, dict)
            for node in _list(function.get("nodeDef")) if isinstance(node, dict)
        )
        return "graph-model", {
            "nodes": len(nodes),
            "ops": dict(Counter(str(node.get("op", "?")) for node in nodes if isinstance(node, dict)).most_common()),
            "functions": len(functions),
            "function_ops": dict(function_ops.most_common()),
            "producer": (topology.get("versions") or {}).get("producer") if isinstance(topology.get("versions"), dict) else None,
        }, None
    model_config = topology.get("model_config") if isinstance(topology.get("model_config"), dict) else topology
    if not isinstance(model_config, dict) or "class_name" not in model_config:
        model_config = None
    summary = _report.config_summary(model_config) or {}
    summary["keras_version"] = topology.get("keras_version")
    summary["backend"] = topology.get("backend")
    return "layers-model", summary, model_config


def _graph_view(document: dict[str, Any], model_json: Path) -> dict[str, Any]:
    """A graph model's inputs and outputs (its signature's, else inferred from the graph) and its risky ops."""
    from convkit.graph_model import analysis
    from convkit.graph_model.messages import saved_model_wrapping
    from convkit.graph_model.model import described_io
    from convkit.graph_model.tfjs import graph_def_from_json, restore_function_names, signature_infos

    graph_def = graph_def_from_json(document.get("modelTopology"), model_json)
    restore_function_names(graph_def)
    analysis.check_structure(graph_def, model_json, "graph model")
    signature = document.get("signature")
    inputs, outputs, io_from = described_io(graph_def, model_json, signature_inputs=signature_infos(signature, "inputs"),
                                            signature_outputs=signature_infos(signature, "outputs"))
    return {
        "inputs_and_outputs": io_from,
        "inputs": [info.to_dict() for info in inputs],
        "outputs": [info.to_dict() for info in outputs],
        "tfjs_only_ops": sorted({node.op for _, node in analysis.all_nodes(graph_def)
                                 if node.op in ("Prelu", "FusedDepthwiseConv2dNative", "_FusedConv2D", "_FusedMatMul")}),
        "risky_ops": [found.to_dict() for found in risky_ops(saved_model_wrapping(graph_def))],
    }


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _signature(document: dict[str, Any]) -> dict[str, Any] | None:
    signature = document.get("signature")
    if not isinstance(signature, dict):
        return None

    def tensors(side: str) -> list[dict[str, Any]]:
        rows = []
        listed = signature.get(side)
        for key, info in (listed.items() if isinstance(listed, dict) else []):
            if not isinstance(info, dict):
                continue
            shape = info.get("tensorShape", {}).get("dim") if isinstance(info.get("tensorShape"), dict) else None
            rows.append({
                "key": key,
                "name": info.get("name"),
                "dtype": info.get("dtype"),
                "shape": [_dim(d) for d in shape] if isinstance(shape, list) else None,
            })
        return rows

    return {"inputs": tensors("inputs"), "outputs": tensors("outputs")}


def _dim(dim: Any) -> int | None:
    """A signature dim (``{"size": "784"}``; -1 or missing: any size); ``None`` when not a number."""
    size = dim.get("size", -1) if isinstance(dim, dict) else None
    try:
        return int(size) if isinstance(size, (int, str)) and not isinstance(size, bool) else None
    except ValueError:
        return None


def inspect(path: Path, *, weights: bool = False, **_options: Any) -> TfjsReport:
    """Describes the TF.js model at ``path`` (``model.json`` or its directory).

    Args:
        path: the model directory or its ``model.json``.
        weights: dequantize every weight and add statistics. Default False.
    """
    path = Path(path)
    model_json = _model_json(path)
    document = read_model_json(model_json)
    kind, topology, model_config = _topology(document)
    weight_rows: list[dict[str, Any]] = []
    shard_rows: list[dict[str, Any]] = []
    needed_total = 0
    on_disk_total = 0
    for group_index, group in enumerate(document.get("weightsManifest", [])):
        needed = 0
        variable = False
        for weight in group["weights"]:
            size = weight_bytes(weight)
            variable = variable or size is None
            quantization = weight.get("quantization")
            weight_rows.append({
                "name": weight["name"],
                "shape": list(weight["shape"]),
                "dtype": weight.get("dtype", "float32"),
                "quantization": quantization.get("dtype") if isinstance(quantization, dict) else None,
                "group": group_index,
                "bytes": size,
            })
            needed += size or 0
        on_disk = 0
        for shard in group_shards(model_json, group):
            size = shard.lstat().st_size
            on_disk += size
            shard_rows.append({"file": str(shard.relative_to(model_json.parent)), "group": group_index, "bytes": size})
        if not variable and on_disk < needed:
            raise ReadError(
                f"{model_json}: weight group {group_index} needs {needed} bytes but its shards hold {on_disk} "
                f"(truncated shard or wrong manifest)"
            )
        needed_total += needed
        on_disk_total += on_disk
    if weights:
        for row, (_name, array) in zip(weight_rows, iter_weights(model_json)):
            row["stats"] = _report.tensor_stats(array)
    layers = _report.layer_table(model_config, weight_rows, _owner) if kind == "layers-model" else []
    if kind == "graph-model":
        topology.update(_graph_view(document, model_json))
    return TfjsReport(
        format="tfjs",
        path=str(path),
        kind=kind,
        generated_by=document.get("generatedBy"),
        converted_by=document.get("convertedBy"),
        summary={
            "weights": len(weight_rows),
            "parameters": sum(_report.count(row["shape"]) for row in weight_rows),
            "bytes": needed_total,
            "shards": len(shard_rows),
            "quantized_weights": sum(1 for row in weight_rows if row["quantization"]),
        },
        topology=topology,
        layers=layers,
        signature=_signature(document),
        weights=weight_rows,
        shards=shard_rows,
        bytes_check={"manifest_bytes": needed_total, "shard_bytes": on_disk_total, "match": needed_total == on_disk_total},
        user_defined_metadata=document.get("userDefinedMetadata"),
        risky_ops=topology.pop("risky_ops", []),
    )


def _is_file(path: Path) -> bool:
    # A hostile name (NUL byte, a component over NAME_MAX) cannot name a shard; pathlib would raise.
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _owner(weight: dict[str, Any]) -> str:
    parts = weight["name"].split("/")
    return parts[-2] if len(parts) >= 2 else parts[0]


def configs(path: Path) -> list[Any]:
    """The Keras config of ``model.json`` (``modelTopology`` of a layers model, its training config aside), as data."""
    document = read_model_json(Path(path))
    if document_is_graph_model(document) or document.get("modelTopology") is None:
        return []
    return [without_training(document["modelTopology"])]


def policy_graph(path: Path) -> Any:
    """A graph model's topology as the policy's op scan reads it; None for a layers model (its config is judged)."""
    document = read_model_json(Path(path))
    if not document_is_graph_model(document):
        return None
    from convkit.graph_model.messages import saved_model_wrapping
    from convkit.graph_model.tfjs import graph_def_from_json

    return saved_model_wrapping(graph_def_from_json(document.get("modelTopology"), _model_json(Path(path))))


def is_graph_model(path: Path) -> bool:
    """Whether the TF.js model at ``path`` is a graph model (an inference graph, no Keras layers)."""
    return document_is_graph_model(read_model_json(Path(path)))


def inference_graph(path: Path, like: Path | None) -> GraphSource | None:
    """A TF.js graph model as a conversion source that converts as a graph (:mod:`convkit.formats.tfjs.graph`
    rebuilds it); None for a layers model."""
    if not is_graph_model(path):
        return None
    return GraphSource(Path(path), "convkit.formats.tfjs.graph:read", "a TF.js graph model")


register_format(Format(
    name="tfjs",
    holds_strings=False,
    description="TensorFlow.js layers or graph model (model.json + shards)",
    accept=accept,
    inspect=inspect,
    extensions=("model.json",),
    title="TF.js",
    configs=configs,
    graph=policy_graph,
    reader="convkit.formats.tfjs.layers:read",
    inference_graph=inference_graph,
    writer="convkit.convert.writers.tfjs:write",
    write_options=WriteOptions(kinds=KINDS, quantizations=QUANTIZATIONS, quantize_weights=True,
                               shard_size=DEFAULT_SHARD_SIZE, input_shapes=True, graphs=True),
    runner="convkit.runtimes.tfjs.runner:open_tfjs",
    runtime_title="TF.js",
    blame=blame,
    default_output=lambda parent, name: parent / f"{name}_tfjs",
    graph_extractor="convkit.graph.tf:from_tfjs",
))
