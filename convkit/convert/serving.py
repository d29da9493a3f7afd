"""A model as one TensorFlow function with named inputs and named outputs.

The ONNX and TFLite writers both start from a ``tf.function`` whose input
specs carry the model's input names and whose result is a dict keyed by the
model's output names, so the written file's inputs and outputs are named as
Keras names them (tf2onnx keeps the names as graph inputs/outputs; the TFLite
converter keeps them in the ``serving_default`` signature). The batch
dimension is open by default or fixed to a given size.

A Keras source is built live in tf_keras where it can (its recurrent layers
lower to builtin TFLite ops and its graphs to plain ONNX ops), else in Keras
3; a SavedModel is served through its own signature when it has no Keras
config, or when its Keras config has no recurrent layer to unroll (the
signature computes the model in inference mode already, so nothing is loaded
into Keras and nothing is traced again; converters can read it from disk); a
source that converts as a graph (:mod:`convkit.convert.writers.graph`) through
the graph rebuilt in TensorFlow.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from convkit._tf import import_tensorflow
from convkit.errors import ReadError, RunError, error_text
from convkit.formats.savedmodel import PlainSavedModel, keras_model_config
from convkit.keras_model.config import iter_layers
from convkit.keras_model.data import ModelData
from convkit.profile import stage
from convkit.runtimes.keras.build import build_model

if TYPE_CHECKING:
    from convkit.convert.conversion import Conversion, Notes
    from convkit.graph_model.model import GraphModel


@dataclass
class Serving:
    """What the writers need: a function factory, the names, and the object that owns the variables.

    Attributes:
        input_names, output_names: as the source model names them.
        input_shapes: per input, the dimensions after the batch (``None`` where open).
        input_dtypes: per input, a TensorFlow dtype name.
        call: maps a list of input tensors (in ``input_names`` order) to a list of outputs.
        owner: the live model or loaded SavedModel (keeps the variables alive).
        origin: what runs the model (``tf_keras``, ``Keras 3``, ``SavedModel signature``).
        saved_model: the SavedModel folder when the function is its signature ``signature`` as saved, which
            converters may read from disk; None for a live model.
    """

    input_names: list[str]
    output_names: list[str]
    input_shapes: list[tuple[int | None, ...]]
    input_dtypes: list[str]
    call: Callable[[list[Any]], list[Any]]
    owner: Any
    origin: str
    saved_model: Path | None = None
    signature: str | None = None

    def specs(self, batch: int | None = None) -> list[Any]:
        """``tf.TensorSpec`` per input, batch dimension ``batch`` (``None``: open)."""
        import tensorflow as tf

        return [tf.TensorSpec((batch, *shape), dtype, name=name)
                for name, shape, dtype in zip(self.input_names, self.input_shapes, self.input_dtypes)]

    def function(self, batch: int | None = None) -> Any:
        """A ``tf.function`` over :meth:`specs` returning ``{output name: tensor}``."""
        import tensorflow as tf

        names = list(self.output_names)
        call = self.call

        @tf.function(input_signature=self.specs(batch))
        def serve(*inputs: Any) -> dict[str, Any]:
            return dict(zip(names, call(list(inputs))))

        return serve


def _clean(name: str) -> str:
    return re.sub(r":\d+$", "", str(name))


def _output_names(live: Any) -> list[str]:
    names = getattr(live, "output_names", None)
    if names and len(names) == len(live.outputs):
        return [str(name) for name in names]
    found = [_clean(getattr(t, "name", f"output_{i}")).split("/")[0] for i, t in enumerate(live.outputs)]
    return found if len(set(found)) == len(found) else [f"{name}_{i}" for i, name in enumerate(found)]


def from_live(live: Any, origin: str) -> Serving:
    """A :class:`Serving` of a live Keras model (either generation)."""
    inputs = list(live.inputs)
    single_input = len(inputs) == 1

    def call(tensors: list[Any]) -> list[Any]:
        result = live(tensors[0] if single_input else tensors, training=False)
        return list(result) if isinstance(result, (list, tuple)) else [result]

    return Serving(
        input_names=[_clean(getattr(t, "name", f"input_{i}")) for i, t in enumerate(inputs)],
        output_names=_output_names(live),
        input_shapes=[tuple(None if d is None else int(d) for d in tuple(t.shape)[1:]) for t in inputs],
        input_dtypes=[str(getattr(t.dtype, "name", t.dtype)) for t in inputs],
        call=call,
        owner=live,
        origin=origin,
    )


RECURRENT_CLASSES = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN"})


def recurrent_layers(model: ModelData) -> list[str]:
    """Names of the recurrent layers (nested and wrapped ones included) in ``model``'s architecture."""
    return _recurrent(model.config)


