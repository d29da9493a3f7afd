"""TF1 checkpoints with their graph: ``PREFIX.meta`` beside ``PREFIX.index`` and ``PREFIX.data-*``.

``tf.compat.v1.train.Saver().save(sess, prefix)`` writes the variables as a
checkpoint (see :mod:`convkit.formats.checkpoint`) and the graph that uses them
as ``PREFIX.meta``: a ``MetaGraphDef`` holding the ``GraphDef``, the saver's
settings (``saver_def``: its filename, save and restore ops), named collections
(``trainable_variables``, ``train_op``, ...) and sometimes signatures.

Recognised from any path naming the checkpoint (the prefix, ``.index``, ``.meta``,
a data shard, a folder with a ``checkpoint`` state file) when the ``.meta`` is
there. Converted as a graph: the variables frozen into constants, inputs and outputs
from a signature, else inferred, else ``--inputs``/``--outputs``. With ``--like MODEL``
the variables are mapped into a Keras architecture instead, as for any checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convkit.errors import ReadError
from convkit.formats import _report
from convkit.graph_model.model import GraphSource
from convkit.policy.graph_ops import risky_ops
from convkit.registry import Format, register_format

META_SUFFIX = ".meta"


@dataclass(frozen=True)
class MetaGraphReport(_report.ReportBase):
    """What ``convkit inspect`` shows for a TF1 checkpoint with its MetaGraph."""

    format: str
    path: str
    kind: str
    prefix: str
    meta_info: dict[str, Any]
    summary: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    signatures: list[dict[str, Any]]
    saver: dict[str, Any] | None
    collections: list[dict[str, Any]]
    variables: list[dict[str, Any]]
    ops: dict[str, int]
    function_ops: dict[str, int]
    functions: list[dict[str, Any]]
    constants: list[dict[str, Any]]
    risky_ops: list[dict[str, Any]]
    verify: dict[str, Any] | None = None


def meta_prefix(path: Path) -> Path | None:
    """The checkpoint prefix whose ``PREFIX.meta`` sits beside it, for any path naming the checkpoint; else None.

    ``path`` may be ``PREFIX.meta`` itself, the prefix, its ``.index`` or a data shard, or a folder whose
    ``checkpoint`` state file (or single ``.index``) names it. Never raises.
    """
    from convkit.formats import checkpoint  # here: "ckpt" registers after this format, which shares its files

    path = Path(path)
    try:
        if path.name.endswith(META_SUFFIX) and path.is_file():
            prefix = path.with_name(path.name[: -len(META_SUFFIX)])
        else:
            prefix = checkpoint.resolve_prefix(path)
        return prefix if prefix.with_name(prefix.name + META_SUFFIX).is_file() else None
    except (ReadError, OSError, ValueError):
        return None


def accept(path: Path) -> bool:
    """A checkpoint (prefix, ``.index``, ``.meta``, shard or folder) with its ``PREFIX.meta`` beside it."""
    try:
        return meta_prefix(Path(path)) is not None
    except Exception:  # sniffing never raises
        return False


def read_meta(path: Path) -> tuple[Path, Path, Any]:
    """The checkpoint's prefix, its ``.meta`` file and the MetaGraph read from it (structure checked)."""
    from convkit.graph_model import analysis
    from convkit.graph_model.freeze import read_meta_graph

    prefix = meta_prefix(Path(path))
    if prefix is None:
        raise ReadError(f"{path}: no PREFIX.meta MetaGraph beside this checkpoint")
    meta = prefix.with_name(prefix.name + META_SUFFIX)
    meta_graph = read_meta_graph(meta)
    analysis.check_structure(meta_graph.graph_def, meta, "MetaGraph")
    return prefix, meta, meta_graph


def policy_graph(path: Path) -> Any:
    """The MetaGraph (its saver kept, so that the saver's own checkpoint ops count as plumbing) for the op scan."""
    from convkit.graph_model.messages import saved_model_wrapping

    return saved_model_wrapping(meta_graph=read_meta(path)[2])


def _collections(meta_graph: Any) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(meta_graph.collection_def):
        collection = meta_graph.collection_def[name]
        kind = collection.WhichOneof("kind") or "empty"
        values = getattr(collection, kind).value if kind != "empty" else []
        row: dict[str, Any] = {"name": name, "kind": kind, "items": len(values)}
        if kind == "node_list":
            row["first"] = list(values[:5])
        rows.append(row)
    return rows


def _signatures(meta_graph: Any, path: Path) -> list[dict[str, Any]]:
    from convkit.graph_model.freeze import signature_infos

    rows = []
    for key in sorted(meta_graph.signature_def):
        inputs, outputs = signature_infos(meta_graph, key, path)
        rows.append({"key": key, "method": meta_graph.signature_def[key].method_name,
                     "inputs": [info.to_dict() for info in inputs], "outputs": [info.to_dict() for info in outputs]})
    return rows


