"""A TF.js graph model read as a TensorFlow graph: its topology rebuilt as a GraphDef, its weights put back.

The rebuild itself (stripped constants filled, quantized weights dequantized,
TF.js-only and fused ops undone, function constants renamed back) is
:mod:`convkit.graph_model.tfjs`; this module reads ``model.json`` and its shards
for it (and :mod:`convkit.formats.tfjs_pb` rebuilds the pre-1.0 layout the same way).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.errors import ReadError
from convkit.graph_model.model import GraphModel
from convkit.graph_model.tfjs import graph_def_from_json, rebuild


def manifest_quantization(manifest: list[dict[str, Any]]) -> str | None:
    """The quantization dtypes a weights manifest names (``uint8, float16``), or None."""
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
                   quantization=manifest_quantization(manifest), inputs=inputs, outputs=outputs)

