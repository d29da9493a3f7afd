"""A ``GraphModel`` made live in TensorFlow: its GraphDef imported into a graph and wrapped as a function.

The one module of :mod:`convkit.graphdef` that imports TensorFlow. The graph is
imported as data (``import_graph_def`` inside ``wrap_function``) and pruned to
the model's inputs and outputs; it runs only when the function is called, after
the safety policy has scanned its ops. Both engines use it: ``convert`` to write
SavedModels, ONNX and TFLite files from a graph, ``check`` to run frozen graphs and
MetaGraphs.

TF2 SavedModels, whose variables live in an object graph of functions, are
frozen here too (``convert_variables_to_constants_v2`` of the chosen signature).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from convkit._tf import quiet_tensorflow
from convkit.errors import ReadError, UsageError, error_text
from convkit.graphdef.model import GraphModel, TensorInfo, choose_io

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
        from convkit.graphdef.loops import has_loops, raise_loops

        if has_loops(graph_def):
            graph_def, _raised = raise_loops(graph_def)
    return graph_def


def _rename_functions(graph_def: Any) -> None:
    import hashlib

    from convkit.graphdef.analysis import all_nodes

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
            read only those: :mod:`convkit.graphdef.loops`). Default False.

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


def write_saved_model(model: GraphModel, target: Path) -> None:
    """A TF2 SavedModel of ``model`` at ``target``: one ``serving_default`` signature named as the graph names
    its inputs and outputs, the weights inside the function as constants.

    Raises:
        WriteError: TensorFlow cannot save it.
    """
    import tensorflow as tf

    from convkit.errors import WriteError

    # While loops, not TF1-style ones: a function holding those cannot be inlined, which TF.js's converter needs.
    graph = GraphFunction(model, functional_loops=True)
    module = tf.Module()
    module.serve = graph.serving_function()
    try:
        tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve.get_concrete_function()})
    except (ValueError, TypeError, tf.errors.OpError) as error:
        raise WriteError(f"{model.source}: TensorFlow cannot save the graph as a SavedModel "
                         f"({error_text(error, limit=300)})") from None


def freeze_saved_model(directory: Path, meta_graph: Any, *, inputs: Any = (), outputs: Any = (),
                       signature: str | None = None) -> GraphModel:
    """A TF2 SavedModel's signature frozen by TensorFlow into a ``GraphModel`` (signature keys as names).

    Raises:
        ReadError: TensorFlow cannot load it.
        UsageError: ``signature`` names none of its signatures, or it has several and none is the default.
    """
    quiet_tensorflow()
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from convkit.graphdef import messages

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
