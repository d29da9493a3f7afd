"""TensorFlow SavedModel: a directory with ``saved_model.pb`` (or ``.pbtxt``).

``saved_model.pb`` is a ``SavedModel`` protobuf: a schema version and one or
more ``MetaGraphDef`` (tags, TensorFlow version, signatures, the graph, its
function library and the ``SavedObjectGraph``). Beside it: ``variables/``
(a TensorFlow checkpoint), ``assets/``, ``fingerprint.pb`` (hashes of each
part) and, for models written by Keras 2 (tf_keras), ``keras_metadata.pb``
whose root node carries the model's JSON config.

Inspecting decodes these messages with the protobuf classes tensorboard ships;
the graph is never imported or run.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convkit.containers import limits, protobuf, tensor_bundle
from convkit.errors import ConvkitError, ReadError, UsageError, error_text
from convkit.formats import _report
from convkit.graph_model.model import GraphSource
from convkit.policy.code import without_training
from convkit.policy.graph_ops import risky_ops
from convkit.registry import Format, WriteOptions, register_format

if TYPE_CHECKING:
    from convkit.keras_model.data import ModelData, Template

PB_NAME = "saved_model.pb"
PBTXT_NAME = "saved_model.pbtxt"
KERAS_METADATA = "keras_metadata.pb"
FINGERPRINT = "fingerprint.pb"
VARIABLES_PREFIX = Path("variables") / "variables"


@dataclass(frozen=True)
class SavedModelReport(_report.ReportBase):
    """What ``convkit inspect`` shows for a SavedModel."""

    format: str
    path: str
    kind: str
    schema_version: int
    meta_graphs: list[dict[str, Any]]
    summary: dict[str, Any]
    layers: list[dict[str, Any]]
    keras_metadata: dict[str, Any] | None
    fingerprint: dict[str, Any] | None
    assets: list[dict[str, Any]]
    variables: dict[str, Any] | None
    risky_ops: list[dict[str, Any]]


def _model_dir(path: Path) -> Path:
    return path.parent if path.is_file() and path.name in (PB_NAME, PBTXT_NAME) else path


def model_dir(path: Path) -> Path:
    """The SavedModel folder named by ``path`` (the folder itself or its ``saved_model.pb``)."""
    return _model_dir(Path(path))


def accept(path: Path) -> bool:
    """A directory holding ``saved_model.pb``/``.pbtxt``, or that file itself."""
    try:
        directory = _model_dir(Path(path))
        return directory.is_dir() and ((directory / PB_NAME).is_file() or (directory / PBTXT_NAME).is_file())
    except OSError:
        return False


def read_saved_model(path: Path) -> Any:
    """The decoded ``SavedModel`` message of the SavedModel at ``path``.

    Raises:
        ReadError: missing, over ``MAX_PROTO_BYTES``, or not a SavedModel protobuf.
    """
    from google.protobuf import text_format
    from google.protobuf.message import DecodeError

    directory = _model_dir(Path(path))
    message = protobuf.message_class("SavedModel")()
    pb = directory / PB_NAME
    if pb.is_file():
        data = limits.read_capped(pb, limits.MAX_PROTO_BYTES, "SavedModel protobuf")
        try:
            message.ParseFromString(data)
        except (DecodeError, RecursionError):
            raise ReadError(f"{pb}: not a SavedModel protobuf (truncated or corrupt)") from None
    else:
        pbtxt = directory / PBTXT_NAME
        data = limits.read_capped(pbtxt, limits.MAX_PROTO_BYTES, "SavedModel text protobuf")
        try:
            text_format.Parse(data.decode("utf-8"), message)
        except (text_format.ParseError, UnicodeDecodeError) as error:
            raise ReadError(f"{pbtxt}: not a SavedModel text protobuf ({error_text(error)})") from None
        pb = pbtxt
    if not message.meta_graphs:
        raise ReadError(f"{pb}: SavedModel holds no meta graph (truncated or not a SavedModel)")
    return message


def _shape(shape_proto: Any) -> list[int | None] | None:
    if shape_proto.unknown_rank:
        return None
    return [None if dim.size < 0 else int(dim.size) for dim in shape_proto.dim]


def _tensor_info(key: str, info: Any) -> dict[str, Any]:
    encoding = info.WhichOneof("encoding")
    name = info.name if encoding == "name" else encoding
    return {"key": key, "dtype": protobuf.dtype_name(info.dtype), "shape": _shape(info.tensor_shape), "name": name}


def _signatures(meta_graph: Any) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(meta_graph.signature_def):
        signature = meta_graph.signature_def[key]
        rows.append({
            "key": key,
            "method": signature.method_name,
            "inputs": [_tensor_info(k, signature.inputs[k]) for k in sorted(signature.inputs)],
            "outputs": [_tensor_info(k, signature.outputs[k]) for k in sorted(signature.outputs)],
        })
    return rows


def signature_keys(path: Path) -> list[str]:
    """The serving signatures of the SavedModel at ``path`` (its ``serve`` meta graph, else its first), by key;
    TensorFlow's own ``__saved_model_init_op`` left out."""
    message = read_saved_model(path)
    meta_graphs = list(message.meta_graphs)
    if not meta_graphs:
        return []
    chosen = next((graph for graph in meta_graphs if "serve" in graph.meta_info_def.tags), meta_graphs[0])
    return sorted(key for key in chosen.signature_def if not key.startswith("__"))


