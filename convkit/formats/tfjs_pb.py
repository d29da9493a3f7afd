"""TensorFlow.js 0.x graph models: ``tensorflowjs_model.pb`` + ``weights_manifest.json`` + shards.

What ``tensorflowjs_converter`` wrote before TF.js 1.0 (and what many app
repositories still ship): the optimised ``GraphDef`` in binary with every
``Const`` value stripped, the weights manifest as its own JSON file (the list of
``{paths, weights}`` groups that ``model.json`` holds today) and the shards. No
signature: inputs and outputs are inferred, or given with ``--inputs``/``--outputs``.
TF.js 1.0 and later no longer load it; convkit rebuilds it as a TensorFlow graph
(:mod:`convkit.graph_model.tfjs`) and runs it in TensorFlow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.containers import limits
from convkit.graph_model.model import GraphSource
from convkit.policy.graph_ops import risky_ops
from convkit.registry import Format, register_format

GRAPH_FILE = "tensorflowjs_model.pb"
MANIFEST_FILE = "weights_manifest.json"


def model_folder(path: Path) -> Path:
    """The model's folder, from the folder or one of its two files."""
    path = Path(path)
    return path.parent if path.name in (GRAPH_FILE, MANIFEST_FILE) else path


def accept(path: Path) -> bool:
    """A folder holding ``tensorflowjs_model.pb`` and ``weights_manifest.json``, or one of those files."""
    try:
        folder = model_folder(path)
        return folder.is_dir() and (folder / GRAPH_FILE).is_file() and (folder / MANIFEST_FILE).is_file()
    except OSError:
        return False


def read_files(path: Path) -> tuple[Path, Any, list[dict[str, Any]]]:
    """The model's folder, its ``GraphDef`` as stored and its checked weights manifest.

    Raises:
        ReadError: a missing or malformed graph or manifest.
    """
    from convkit.formats import tfjs
    from convkit.graph_model import messages

    folder = model_folder(path)
    manifest = limits.read_json(folder / MANIFEST_FILE, "TF.js weights manifest")
    tfjs.check_manifest(manifest, folder / MANIFEST_FILE)
    assert isinstance(manifest, list)
    return folder, messages.read_graph_def(folder / GRAPH_FILE, "TF.js GraphDef"), manifest


def read_checked_graph(path: Path) -> tuple[Any, list[dict[str, Any]]]:
    """The model's ``GraphDef`` (function constants named back, structure checked) and its weights manifest."""
    from convkit.graph_model import analysis
    from convkit.graph_model.tfjs import restore_function_names

    folder, graph_def, manifest = read_files(path)
    restore_function_names(graph_def)
    analysis.check_structure(graph_def, folder / GRAPH_FILE, "graph model")
    return graph_def, manifest


def read_graph(path: Path, *, inputs: Any = (), outputs: Any = (), **_options: Any) -> Any:
    """The model at ``path`` (its folder or one of its two files) as a ``GraphModel``, rebuilt as TF.js graph
    models are (:func:`convkit.graph_model.tfjs.rebuild`).

    Raises:
        ReadError: a missing or malformed graph or manifest, a missing or truncated shard.
    """
    from convkit.formats import tfjs
    from convkit.formats.tfjs.graph import manifest_quantization
    from convkit.graph_model.tfjs import rebuild

    folder, graph_def, manifest = read_files(path)
    weights = dict(tfjs.iter_manifest_weights(folder / MANIFEST_FILE, manifest))
    return rebuild(graph_def, weights, folder / GRAPH_FILE, signature=None, origin="TF.js 0.x graph model",
                   quantization=manifest_quantization(manifest), inputs=inputs, outputs=outputs)


def policy_graph(path: Path) -> Any:
    from convkit.graph_model.messages import saved_model_wrapping

    return saved_model_wrapping(read_checked_graph(path)[0])


def inspect(path: Path, *, weights: bool = False, **_options: Any) -> Any:
    """Describes the TF.js 0.x model at ``path`` without TensorFlow (weights from the manifest).

    Args:
        path: the model folder (or one of its two files).
        weights: dequantize every weight and add statistics. Default False.
    """
    from convkit.formats import _report, tfjs
    from convkit.graph_model.messages import saved_model_wrapping
    from convkit.graph_model.model import describe_graph

    folder = model_folder(path)
    graph_def, manifest = read_checked_graph(path)
    described = describe_graph(graph_def, folder / GRAPH_FILE)
    rows = [{"name": weight["name"], "dtype": weight.get("dtype", "float32"), "shape": list(weight["shape"]),
             "elements": _report.count(weight["shape"]), "bytes": tfjs.weight_bytes(weight), "function": None,
             "quantization": weight["quantization"].get("dtype") if isinstance(weight.get("quantization"), dict)
             else None}
            for group in manifest for weight in group["weights"]]
    if weights:
        for row, (_name, array) in zip(rows, tfjs.iter_manifest_weights(folder / MANIFEST_FILE, manifest)):
            row["stats"] = _report.tensor_stats(array)
    described["constants"] = rows
    described["summary"]["parameters"] = sum(row["elements"] for row in rows)
    described["summary"]["bytes"] = sum(row["bytes"] or 0 for row in rows)
    described["summary"]["weight_shards"] = sum(len(group["paths"]) for group in manifest)
    return _report.GraphReport(format="tfjs-pb", path=str(path), kind="tfjs-0.x-graph-model",
                       risky_ops=[found.to_dict() for found in risky_ops(saved_model_wrapping(graph_def))],
                       **described)


def inference_graph(path: Path, like: Path | None) -> GraphSource:
    """The model as a conversion source: it converts as a graph (:func:`read_graph`)."""
    return GraphSource(model_folder(path), "convkit.formats.tfjs_pb:read_graph", "a TF.js 0.x graph model")


register_format(Format(
    name="tfjs-pb",
    description="TensorFlow.js 0.x graph model (tensorflowjs_model.pb + weights_manifest.json)",
    accept=accept,
    inspect=inspect,
    extensions=(GRAPH_FILE,),
    title="TF.js 0.x",
    graph=policy_graph,
    no_reader="a TF.js graph model holds TensorFlow ops, no Keras layers",
    inference_graph=inference_graph,
    runner="convkit.runtimes.graph:open_graph",
    runtime_title="TensorFlow",
    graph_extractor="convkit.graph.tf:from_tfjs_legacy",
))
