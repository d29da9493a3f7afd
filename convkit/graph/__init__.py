"""Pictures and metrics of a model: one format-neutral graph, read from every format without TensorFlow.

- ``model``: the graph (nodes, edges with shapes and dtypes, groups, weights);
- one extractor per format family, named by each format's registry record
  (``graph_extractor``): ``keras`` (layer graphs from Keras configs, shape rules in
  ``keras_layers``), ``tf`` (GraphDef op graphs of SavedModels and TF.js graph models,
  shape rules in ``tf_shapes``), ``onnx``, ``tflite``, ``checkpoint`` (object graphs);
- ``macs``: which operations count multiply-accumulates and how; ``metrics``: the
  per-node table and the weight statistics;
- ``collapse``: which groups a big graph draws closed; ``draw``: SVG, HTML and PNG
  (``dot.js``, ``layout.mjs``, ``page.html``, ``viewer.js``; ``screenshot`` for PNG).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.graph.model import Graph

LEVELS = ("auto", "layers", "ops")


def extract(path: str | Path, format: str | None = None, *, level: str = "auto",
            report: dict[str, Any] | None = None) -> Graph:
    """The graph of the model at ``path``, read by its format's extractor.

    Args:
        path: any model file or folder convkit reads.
        format: a registry name; default None detects it from content.
        level: ``auto`` (Keras layers where the file holds a Keras config, else ops), ``layers`` or ``ops``.
        report: the file's inspect report (``inspect(path).to_dict()``) when the caller already has it, so that
            the file is not read twice; default None: the extractor reads what it needs.

    Raises:
        DetectionError: no format recognises ``path``.
        ReadError: the file cannot be read, or holds no graph at that level.
    """
    from convkit.errors import ReadError
    from convkit.registry import detect, get_format

    path = Path(path)
    fmt = get_format(format) if format else detect(path)
    extractor = fmt.resolve("graph_extractor")
    if extractor is None:
        raise ReadError(f"{path}: convkit cannot draw {fmt.name} files")
    graph: Graph = extractor(path, level=level, report=report)
    return graph