def inspect(path: Path, *, weights: bool = False, verify_crc: bool = False, **_options: Any) -> MetaGraphReport:
    """Describes the MetaGraph and its checkpoint at ``path`` without TensorFlow.

    Args:
        path: the checkpoint prefix, ``.meta``, ``.index``, a data shard or a folder naming it.
        weights: add per-constant statistics. Default False.
        verify_crc: recompute the CRC32C of every variable's bytes. Default False.
    """
    from convkit.containers.tensor_bundle import check_crc32c
    from convkit.graph_model.freeze import saver_scope, signature_infos, variables
    from convkit.graph_model.messages import saved_model_wrapping
    from convkit.graph_model.model import describe_graph

    prefix, meta, meta_graph = read_meta(path)
    graph_def = meta_graph.graph_def
    signature_inputs, signature_outputs = signature_infos(meta_graph, None, meta) \
        if len(meta_graph.signature_def) <= 1 or "serving_default" in meta_graph.signature_def else ([], [])
    from convkit.formats import checkpoint

    index = checkpoint.read_index(prefix)
    stored = {entry.key: entry for entry in index.entries}
    variable_rows = variables(graph_def, meta)
    for row in variable_rows:
        entry = stored.get(row["checkpoint_key"])
        row["in_checkpoint"] = entry is not None
        row["checkpoint_shape"] = list(entry.shape) if entry is not None else None
    described = describe_graph(graph_def, meta, weights=weights, signature_inputs=signature_inputs,
                               signature_outputs=signature_outputs, skip_scopes=saver_scope(meta_graph))
    summary = described.pop("summary")
    summary["variables"] = len(variable_rows)
    summary["variables_missing"] = sum(1 for row in variable_rows if not row["in_checkpoint"])
    summary["variable_parameters"] = sum(_report.count(row["checkpoint_shape"]) for row in variable_rows
                                         if row["checkpoint_shape"] is not None)
    summary["checkpoint_tensors"] = len(index.entries)
    info = meta_graph.meta_info_def
    saver = None
    if meta_graph.HasField("saver_def"):
        saver_def = meta_graph.saver_def
        saver = {"filename_tensor": saver_def.filename_tensor_name, "save_tensor": saver_def.save_tensor_name,
                 "restore_op": saver_def.restore_op_name, "max_to_keep": saver_def.max_to_keep,
                 "sharded": saver_def.sharded, "version": saver_def.version}
    return MetaGraphReport(
        format="metagraph", path=str(path), kind="tf1-checkpoint", prefix=str(prefix),
        meta_info={"tags": list(info.tags), "tensorflow_version": info.tensorflow_version,
                   "tensorflow_git_version": info.tensorflow_git_version, "meta_graph_version": info.meta_graph_version,
                   "stripped_ops": len(info.stripped_op_list.op)},
        summary=summary, signatures=_signatures(meta_graph, meta), saver=saver,
        collections=_collections(meta_graph), variables=variable_rows,
        risky_ops=[found.to_dict() for found in risky_ops(saved_model_wrapping(meta_graph=meta_graph))],
        verify=check_crc32c(index) if verify_crc else None,
        **described,
    )


def read_graph(path: Path, *, inputs: Any = (), outputs: Any = (), signature: str | None = None,
               **_options: Any) -> Any:
    """The TF1 checkpoint at ``path`` as a ``GraphModel``: its MetaGraph with every variable frozen from the
    checkpoint, without TensorFlow.

    Raises:
        ReadError: no ``.meta`` beside the checkpoint, a malformed graph, a variable missing from the checkpoint.
    """
    from convkit.graph_model.freeze import frozen_model

    prefix, meta, meta_graph = read_meta(path)
    return frozen_model(meta_graph, prefix, meta, origin="TF1 checkpoint with its MetaGraph", inputs=inputs,
                        outputs=outputs, signature=signature)


def inference_graph(path: Path, like: Path | None) -> GraphSource | None:
    """The checkpoint as its graph; None with ``like``, which maps its variables into a Keras architecture."""
    if like is not None:
        return None
    return GraphSource(Path(path), "convkit.formats.metagraph:read_graph", "a TF1 checkpoint with its MetaGraph")


register_format(Format(
    name="metagraph",
    description="TF1 checkpoint with its MetaGraph (.meta + .index + .data)",
    accept=accept,
    inspect=inspect,
    extensions=(".meta", ".ckpt"),
    title="TF1 checkpoint",
    graph=policy_graph,
    reader="convkit.formats.checkpoint:read",
    inference_graph=inference_graph,
    runner="convkit.runtimes.graph:open_graph",
    runtime_title="TensorFlow",
    default_output=lambda parent, name: parent / f"{name}_ckpt" / "ckpt",
    graph_extractor="convkit.graph.tf:from_metagraph",
))
