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


def _folder(path: Path) -> Path:
    path = Path(path)
    return path.parent if path.name in (GRAPH_FILE, MANIFEST_FILE) else path


def accept(path: Path) -> bool:
    """A folder holding ``tensorflowjs_model.pb`` and ``weights_manifest.json``, or one of those files."""
    try:
        folder = _folder(path)
        return folder.is_dir() and (folder / GRAPH_FILE).is_file() and (folder / MANIFEST_FILE).is_file()
    except OSError:
        return False


def _graph(path: Path) -> tuple[Any, list[dict[str, Any]]]:
    from convkit.formats import tfjs
    from convkit.graph_model import analysis, messages
    from convkit.graph_model.tfjs import restore_function_names

    folder = _folder(path)
    manifest = limits.read_json(folder / MANIFEST_FILE, "TF.js weights manifest")
    tfjs.check_manifest(manifest, folder / MANIFEST_FILE)
    assert isinstance(manifest, list)
    graph_def = messages.read_graph_def(folder / GRAPH_FILE, "TF.js GraphDef")
    restore_function_names(graph_def)
    analysis.check_structure(graph_def, folder / GRAPH_FILE, "graph model")
    return graph_def, manifest


def policy_graph(path: Path) -> Any:
    from convkit.graph_model.messages import saved_model_wrapping

    return saved_model_wrapping(_graph(path)[0])


def inspect(path: Path, *, weights: bool = False, **_options: Any) -> Any:
    """Describes the TF.js 0.x model at ``path`` without TensorFlow (weights from the manifest).

    Args:
        path: the model folder (or one of its two files).
        weights: dequantize every weight and add statistics. Default False.
    """
    from convkit.formats import _report, tfjs
    from convkit.graph_model.messages import saved_model_wrapping
    from convkit.graph_model.model import describe_graph

    folder = _folder(path)
    graph_def, manifest = _graph(path)
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
    """The model as a conversion source: it converts as a graph (:func:`convkit.formats.tfjs.graph.read_legacy_model`)."""
    return GraphSource(_folder(path), "convkit.formats.tfjs.graph:read_legacy_model", "a TF.js 0.x graph model")


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
