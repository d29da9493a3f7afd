"""ONNX straight from a Keras model's config and weights, without TensorFlow.

The second ONNX writer (the first is tf2onnx over a traced TensorFlow
function): :func:`build` walks a :class:`~convkit.keras_model.data.ModelData`
(Keras 2 dialect config + lazily read weights) layer by layer and makes the
ONNX graph, each Keras layer the few ONNX nodes that compute it; :func:`write`
then streams the graph and its weights to an ``.onnx`` file, one weight in
memory at a time. A model with a layer or setting this writer has no exact
form for raises :class:`Uncovered` from :func:`build`, before anything is
read or written, naming the layer; the convert route then takes tf2onnx.

Channels-last models keep their ``NHWC`` inputs and outputs; inside, the graph
runs channels-first (``NCHW``, what onnxruntime's convolutions want), with a
transpose where the layout changes, not one per layer (``graph.py``).

Modules: ``graph`` (the graph under construction, tensor layouts),
``topology`` (walks Functional/Sequential/nested models), ``converters``
(what a layer converter gets, the table of converters), one module per layer
family (``core``, ``activations``, ``convolution``, ``pooling``,
``normalization``, ``reshaping``, ``merging``, ``recurrent``, ``attention``,
``operations``), ``fusion`` (batch normalisation folded into convolutions)
and ``protobuf`` (the file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convkit.convert.writers.onnx_native import (  # noqa: F401  (each family module registers its converters)
    activations,
    attention,
    convolution,
    core,
    merging,
    normalization,
    operations,
    pooling,
    recurrent,
    reshaping,
)
from convkit.convert.writers.onnx_native.fusion import fold_batch_norms
from convkit.convert.writers.onnx_native.graph import GraphBuilder, Uncovered
from convkit.convert.writers.onnx_native.protobuf import WrittenModel, write_model
from convkit.convert.writers.onnx_native.topology import ModelGraph
from convkit.keras_model.data import ModelData
from convkit.progress import Progress

# LayerNormalization is an operator from opset 17; below it, and for HardSwish below 14, the writer
# spells the same computation out.
OPSETS = range(13, 19)
DEFAULT_OPSET = 17

__all__ = ["DEFAULT_OPSET", "OPSETS", "NativeGraph", "Uncovered", "WrittenModel", "build", "write"]


@dataclass(frozen=True)
class NativeGraph:
    """A model's ONNX graph, built; its weights are read when it is written.

    Attributes:
        builder: nodes, inputs, outputs and deferred initializers.
        name: the graph's name (the Keras model's).
    """

    builder: GraphBuilder
    name: str

    def write(self, target: Path, *, producer: str = "convkit 0", external_data_bytes: int | None = None,
              progress: Progress | None = None) -> WrittenModel:
        """Writes the model at ``target`` (see :func:`write`)."""
        return write_model(self.builder, Path(target), producer=producer, graph_name=self.name,
                           external_data_bytes=external_data_bytes, progress=progress)


def build(model: ModelData, opset: int = DEFAULT_OPSET) -> NativeGraph:
    """The ONNX graph of ``model``, its weights not yet read.

    Raises:
        Uncovered: the first layer (or setting) without an exact ONNX form here.
    """
    if opset not in OPSETS:
        raise ValueError(f"opset {opset} is outside {OPSETS.start}..{OPSETS.stop - 1}")
    builder = GraphBuilder(opset)
    ModelGraph(model, builder).build()
    fold_batch_norms(builder)
    return NativeGraph(builder, str((model.config.get("config") or {}).get("name") or "model"))


def write(model: ModelData, target: Path, *, opset: int = DEFAULT_OPSET, producer: str = "convkit 0",
          external_data_bytes: int | None = None, progress: Progress | None = None) -> WrittenModel:
    """Writes ``model`` as an ONNX model at ``target``.

    Args:
        model: the Keras model.
        target: the ``.onnx`` file (does not exist yet); weights past ``external_data_bytes`` go
            to ``target`` + ``.data`` beside it.
        opset: the ``ai.onnx`` opset, 13 to 18; default 17.
        producer: ``producer_name version`` written into the file.
        external_data_bytes: weight bytes past which they are written as external data; default
            ``protobuf.EXTERNAL_DATA_BYTES``, just under the 1 GiB convkit reads an ONNX protobuf up to.
        progress: told ``writing`` with bytes done and total.

    Raises:
        Uncovered: as :func:`build`.
    """
    return build(model, opset).write(target, producer=producer, external_data_bytes=external_data_bytes,
                                     progress=progress)
