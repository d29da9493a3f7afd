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
from typing import TYPE_CHECKING, Any, Callable, Sequence

from convkit._tf import import_tensorflow
from convkit.errors import ReadError, RunError, UsageError, error_text
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
        input_batches: per input, the batch size the output fixes (``--input-shape``); None: open.
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
    input_batches: list[int | None] | None = None

    def specs(self, batch: int | None = None) -> list[Any]:
        """``tf.TensorSpec`` per input, batch dimension ``batch`` (``None``: the input's own, open by default)."""
        import tensorflow as tf

        batches = self.input_batches or [None] * len(self.input_names)
        return [tf.TensorSpec((batch if batch is not None else own, *shape), dtype, name=name)
                for name, shape, dtype, own in zip(self.input_names, self.input_shapes, self.input_dtypes, batches)]

    def reshaped(self, shapes: Sequence[tuple[str, tuple[int | None, ...]]], source: Path) -> Serving:
        """This serving with the inputs' shapes ``shapes`` gives (``(name, dims)``, batch included; name ``""``
        for the only input), where the model leaves them open or agrees.

        Raises:
            UsageError: an unknown input, a rank other than the input's, a dimension the model fixes
                to another size, or a size below 1.
        """
        if not shapes:
            return self
        current = {name: (None, *shape) for name, shape in zip(self.input_names, self.input_shapes)}
        chosen = dict(zip(self.input_names, zip(self.input_batches or [None] * len(self.input_names),
                                                self.input_shapes)))
        for name, dims in shapes:
            if not name:
                if len(self.input_names) != 1:
                    raise UsageError(f"{source}: --input-shape {_dims_text(dims)} names no input, and the model "
                                     f"takes {', '.join(self.input_names)}; give NAME=DIMS")
                name = self.input_names[0]
            if name not in current:
                raise UsageError(f"{source}: --input-shape names {name!r}, which is not an input of the model "
                                 f"(inputs: {', '.join(self.input_names)})")
            model = current[name]
            if len(dims) != len(model):
                raise UsageError(f"{source}: --input-shape {name}={_dims_text(dims)} has rank {len(dims)}, but input "
                                 f"{name!r} has rank {len(model)} ({_dims_text(model)})")
            for axis, (given, fixed) in enumerate(zip(dims, model)):
                if given is not None and given < 1:
                    raise UsageError(f"{source}: --input-shape {name}={_dims_text(dims)}: dimension {axis} must be "
                                     "at least 1, or -1/? for an open one")
                if given is not None and fixed is not None and given != fixed:
                    raise UsageError(f"{source}: --input-shape {name}={_dims_text(dims)}: dimension {axis} of input "
                                     f"{name!r} is {fixed} in the model ({_dims_text(model)})")
            chosen[name] = (dims[0], tuple(dims[1:]))
        # Reshaped, the function is no longer the signature as saved: converters trace it, not the folder.
        return dataclasses.replace(self, saved_model=None, input_batches=[chosen[name][0] for name in self.input_names],
                                   input_shapes=[chosen[name][1] for name in self.input_names])

    def function(self, batch: int | None = None) -> Any:
        """A ``tf.function`` over :meth:`specs` returning ``{output name: tensor}``."""
        import tensorflow as tf

        names = list(self.output_names)
        call = self.call

        @tf.function(input_signature=self.specs(batch))
        def serve(*inputs: Any) -> dict[str, Any]:
            return dict(zip(names, call(list(inputs))))

        return serve


def _dims_text(dims: Sequence[int | None]) -> str:
    return "x".join("?" if dim is None else str(dim) for dim in dims)