def _recurrent(config: dict[str, Any]) -> list[str]:
    return [(layer.get("config") or {}).get("name", "?") for layer in iter_layers(config)
            if layer.get("class_name") in RECURRENT_CLASSES]


def unrolled(model: ModelData) -> ModelData:
    """``model`` with every recurrent layer set to ``unroll=True`` (same weights; needs a fixed number of steps)."""
    import copy

    config = copy.deepcopy(model.config)
    for layer in iter_layers(config):
        if layer.get("class_name") in RECURRENT_CLASSES and isinstance(layer.get("config"), dict):
            layer["config"]["unroll"] = True
    raw = copy.deepcopy(model.raw_config) if model.raw_config else None
    if raw:
        for layer in iter_layers(raw):
            if layer.get("class_name") in RECURRENT_CLASSES and isinstance(layer.get("config"), dict):
                layer["config"]["unroll"] = True
    return dataclasses.replace(model, config=config, raw_config=raw)


def from_model(model: ModelData, source: Path, allow_unsafe: bool) -> Serving:
    """A :class:`Serving` of a Keras source: tf_keras where it builds the architecture, else Keras 3."""
    import_tensorflow()
    with stage("build"):
        try:
            return from_live(build_model(model, 2, source, allow_unsafe), "tf_keras")
        except ReadError:
            return from_live(build_model(model, 3, source, allow_unsafe), "Keras 3")


def from_saved_model(path: Path, signature: str = "serving_default") -> Serving:
    """A :class:`Serving` of a SavedModel's signature (keyword inputs, named outputs).

    Raises:
        ReadError: TensorFlow cannot load it, or the signature is missing or unnamed.
    """
    tf = import_tensorflow()
    try:
        with stage("build"):
            loaded = tf.saved_model.load(str(path))
    except Exception as error:
        raise RunError(f"{path}: TensorFlow could not load the SavedModel ({error_text(error)})") from None
    signatures = dict(loaded.signatures)
    if signature not in signatures:
        if len(signatures) != 1:
            raise ReadError(f"{path}: the SavedModel has no {signature!r} signature (has {sorted(signatures)})")
        signature = next(iter(signatures))
    function = signatures[signature]
    args, kwargs = function.structured_input_signature
    outputs = function.structured_outputs
    if args or not isinstance(outputs, dict):
        raise ReadError(f"{path}: signature {signature!r} needs named inputs and outputs")
    names = list(kwargs)

    def call(tensors: list[Any]) -> list[Any]:
        result = function(**dict(zip(names, tensors)))
        return [result[name] for name in outputs]

    return Serving(
        input_names=names,
        output_names=list(outputs),
        input_shapes=[tuple(spec.shape.as_list()[1:]) if spec.shape.rank else () for spec in kwargs.values()],
        input_dtypes=[spec.dtype.name for spec in kwargs.values()],
        call=call,
        owner=loaded,
        origin=f"SavedModel signature {signature}",
        saved_model=Path(path),
        signature=signature,
    )


def from_graph(model: GraphModel) -> Serving:
    """A :class:`Serving` of a frozen graph, its while loops functional (the TFLite converter lowers those to
    builtin ops)."""
    import tensorflow as tf

    from convkit.runtimes.graph import GraphFunction

    graph = GraphFunction(model, functional_loops=True)
    owner = tf.Module()  # the TFLite converter writes a signature only for functions of a trackable object
    owner.graph = graph
    return Serving(
        input_names=graph.input_names,
        output_names=graph.output_names,
        input_shapes=[tuple(shape[1:]) if shape else () for shape in graph.input_shapes],
        input_dtypes=graph.input_dtypes,
        call=graph,
        owner=owner,
        origin=model.origin,
    )


def serving_of(conversion: Conversion, notes: Notes) -> tuple[Serving, Callable[[], Serving] | None]:
    """The conversion's source as a named function, and a builder of its unrolled form (None without recurrent
    layers): a source that converts as a graph through the graph, a SavedModel without a Keras config through
    its own signature, a Keras source built live."""
    from convkit.convert.writers.graph import graph_model

    source, request = conversion.source, conversion.request
    graph = graph_model(conversion, notes)
    if graph is not None:
        return from_graph(graph), None
    if isinstance(source.graph, PlainSavedModel):
        return from_saved_model(source.path), None
    keras_config = keras_model_config(source.path)
    if keras_config is not None and not _recurrent(keras_config):
        return from_saved_model(source.path), None
    model = source.model()
    notes.optimizer(model, carried=False)
    if not recurrent_layers(model):
        return from_model(model, request.src, request.allow_unsafe), None

    def unrolled_model() -> Serving:
        return from_model(unrolled(model), request.src, request.allow_unsafe)

    return from_model(model, request.src, request.allow_unsafe), unrolled_model