def _object_graph_summary(object_graph: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    kinds: Counter[str] = Counter()
    identifiers: Counter[str] = Counter()
    variables: dict[str, dict[str, Any]] = {}
    for node in object_graph.nodes:
        kind = node.WhichOneof("kind") or "none"
        kinds[kind] += 1
        if kind == "user_object":
            identifiers[node.user_object.identifier] += 1
        elif kind == "variable":
            variable = node.variable
            shape = _shape(variable.shape) or []
            variables.setdefault(variable.name, {
                "name": variable.name,
                "dtype": protobuf.dtype_name(variable.dtype),
                "shape": shape,
                "trainable": bool(variable.trainable),
            })
    summary = {
        "nodes": len(object_graph.nodes),
        "kinds": dict(kinds.most_common()),
        "user_objects": dict(identifiers.most_common()),
        "concrete_functions": len(object_graph.concrete_functions),
        "variables": len(variables),
    }
    return summary, list(variables.values())


def _meta_graph(meta_graph: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    info = meta_graph.meta_info_def
    graph = meta_graph.graph_def
    functions = graph.library.function
    function_ops: Counter[str] = Counter(node.op for function in functions for node in function.node_def)
    object_summary, variables = _object_graph_summary(meta_graph.object_graph_def)
    described = {
        "tags": list(info.tags),
        "tensorflow_version": info.tensorflow_version,
        "tensorflow_git_version": info.tensorflow_git_version,
        "signatures": _signatures(meta_graph),
        "graph": {
            "nodes": len(graph.node),
            "producer": graph.versions.producer,
            "ops": dict(Counter(node.op for node in graph.node).most_common()),
        },
        "function_library": {
            "functions": len(functions),
            "gradients": len(graph.library.gradient),
            "ops": dict(function_ops.most_common()),
            "names": sorted(function.signature.name for function in functions),
        },
        "object_graph": object_summary,
        "saver": {"filename_tensor": meta_graph.saver_def.filename_tensor_name} if meta_graph.HasField("saver_def") else None,
        "collections": sorted(meta_graph.collection_def),
    }
    if not meta_graph.signature_def:
        described["inferred"] = _inferred_io(meta_graph)
    return described, variables


def _inferred_io(meta_graph: Any) -> dict[str, Any]:
    """A TF1 meta graph without signatures: the inputs and outputs its graph implies (convert infers the same)."""
    from convkit.graph_model.freeze import saver_scope
    from convkit.graph_model.model import choose_io

    try:
        inputs, outputs, _ = choose_io(meta_graph.graph_def, Path(PB_NAME), skip_scopes=saver_scope(meta_graph))
    except ConvkitError as error:
        return {"error": str(error)}
    return {"inputs": [info.to_dict() for info in inputs], "outputs": [info.to_dict() for info in outputs]}


def _keras_metadata(directory: Path) -> dict[str, Any] | None:

    path = directory / KERAS_METADATA
    if not path.is_file():
        return None
    data = limits.read_capped(path, limits.MAX_PROTO_BYTES, "Keras metadata protobuf")
    metadata = protobuf.parse_file_message("SavedMetadata", data, path, "Keras SavedMetadata")
    root_config = None
    version = None
    identifiers: Counter[str] = Counter()
    for node in metadata.nodes:
        identifiers[node.identifier] += 1
        if node.node_path == "root" and node.metadata:
            root = limits.parse_json(node.metadata, path, "root node metadata")
            if isinstance(root, dict):
                root_config = {"class_name": root.get("class_name"), "config": root.get("config")}
                version = root.get("keras_version")
    return {
        "present": True,
        "nodes": len(metadata.nodes),
        "identifiers": dict(identifiers.most_common()),
        "keras_version": version if root_config else None,
        "model": _report.config_summary(root_config),
        "model_config": root_config,
    }


def _fingerprint(directory: Path) -> dict[str, Any] | None:
    from google.protobuf.message import DecodeError

    path = directory / FINGERPRINT
    if not path.is_file():
        return None
    try:
        fingerprint = protobuf.parse("FingerprintDef", limits.read_capped(path, limits.MAX_PROTO_BYTES, "fingerprint"))
    except DecodeError:
        raise ReadError(f"{path}: not a SavedModel fingerprint protobuf (corrupt)") from None
    return {
        "saved_model_checksum": fingerprint.saved_model_checksum,
        "graph_def_program_hash": fingerprint.graph_def_program_hash,
        "signature_def_hash": fingerprint.signature_def_hash,
        "saved_object_graph_hash": fingerprint.saved_object_graph_hash,
        "checkpoint_hash": fingerprint.checkpoint_hash,
        "uuid": fingerprint.uuid,
        "producer": fingerprint.version.producer,
    }


def _assets(directory: Path) -> list[dict[str, Any]]:
    assets = directory / "assets"
    if not assets.is_dir():
        return []
    return [{"file": str(p.relative_to(directory)), "bytes": p.stat().st_size}
            for p in sorted(assets.rglob("*")) if p.is_file()][:1000]


def inspect(path: Path, *, weights: bool = False, verify_crc: bool = False, **_options: Any) -> SavedModelReport:
    """Describes the SavedModel at ``path`` without TensorFlow.

    Args:
        path: the SavedModel directory (or its ``saved_model.pb``).
        weights: add per-variable statistics from ``variables/``. Default False.
        verify_crc: recompute the CRC32C of every variable's bytes. Default False.
    """
    path = Path(path)
    directory = _model_dir(path)
    saved_model = read_saved_model(directory)
    meta_graphs = []
    variables: list[dict[str, Any]] = []
    for meta_graph in saved_model.meta_graphs:
        described, graph_variables = _meta_graph(meta_graph)
        meta_graphs.append(described)
        variables = variables or graph_variables
    keras_metadata = _keras_metadata(directory)
    model_config = keras_metadata["model_config"] if keras_metadata else None
    variables_report = None
    prefix = directory / VARIABLES_PREFIX
    if prefix.with_name("variables.index").is_file():
        from convkit.formats import checkpoint

        variables_report = checkpoint.inspect(prefix, weights=weights, verify_crc=verify_crc).to_dict()
        variables_report.pop("format", None)
    elif variables:
        raise ReadError(f"{directory}: SavedModel has variables but no variables/variables.index checkpoint")
    layer_weights = [v for v in variables if not _is_optimizer_variable(v["name"])]
    layers = _report.layer_table(model_config, layer_weights, _owner) if layer_weights or model_config else []
    if model_config:
        listed = {_report.layer_name(layer) for layer in _report.config_layers(model_config)}
        layers = [row for row in layers if row["layer"] in listed]
    parameters = sum(_report.count(v["shape"]) for v in layer_weights if v["dtype"] not in ("resource", "string"))
    kind = "keras2-saved-model" if keras_metadata else "saved-model"
    risky = risky_ops(saved_model)
    return SavedModelReport(
        format="savedmodel",
        path=str(path),
        kind=kind,
        schema_version=int(saved_model.saved_model_schema_version),
        meta_graphs=meta_graphs,
        summary={
            "meta_graphs": len(meta_graphs),
            "signatures": sorted(s["key"] for graph in meta_graphs for s in graph["signatures"]),
            "variables": len(variables),
            "parameters": parameters,
            "bytes": sum(_report.count(v["shape"]) * _report.DTYPE_SIZES.get(v["dtype"], 0) for v in layer_weights),
            "keras_metadata": keras_metadata is not None,
            "fingerprint": (directory / FINGERPRINT).is_file(),
            "risky_ops": len(risky),
        },
        layers=layers,
        keras_metadata=keras_metadata,
        fingerprint=_fingerprint(directory),
        assets=_assets(directory),
        variables=variables_report,
        risky_ops=[found.to_dict() for found in risky],
    )


def _is_optimizer_variable(name: str) -> bool:
    head = name.split("/", 1)[0]
    if "seed_generator" in name:  # Keras 3 random-state variables are not model weights
        return True
    return head in ("iteration", "learning_rate", "total", "count") or head.startswith(("Adam", "SGD", "RMSprop", "optimizer"))


def _owner(weight: dict[str, Any]) -> str:
    # Keras 2 names variables "dense/kernel"; Keras 3 exports "sequential/dense/kernel".
    parts = weight["name"].split("/")
    return parts[-2] if len(parts) >= 2 else parts[0]


def _safe_accept(path: Path) -> bool:
    try:
        return accept(path)
    except ConvkitError:
        return False


@dataclass(frozen=True)
class PlainSavedModel:
    """A SavedModel without a Keras config (``model.export()``, TensorFlow's own) as a conversion source."""

    path: Path

    def refusal(self, target: str) -> str:
        """Why it converts to ``target`` only with ``--like``."""
        return (f"{self.path}: is a SavedModel without a Keras config (e.g. from Keras 3 model.export), so it "
                f"converts to {target} only with --like MODEL naming a model of the same architecture")

    def as_graph(self) -> GraphSource:
        """The SavedModel as a graph: its signature frozen by TensorFlow, for writers of graphs (a frozen ``.pb``)
        and for ``--inputs``/``--outputs``/``--signature``/``--tag``."""
        return GraphSource(self.path, "convkit.runtimes.graph:read_saved_model", "a SavedModel without a Keras config")


def inference_graph(path: Path, like: Path | None) -> PlainSavedModel | GraphSource | None:
    """The SavedModel at ``path`` as a graph when it holds no Keras config and no ``like`` lends it one: a
    :class:`GraphSource` for a TF1 SavedModel (its graph frozen without TensorFlow, whatever its tags and
    signatures), a :class:`PlainSavedModel` for a TF2 one; None when it is a Keras model."""
    if like is not None or has_keras_metadata(path):
        return None
    if is_tf1_saved_model(path):
        return GraphSource(Path(path), "convkit.formats.savedmodel:read_graph", "a TF1 SavedModel")
    return PlainSavedModel(Path(path))


def read_graph(path: Path, *, inputs: Any = (), outputs: Any = (), signature: str | None = None,
               tag: str | None = None, **_options: Any) -> Any:
    """A TF1 SavedModel's meta graph (``--tag``, default ``serve`` or the only one) frozen from ``variables/``
    without TensorFlow, as a ``GraphModel``.

    Raises:
        ReadError: a malformed graph, a variable missing from ``variables/``; UsageError: no such tag or signature.
    """
    from convkit.graph_model.freeze import choose_meta_graph, frozen_model

    directory = _model_dir(Path(path))
    meta_graph = choose_meta_graph(read_saved_model(directory), tag, directory)
    tags = ",".join(sorted(meta_graph.meta_info_def.tags)) or "no tags"
    return frozen_model(meta_graph, directory / VARIABLES_PREFIX, directory / PB_NAME,
                        origin=f"TF1 SavedModel ({tags})", inputs=inputs, outputs=outputs, signature=signature)


def has_keras_metadata(path: Path) -> bool:
    """Whether the SavedModel at ``path`` was written by tf_keras (``keras_metadata.pb`` beside it)."""
    return (_model_dir(Path(path)) / KERAS_METADATA).is_file()


def keras_model_config(path: Path) -> dict[str, Any] | None:
    """The Keras model config (``{"class_name", "config"}``) of the tf_keras SavedModel at ``path``, read as
    data from ``keras_metadata.pb``; None for any other path (a SavedModel without Keras metadata, a file)."""
    if not _safe_accept(Path(path)) or not has_keras_metadata(path):
        return None
    nodes = configs(path)
    root = nodes[0] if nodes and isinstance(nodes[0], dict) else {}
    if not isinstance(root.get("class_name"), str) or not isinstance(root.get("config"), dict):
        return None
    return {"class_name": root["class_name"], "config": root["config"]}


def is_tf1_saved_model(path: Path) -> bool:
    """Whether the SavedModel at ``path`` is a TF1 graph (variables as graph nodes, no Keras config): one that
    converts as a graph, in its ``serve`` meta graph or its only one."""
    if has_keras_metadata(path):
        return False
    from convkit.graph_model.freeze import is_tf1_meta_graph

    meta_graphs = list(read_saved_model(Path(path)).meta_graphs)
    serving = [meta for meta in meta_graphs if "serve" in meta.meta_info_def.tags]
    chosen = serving[0] if serving else meta_graphs[0]
    return is_tf1_meta_graph(chosen)


def configs(path: Path) -> list[Any]:
    """Every node's JSON metadata in ``keras_metadata.pb`` (the model config and each layer's), as data; the
    optimizer's and metrics' nodes and the training config aside (what only training uses)."""

    metadata_path = _model_dir(Path(path)) / KERAS_METADATA
    if not metadata_path.is_file():
        return []
    data = limits.read_capped(metadata_path, limits.MAX_PROTO_BYTES, "Keras metadata protobuf")
    metadata = protobuf.parse_file_message("SavedMetadata", data, metadata_path, "Keras SavedMetadata")
    return [without_training(limits.parse_json(node.metadata, metadata_path, f"metadata of node {node.node_path!r}"))
            for node in metadata.nodes if node.metadata and not _training_only(node)]


def _training_only(node: Any) -> bool:
    # the optimizer and the compiled metrics: objects only training uses
    return node.node_path.startswith("root.optimizer") or node.identifier == "_tf_keras_metric"


# ---------------------------------------------------------------- reading into the in-memory model


def read(path: Path, stack: contextlib.ExitStack, *, like: Path | None, template: Template | None) -> ModelData:
    """The weights of a Keras 3 ``export()`` SavedModel (``variables/N``, in the model's variable order) in the
    architecture of ``template`` (the model ``like`` names).

    Raises:
        NeedsKeras: a tf_keras SavedModel (``keras_metadata.pb``), which tf_keras loads.
        UsageError: no ``like``, or the variables do not fit its architecture.
    """
    from convkit.keras_model.data import NeedsKeras, Weight
    from convkit.keras_model.weights import (
        check_fit,
        check_same_count,
        needs_like,
        with_weights,
        without_seed_states,
    )

    if has_keras_metadata(path):
        raise NeedsKeras(f"{path}: a tf_keras SavedModel loads in tf_keras", generation=2)
    if template is None or like is None:
        raise needs_like(path, "a SavedModel without a Keras config")
    model = template()
    prefix = Path(path) / VARIABLES_PREFIX
    if not tensor_bundle.index_path(prefix).is_file():
        raise ReadError(f"{path}: SavedModel has no variables/variables.index")
    numbered = {}
    for entry in tensor_bundle.read_index(prefix).entries:
        match = re.match(r"^variables/(\d+)/\.ATTRIBUTES/VARIABLE_VALUE$", entry.key)
        if match:
            numbered[int(match.group(1))] = Weight(entry.key, tuple(entry.shape), entry.dtype,
                                                   functools.partial(tensor_bundle.read_tensor, prefix, entry.key))
    expected = [weight for items in model.layer_weights.values() for weight in items]
    found = without_seed_states([numbered[number] for number in sorted(numbered)], expected)
    if not found:
        raise UsageError(f"{path}: SavedModel lists no model variables (variables/N) convkit can map")
    check_same_count(len(found), len(expected), "variables", "weights", path, like)
    layer_weights: dict[str, list[Weight]] = {name: [] for name in model.layer_weights}
    position = 0
    for layer_name, items in model.layer_weights.items():
        for want in items:
            got = found[position]
            position += 1
            check_fit(want, got, layer_name, path, like)
            layer_weights[layer_name].append(Weight(want.name, want.shape, got.dtype, got.read, want.trainable))
    return with_weights(model, layer_weights)


register_format(Format(
    name="savedmodel",
    description="TensorFlow SavedModel directory",
    accept=_safe_accept,
    inspect=inspect,
    extensions=(),  # a directory, recognised by its saved_model.pb
    title="SavedModel",
    configs=configs,
    graph=read_saved_model,
    inference_graph=inference_graph,
    reader="convkit.formats.savedmodel:read",
    writer="convkit.convert.writers.savedmodel:write",
    write_options=WriteOptions(input_shapes=True, graphs=True),
    runner="convkit.runtimes.tensorflow:open_savedmodel",
    signatures=signature_keys,
    default_output=lambda parent, name: parent / f"{name}_savedmodel",
    graph_extractor="convkit.graph.tf:from_savedmodel",
))