def parse_input_shape(text: str) -> tuple[str, tuple[int | None, ...]]:
    """``image=1x28x28x1`` (or ``1,28,28,1``; ``-1`` or ``?`` for an open dimension; no ``NAME=`` for a
    model's only input) as ``("image", (1, 28, 28, 1))``.

    Raises:
        UsageError: not NAME=DIMS with whole numbers, ``-1`` or ``?``.
    """
    name, _, dims = text.rpartition("=")
    parts = [part.strip() for part in re.split(r"[x,]", dims.strip().strip("[]()")) if part.strip()]
    try:
        if not parts:
            raise ValueError
        parsed = tuple(None if part in ("?", "-1", "None") else int(part) for part in parts)
    except ValueError:
        raise UsageError(f"--input-shape takes NAME=DIMS such as image=1x28x28x1 or image=-1,224,224,3 "
                         f"(-1 or ? for an open dimension), not {text!r}") from None
    return name.strip(), parsed


def save_serving(serving: Serving, target: Path) -> None:
    """A SavedModel at ``target`` whose ``serving_default`` signature is ``serving``'s function, with its input
    specs: the way to write shapes other than the model's own."""
    import tensorflow as tf

    function = serving.function().get_concrete_function()
    if serving.origin == "tf_keras":
        from convkit.runtimes.keras.tf_keras import save_keras_savedmodel

        save_keras_savedmodel(serving.owner, target, function)
    elif serving.origin == "Keras 3":
        from convkit.runtimes.keras.keras3 import export_inference

        export_inference(serving.owner, target, serving.specs())
    else:
        tf.saved_model.save(serving.owner, str(target), signatures={"serving_default": function})


def save_inference(serving: Serving, target: Path) -> None:
    """A SavedModel holding ``serving``'s function as ``serving_default`` and the variables it reads, nothing else:
    what a graph converter reads. A Keras SavedModel also traces each layer's own functions so that Keras can load
    it back (on EfficientNetB0's 240 layers, 25 s of a 33 s conversion to a TF.js graph), and a converter reads
    none of them."""
    import tensorflow as tf

    function = serving.function().get_concrete_function()
    tf.saved_model.save(variable_holder(function), str(target), signatures={"serving_default": function})


def variable_holder(function: Any) -> Any:
    """A trackable object holding the variables a concrete function reads, and nothing else: what a SavedModel
    of that function needs (the model itself would bring every layer's functions along)."""
    import tensorflow as tf

    holder = tf.Module()
    holder.read_variables = list(function.variables)
    return holder


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
    """The conversion's source as a named function with the request's input shapes, and a builder of its
    unrolled form (None without recurrent layers): a source that converts as a graph through the graph, a
    SavedModel without a Keras config through its own signature (or the one ``--signature`` names, for a
    SavedModel with Keras layers too), a Keras source built live."""
    from convkit.convert.writers.graph import graph_model

    source, request = conversion.source, conversion.request
    shapes = request.input_shapes
    graph = graph_model(conversion, notes)
    if graph is not None:
        return from_graph(graph).reshaped(shapes, request.src), None
    if request.signature is not None:
        serving = from_saved_model(source.path, request.signature)
        others = sorted(set(serving.owner.signatures) - {request.signature})
        if others:
            notes.warn(f"converted signature {request.signature!r}; the source's other signatures "
                       f"({', '.join(others)}) are not in the output")
        return serving.reshaped(shapes, request.src), None
    if isinstance(source.graph, PlainSavedModel):
        return from_saved_model(source.path).reshaped(shapes, request.src), None
    keras_config = keras_model_config(source.path)
    if keras_config is not None and not _recurrent(keras_config):
        return from_saved_model(source.path).reshaped(shapes, request.src), None
    model = source.model()
    notes.optimizer(model, carried=False)
    if not recurrent_layers(model):
        return from_model(model, request.src, request.allow_unsafe).reshaped(shapes, request.src), None

    def unrolled_model() -> Serving:
        return from_model(unrolled(model), request.src, request.allow_unsafe).reshaped(shapes, request.src)

    return from_model(model, request.src, request.allow_unsafe).reshaped(shapes, request.src), unrolled_model
