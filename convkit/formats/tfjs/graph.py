"""A TF.js graph model read as a TensorFlow graph: its topology rebuilt as a GraphDef, its weights put back.

The rebuild itself (stripped constants filled, quantized weights dequantized,
TF.js-only and fused ops undone, function constants renamed back) is
:mod:`convkit.graph_model.tfjs`; this module reads ``model.json`` and its shards
for it, and the pre-1.0 layout for :mod:`convkit.formats.tfjs_pb`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.errors import ReadError
from convkit.graph_model.model import GraphModel
from convkit.graph_model.tfjs import graph_def_from_json, rebuild


def _manifest_quantization(manifest: list[dict[str, Any]]) -> str | None:
    found = {str(weight["quantization"].get("dtype")) for group in manifest for weight in group["weights"]
             if isinstance(weight.get("quantization"), dict)}
    return ", ".join(sorted(found)) or None


def read(path: Path, *, inputs: Any = (), outputs: Any = (), **_options: Any) -> GraphModel:
    """The TF.js graph model at ``path`` (``model.json`` or its folder) as a ``GraphModel``.

    Raises:
        ReadError: not a graph model, a malformed topology or manifest, a missing or truncated shard.
    """
    from convkit.formats import tfjs

    model_json = tfjs.model_json_path(Path(path))
    document = tfjs.read_model_json(model_json)
    if not tfjs.document_is_graph_model(document):
        raise ReadError(f"{model_json}: is a TF.js layers model, not a graph model")
    graph_def = graph_def_from_json(document.get("modelTopology"), model_json)
    manifest = document.get("weightsManifest", [])
    weights = dict(tfjs.iter_manifest_weights(model_json, manifest))
    return rebuild(graph_def, weights, model_json, signature=document.get("signature"), origin="TF.js graph model",
                   quantization=_manifest_quantization(manifest), inputs=inputs, outputs=outputs)


LEGACY_GRAPH = "tensorflowjs_model.pb"
LEGACY_MANIFEST = "weights_manifest.json"


def read_legacy_model(path: Path, *, inputs: Any = (), outputs: Any = (), **_options: Any) -> GraphModel:
    """The pre-1.0 TF.js model at ``path`` (its folder or ``tensorflowjs_model.pb``) as a ``GraphModel``.

    Raises:
        ReadError: a missing or malformed graph or manifest, a missing or truncated shard.
    """
    from convkit.containers import limits
    from convkit.formats import tfjs
    from convkit.graph_model import messages

    folder = Path(path).parent if Path(path).is_file() else Path(path)
    manifest_file = folder / LEGACY_MANIFEST
    manifest = limits.read_json(manifest_file, "TF.js weights manifest")
    tfjs.check_manifest(manifest, manifest_file)
    assert isinstance(manifest, list)
    graph_def = messages.read_graph_def(folder / LEGACY_GRAPH, "TF.js GraphDef")
    weights = dict(tfjs.iter_manifest_weights(manifest_file, manifest))
    return rebuild(graph_def, weights, folder / LEGACY_GRAPH, signature=None, origin="TF.js 0.x graph model",
                   quantization=_manifest_quantization(manifest), inputs=inputs, outputs=outputs)
