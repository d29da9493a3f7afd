"""TensorFlow for graph-level models: a ``GraphModel`` imported as data, wrapped as one function, and run.

The graph (a frozen ``.pb``, a TF1 checkpoint's ``.meta`` with its variables
frozen, a TF.js graph model or TF.js 0.x model rebuilt, a TF1 SavedModel) is
rebuilt without TensorFlow by its format (:mod:`convkit.graph_model`), then
imported here (``import_graph_def`` inside ``wrap_function``) and pruned to the
model's inputs and outputs; it runs only when the function is called, after the
safety policy has scanned its ops. The writers of graphs (SavedModel, ONNX,
TFLite) and the runner of ``check`` both use :class:`GraphFunction`.

TF2 SavedModels, whose variables live in an object graph of functions, are
frozen here (``convert_variables_to_constants_v2`` of the chosen signature) when
they convert as graphs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from convkit._tf import quiet_tensorflow
from convkit.errors import ReadError, UsageError, error_text
from convkit.graph_model.model import GraphModel, TensorInfo, choose_io
from convkit.runtimes.base import DEFAULT_BATCH_SIZE, Runner, TensorSpec, in_batches, shape_tuple

_SIGNATURE_NAME = re.compile(r"[^A-Za-z0-9_.\-/]")


def tf_graph_def(model: GraphModel, *, functional_loops: bool = False) -> Any:
    """The model's pruned graph as TensorFlow's own ``GraphDef`` message, its library functions renamed apart.

    TensorFlow keeps one function library per process: two graphs whose functions share a name
    (``__inference_while_body_1`` of two models) but not a body cannot both be imported. Each
    function's name gets a suffix from a digest of the whole graph, the same for the same graph.
    """
    quiet_tensorflow()
    import tensorflow as tf

    pruned = model.pruned()
    if pruned.library.function:
        _rename_functions(pruned)
    graph_def = tf.compat.v1.GraphDef.FromString(pruned.SerializeToString())
    if functional_loops:
        from convkit.graph_model.loops import has_loops, raise_loops

        if has_loops(graph_def):
            graph_def, _raised = raise_loops(graph_def)
    return graph_def


def _rename_functions(graph_def: Any) -> None:
    import hashlib

    from convkit.graph_model.analysis import all_nodes

    digest = hashlib.sha256(graph_def.SerializeToString(deterministic=True)).hexdigest()[:10]
    names = {function.signature.name: f"{function.signature.name}_{digest}" for function in graph_def.library.function}
    for function in graph_def.library.function:
        function.signature.name = names[function.signature.name]
    for gradient in graph_def.library.gradient:
        gradient.function_name = names.get(gradient.function_name, gradient.function_name)
        gradient.gradient_func = names.get(gradient.gradient_func, gradient.gradient_func)
    for _, node in all_nodes(graph_def):
        if node.op in names:
            node.op = names[node.op]
        for value in node.attr.values():
            if value.HasField("func") and value.func.name in names:
                value.func.name = names[value.func.name]
            for function in value.list.func:
                if function.name in names:
                    function.name = names[function.name]


def signature_name(name: str) -> str:
    """``name`` as a SavedModel signature argument name (characters TensorFlow refuses become ``_``)."""
    cleaned = _SIGNATURE_NAME.sub("_", name)
    return cleaned if cleaned[:1].isalnum() else f"t_{cleaned}"


class GraphFunction:
    """The model as a TensorFlow function of its inputs (in order) returning its outputs (in order).

    Attributes:
        model: the ``GraphModel``.
        input_names, output_names: the model's names for them.
        input_shapes: per input, the full shape (batch first), ``None`` where open.
        input_dtypes: per input, a TensorFlow dtype name (read from the imported placeholder).
        function: the pruned concrete function.

    Args:
        model: the graph-level model.
        functional_loops: raise TF1-style while loops into ``While`` ops first (for converters that
            read only those: :mod:`convkit.graph_model.loops`). Default False.

    Raises:
        ReadError: TensorFlow cannot import the graph (an op it lacks, attributes that do not fit).
    """

    def __init__(self, model: GraphModel, *, functional_loops: bool = False) -> None:
        quiet_tensorflow()
        import tensorflow as tf

        self.model = model
        graph_def = tf_graph_def(model, functional_loops=functional_loops)

        def imported() -> None:
            tf.compat.v1.import_graph_def(graph_def, name="")

        try:
            wrapped = tf.compat.v1.wrap_function(imported, [])
            feeds = [wrapped.graph.get_tensor_by_name(info.tensor) for info in model.inputs]
            fetches = [wrapped.graph.get_tensor_by_name(info.tensor) for info in model.outputs]
            self.function = wrapped.prune(feeds, fetches)
        except (ValueError, TypeError, KeyError, tf.errors.OpError) as error:
            raise ReadError(f"{model.source}: TensorFlow cannot import the {model.origin}'s graph "
                            f"({error_text(error, limit=300)})") from None
        self._wrapped = wrapped
        self.input_names = [info.name for info in model.inputs]
        self.output_names = [info.name for info in model.outputs]
        self.input_dtypes = [feed.dtype.name for feed in feeds]
        self.input_shapes = [_shape(info, feed) for info, feed in zip(model.inputs, feeds)]
        self.output_dtypes = [fetch.dtype.name for fetch in fetches]

    def __call__(self, tensors: list[Any]) -> list[Any]:
        return list(self.function(*tensors))

    def specs(self, batch: int | None = None, *, signature_names: bool = False) -> list[Any]:
        """``tf.TensorSpec`` per input; ``batch`` fixes the first dimension where it is open."""
        import tensorflow as tf

        specs = []
        for name, shape, dtype in zip(self.input_names, self.input_shapes, self.input_dtypes):
            dims = list(shape) if shape is not None else None
            if dims and dims[0] is None and batch is not None:
                dims[0] = batch
            specs.append(tf.TensorSpec(dims, dtype, name=signature_name(name) if signature_names else name))
        return specs

    def serving_function(self) -> Any:
        """A ``tf.function`` over the inputs returning ``{output name: tensor}``, for a SavedModel signature."""
        import tensorflow as tf

        names = list(self.output_names)
        call = self.function

        @tf.function(input_signature=self.specs(signature_names=True))
        def serve(*inputs: Any) -> dict[str, Any]:
            return dict(zip(names, call(*inputs)))

        return serve


def _shape(info: TensorInfo, feed: Any) -> tuple[int | None, ...] | None:
    if info.shape is not None:
        return tuple(info.shape)
    if feed.shape.rank is None:
        return None
    return tuple(feed.shape.as_list())


def read_saved_model(path: Path, *, inputs: Any = (), outputs: Any = (), signature: str | None = None,
                     tag: str | None = None, **_options: Any) -> GraphModel:
    """A TF2 SavedModel's signature frozen by TensorFlow into a ``GraphModel`` (signature keys as names).

    Raises:
        ReadError: TensorFlow cannot load it.
        UsageError: ``signature`` names none of its signatures, or it has several and none is the default.
    """
    quiet_tensorflow()
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from convkit.formats.savedmodel import model_dir, read_saved_model as read_message
    from convkit.graph_model import messages
    from convkit.graph_model.freeze import choose_meta_graph

    directory = model_dir(Path(path))
    meta_graph = choose_meta_graph(read_message(directory), tag, directory)
    tags = list(meta_graph.meta_info_def.tags)
    try:
        loaded = tf.saved_model.load(str(directory), tags=tags or None)
    except Exception as error:  # TensorFlow raises many kinds on a file it cannot load
        raise ReadError(f"{directory}: TensorFlow could not load the SavedModel ({error_text(error, limit=300)})") from None
    signatures = dict(loaded.signatures)
    key = signature
    if key is None:
        key = "serving_default" if "serving_default" in signatures else (next(iter(signatures)) if len(signatures) == 1
                                                                         else None)
    if key is None or key not in signatures:
        raise UsageError(f"{directory}: choose a signature with --signature (the SavedModel has "
                         f"{', '.join(sorted(signatures)) or 'none'})")
    function = signatures[key]
    try:
        with quiet_tensorflow():  # grappler's C++ log lines, whatever the log level
            frozen = convert_variables_to_constants_v2(function)
    except (ValueError, TypeError, tf.errors.OpError) as error:
        raise ReadError(f"{directory}: TensorFlow cannot freeze signature {key!r} ({error_text(error, limit=300)})") from None
    _, keyword_specs = function.structured_input_signature
    input_infos = []
    placeholders = [tensor for tensor in frozen.inputs if tensor.dtype != tf.resource]
    # A signature's keyword inputs flatten in key order, and freezing keeps the function's inputs in order.
    for (name, spec), tensor in zip(sorted(keyword_specs.items()), placeholders):
        input_infos.append(TensorInfo(name, tensor.name, spec.dtype.name,
                                      tuple(spec.shape.as_list()) if spec.shape.rank is not None else None))
    output_keys = sorted(function.structured_outputs) if isinstance(function.structured_outputs, dict) else [
        f"output_{index}" for index in range(len(frozen.outputs))]
    output_infos = [TensorInfo(name, tensor.name, tensor.dtype.name,
                               tuple(tensor.shape.as_list()) if tensor.shape.rank is not None else None)
                    for name, tensor in zip(output_keys, frozen.outputs)]
    graph_def = messages.parse(messages.graph_def_class(), frozen.graph.as_graph_def().SerializeToString(),
                               directory, "GraphDef")
    chosen_inputs, chosen_outputs, io_from = choose_io(graph_def, directory, signature_inputs=input_infos,
                                                      signature_outputs=output_infos, inputs=inputs, outputs=outputs)
    return GraphModel(graph_def, chosen_inputs, chosen_outputs, directory, f"SavedModel signature {key}", io_from)


class GraphRunner(Runner):
    """Runs a graph-level model in TensorFlow: the graph its format's ``inference_graph`` reads, as one function.

    Args:
        path: the model file or folder.
        format_name: its registry name.
        batch_size: samples per call. Default 256.
    """

    def __init__(self, path: Path, format_name: str, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(path, format_name)
        self.batch_size = batch_size
        self._graph: Any = None

    def _load(self) -> None:
        import tensorflow as tf

        from convkit.graph_model.model import GraphSource
        from convkit.registry import get_format

        assert self.path is not None
        finder = get_format(self.format_name).inference_graph
        source = finder(self.path, None) if finder is not None else None
        if source is not None and not isinstance(source, GraphSource) and hasattr(source, "as_graph"):
            source = source.as_graph()
        if not isinstance(source, GraphSource):
            raise ReadError(f"{self.path}: holds no TensorFlow graph convkit runs as one")
        model = source.read()
        self._graph = GraphFunction(model)
        self.runtime = f"TF {tf.__version__} graph"
        if "inferred" in model.io_from:
            self.notes.append("inputs and outputs inferred from the graph")
        self._inputs = [TensorSpec(name, shape_tuple(shape), dtype) for name, shape, dtype
                        in zip(self._graph.input_names, self._graph.input_shapes, self._graph.input_dtypes)]
        self._outputs = [TensorSpec(info.name, shape_tuple(info.shape), dtype) for info, dtype
                         in zip(model.outputs, self._graph.output_dtypes)]

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        names = [spec.name for spec in self._inputs]
        dtypes = [spec.dtype for spec in self._inputs]
        output_names = [spec.name for spec in self._outputs]

        def run(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            tensors = [tf.constant(part[name], dtype=dtype) for name, dtype in zip(names, dtypes)]
            return {name: value.numpy() for name, value in zip(output_names, self._graph(tensors))}

        return in_batches(feed, run, self.batch_size)


def open_graph(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool) -> Runner:
    """A graph-level model (frozen ``.pb``, TF1 checkpoint with its ``.meta``, TF.js 0.x) in TensorFlow."""
    from convkit.registry import detect

    return GraphRunner(path, detect(path).name)
