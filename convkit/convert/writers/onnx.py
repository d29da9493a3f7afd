"""The ONNX writer: convkit's own from the Keras config where it covers the model, tf2onnx otherwise.

The native writer (:mod:`convkit.convert.writers.onnx_native`) makes the ONNX
graph from the model's config and streams its weights, without TensorFlow.
Where it has no exact form for a layer, for SavedModels without a Keras
config, and for ``--input-shape`` and ``--signature``, tf2onnx (``from_function``)
converts the function of :mod:`convkit.convert.serving`; either way the graph's inputs and
outputs carry the Keras names and the batch dimension stays open. A source that
converts as a graph (a TF.js graph model, a frozen ``.pb``, a TF1 checkpoint)
goes through tf2onnx's GraphDef route instead
(:func:`convkit.convert.writers.graph.write_onnx`), its names kept. Like every
output, the written file is smoke-run in onnxruntime before it is renamed
into place: a file that onnxruntime refuses is an error, not an output.

Two changes on request or need:

- channels first (``--nchw NAME,...``), on the written graph whatever wrote it:
  each named input gets a ``Transpose`` from ``[N, C, H, W]`` to the
  ``[N, H, W, C]`` the model computes in, each named output one the other way,
  and ``metadata_props`` records the axes (``convkit.transposed``), so ``check``
  feeds the copy transposed data and compares it in the source's layout;
- external data: weights past ``protobuf.EXTERNAL_DATA_BYTES`` (a protobuf ends at
  2 GiB, and convkit reads ``.onnx`` files of at most 1 GiB), or any weights on
  request (``--external-data``), go to ``<name>.onnx.data`` beside the model,
  each tensor at a 4 KiB-aligned offset, the form onnxruntime memory-maps: the
  runtime reads them in place, sharing the pages of the file. The native writer
  streams them there; for tf2onnx, the graph is converted with each variable
  read as an input (:func:`lift_variables`), holding no weights, and the inputs
  become initializers written one variable at a time; tf2onnx's GraphDef route
  writes them inline and :func:`move_weights_out` moves them out after.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from convkit._tf import silenced_stderr
from convkit.convert.conversion import Conversion, Notes, Written
from convkit.convert.serving import Serving, serving_of
from convkit.convert.writers import graph, producer
from convkit.convert.writers.onnx_native import protobuf
from convkit.errors import UsageError, VerifyError, WriteError, error_text
from convkit.formats.onnx import TRANSPOSED_KEY, external_tensors
from convkit.graph_model.analysis import node_of
from convkit.graph_model.model import GraphModel


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as an ONNX model; returns ``native-opset-N`` or ``tf2onnx-opset-N``.

    The request's ``route`` forces a writer: ``native`` on a model the native writer does not
    cover is a UsageError naming the layer. Without one, a model it does not cover goes through
    tf2onnx with a warning naming the first layer that sent it there.
    """
    notes = conversion.notes()
    request, source = conversion.request, conversion.source
    model = graph.graph_model(conversion, notes)
    if request.route == "native" and (model is not None or source.graph is not None):
        raise UsageError(f"{request.src}: an inference graph without a Keras config holds no layers for the native "
                         "ONNX writer; use --onnx-route tf2onnx")
    if request.route == "native" and (request.input_shapes or request.signature is not None):
        raise UsageError(f"{request.src}: the native ONNX writer converts the Keras model as it is; "
                         f"{'--input-shape' if request.input_shapes else '--signature'} goes through --onnx-route "
                         "tf2onnx")
    if model is not None:
        _write_graph(conversion, model)
        return _written(conversion, notes, f"tf2onnx-opset-{conversion.opset}")
    if request.route != "tf2onnx" and source.graph is None and not request.input_shapes \
            and request.signature is None:
        written = _write_native(conversion, notes)
        if written is not None:
            return written
    serving, _unrolled = serving_of(conversion, notes)
    external = request.external_data or serving_weight_bytes(serving) > protobuf.EXTERNAL_DATA_BYTES  # one limit for both writers
    with conversion.output() as temp:
        write_onnx(serving, temp, request.src, opset=conversion.opset, external=external)
        _channels_first(temp, request.nchw, request.src)
    return _written(conversion, notes, f"tf2onnx-opset-{conversion.opset}")


def _written(conversion: Conversion, notes: Notes, kind: str) -> Written:
    """The result, with a warning where the weights went to external data beside the model unasked."""
    out = conversion.request.out
    data = out.with_name(out.name + ".data")
    if data.is_file() and not conversion.request.external_data:
        notes.warn(f"the weights ({data.stat().st_size / 1024**3:.2f} GiB) are written as external data to "
                   f"{data.name} beside the model; keep the two files together")
    return notes.written(kind)


def _write_native(conversion: Conversion, notes: Notes) -> Written | None:
    """Writes the Keras source through the native writer; None where it does not cover the model."""
    from convkit.convert.writers import onnx_native

    model = conversion.source.model()
    try:
        onnx_graph = onnx_native.build(model, conversion.opset)
    except onnx_native.Uncovered as error:
        if conversion.request.route == "native":
            raise UsageError(f"{conversion.request.src}: the native ONNX writer does not cover {error}; "
                             "use --onnx-route tf2onnx") from None
        notes.warn(f"the native ONNX writer does not cover {error}; tf2onnx wrote the model")
        return None
    notes.optimizer(model, carried=False)
    with conversion.output() as temp:
        onnx_graph.write(temp, producer=producer(), progress=conversion.say,
                         external_data_bytes=0 if conversion.request.external_data else None)
        _channels_first(temp, conversion.request.nchw, conversion.request.src)
    return _written(conversion, notes, f"native-opset-{conversion.opset}")


def _write_graph(conversion: Conversion, model: GraphModel) -> None:
    """Writes a graph-level source through tf2onnx's GraphDef route."""
    try:
        with conversion.output() as temp:
            graph.write_onnx(model, temp, opset=conversion.opset)
            _channels_first(temp, conversion.request.nchw, conversion.request.src)
            if conversion.request.external_data:
                move_weights_out(temp)
    except VerifyError as error:
        if graph.lowered_tensor_list_loop(model):
            raise WriteError(
                f"{conversion.request.src}: tf2onnx 1.17 cannot convert a TF1-style while loop over TensorLists "
                "into ONNX that onnxruntime loads, and this graph's loops do not follow the pattern convkit raises "
                f"into While ops (nested loops) ({error.reason}); convert the model with --control_flow_v2 or "
                "from its Keras or SavedModel source") from None
        raise


def _channels_first(path: Path, names: tuple[str, ...], source: Path) -> None:
    """Rewrites the ONNX file at ``path`` (its graph; external data stays as written) to take and give the named
    inputs and outputs channels first: ``[N, C, ...]`` for ``[N, ..., C]``.

    Raises:
        UsageError: a name that is neither an input nor an output, or a tensor of rank below 3.
    """
    if not names:
        return
    import onnx

    model = onnx.load_model(str(path), load_external_data=False)
    inputs = [value.name for value in model.graph.input]
    outputs = [value.name for value in model.graph.output]
    ranks = {value.name: len(value.type.tensor_type.shape.dim) for value in [*model.graph.input, *model.graph.output]}
    found = {}
    for name in names:
        if name not in ranks:
            raise UsageError(f"{source}: --nchw names {name!r}, which is neither an input nor an output of the model "
                             f"(inputs: {', '.join(inputs)}; outputs: {', '.join(outputs)})")
        rank = ranks[name]
        if rank < 3:
            raise UsageError(f"{source}: --nchw names {name!r}, which has rank {rank}; channels first applies to "
                             "tensors of rank 3 or more ([N, W, C], [N, H, W, C], [N, D, H, W, C])")
        found[name] = (0, rank - 1, *range(1, rank - 1))
    transpose_io(model, found)
    path.write_bytes(model.SerializeToString())


def serving_weight_bytes(serving: Serving) -> int:
    """Bytes of the variables the serving function reads."""
    function = serving.function().get_concrete_function()
    return sum(int(variable.shape.num_elements() or 0) * variable.dtype.size for variable in function.variables)


def write_onnx(serving: Serving, target: Path, source: Path, *, opset: int, external: bool = False) -> None:
    """Writes ``serving`` as an ONNX model at ``target``.

    Args:
        serving: the model as a named function.
        target: the ``.onnx`` file to write (does not exist yet).
        source: the source path, for messages.
        opset: ONNX opset.
        external: write the weights to ``<target>.data`` beside it. Default False.

    Raises:
        WriteError: tf2onnx cannot convert the model.
    """
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    tf2onnx.logging.set_level(logging.ERROR)
    lifted = lift_variables(serving.function()) if external else None
    try:
        with silenced_stderr(replay=False), _numpy_product_for(tf2onnx.graph):
            if lifted is not None:
                model, _ = tf2onnx.convert.from_graph_def(lifted.graph_def, input_names=lifted.input_names,
                                                          output_names=lifted.output_names, opset=opset,
                                                          tensors_to_rename=lifted.renames)
            else:
                model, storage = tf2onnx.convert.from_function(serving.function(), input_signature=serving.specs(),
                                                               opset=opset, large_model=external)
    except Exception as error:  # tf2onnx raises bare Exceptions, ValueErrors and KeyErrors alike
        raise WriteError(f"{source}: tf2onnx cannot convert this model to ONNX opset {opset} "
                         f"({type(error).__name__}: {error_text(error)})") from None
    if lifted is not None:
        save_variables_external(model, target, lifted.variables)
    elif external:
        save_external(model, target, storage.name_to_tensor_data)
    else:
        target.write_bytes(model.SerializeToString())


@dataclass
class LiftedGraph:
    """A serving function's graph with each variable read as a graph input of its own (``variables``: input
    name -> variable), for tf2onnx to convert without the weights; they are written beside the model after."""

    graph_def: Any
    input_names: list[str]
    output_names: list[str]
    renames: dict[str, str]
    variables: dict[str, Any] = field(default_factory=dict)


def lift_variables(function: Any) -> LiftedGraph | None:
    """The function's graph with every variable read (``ReadVariableOp`` of a captured variable) turned into a
    ``Placeholder`` of the variable's shape: tf2onnx then holds no copy of the weights, which a model over 2 GB
    would need several times over (tf2onnx's own large-model path froze a 2.26 GB Dense stack past 22 GB).
    None when a captured variable is used otherwise (read inside a called function, say): such a graph
    goes through tf2onnx's large-model path.
    """
    import tensorflow as tf

    concrete = function.get_concrete_function()
    variables = {id(variable.handle): variable for variable in concrete.graph.variables}
    captured = {internal.op.name: variables[id(external)] for external, internal in concrete.graph.captures
                if id(external) in variables}
    graph_def = concrete.graph.as_graph_def(add_shapes=True)
    first_read: dict[str, str] = {}
    lifted: dict[str, Any] = {}
    for node in graph_def.node:
        sources = [node_of(name) for name in node.input]
        if not any(name in captured for name in sources):
            continue
        if node.op != "ReadVariableOp":
            return None
        variable = captured[sources[0]]
        dtype = node.attr["dtype"].type
        if sources[0] in first_read:  # a second read of the same variable: the first one's value
            del node.input[:]
            node.input.append(first_read[sources[0]])
            node.op = "Identity"
            node.attr.pop("dtype")
            node.attr["T"].type = dtype
            continue
        first_read[sources[0]] = node.name
        lifted[f"{node.name}:0"] = variable
        del node.input[:]
        node.op = "Placeholder"
        node.attr["shape"].shape.CopyFrom(tf.TensorShape(variable.shape).as_proto())
    kept = [node for node in graph_def.node if node.name not in captured]
    del graph_def.node[:]
    graph_def.node.extend(kept)
    inputs = [tensor.name for tensor in concrete.inputs if tensor.dtype != tf.resource]
    outputs = [tensor.name for tensor in concrete.outputs if tensor.dtype != tf.resource]
    specs = [spec.name for spec in tf.nest.flatten(concrete.structured_input_signature)]
    renames = dict(zip(inputs, specs))
    renames.update({tensor.name: name for name, tensor in concrete.structured_outputs.items()})
    return LiftedGraph(graph_def, inputs + list(lifted), outputs, renames, lifted)


def save_variables_external(model: Any, target: Path, variables: dict[str, Any]) -> None:
    """Makes each graph input that stands for a variable an initializer whose bytes are in ``<target
    name>.data`` beside the model (4 KiB-aligned, one variable in memory at a time), and writes ``model``."""
    import numpy as np
    from onnx import helper

    data_path = target.with_name(target.name + ".data")
    graph = model.graph
    inputs = {value.name: value for value in graph.input}
    with data_path.open("wb") as handle:
        for name, variable in variables.items():
            if name not in inputs:  # tf2onnx found the read unused
                continue
            graph.input.remove(inputs[name])
            values = np.ascontiguousarray(variable.numpy())
            tensor = graph.initializer.add()
            tensor.name = name
            tensor.data_type = helper.np_dtype_to_tensor_dtype(values.dtype)
            tensor.dims.extend(values.shape)
            _append_external(handle, tensor, values)
            del values
    target.write_bytes(model.SerializeToString())


class _NumpyWithProduct:
    """NumPy as tf2onnx 1.17's large-model path expects it: ``numpy.product``, which NumPy 2 removed, as ``prod``."""

    def __getattr__(self, name: str) -> Any:
        import numpy

        return numpy.prod if name == "product" else getattr(numpy, name)


@contextlib.contextmanager
def _numpy_product_for(module: Any) -> Iterator[None]:
    """Scopes :class:`_NumpyWithProduct` to ``module`` (tf2onnx.graph) for one conversion, restored after."""
    original = module.np
    module.np = _NumpyWithProduct()
    try:
        yield
    finally:
        module.np = original


def transpose_io(model: Any, transposed: dict[str, tuple[int, ...]]) -> None:
    """Makes the graph take and give the named tensors transposed by their axes, and records them in
    ``metadata_props`` (``TRANSPOSED_KEY``)."""
    import json

    from onnx import helper

    graph = model.graph
    before: list[Any] = []
    after: list[Any] = []
    for values, is_input in ((graph.input, True), (graph.output, False)):
        for value in values:
            if value.name not in transposed:
                continue
            axes = transposed[value.name]
            inner = f"{value.name}__source_layout"  # the tensor in the layout the model computes in
            for node in graph.node:
                _rename(node.input, value.name, inner)
                if not is_input:
                    _rename(node.output, value.name, inner)
            _permute_dims(value, axes)
            if is_input:
                inverse = [axes.index(axis) for axis in range(len(axes))]
                before.append(helper.make_node("Transpose", [value.name], [inner], name=inner, perm=inverse))
            else:
                after.append(helper.make_node("Transpose", [inner], [value.name], name=f"{value.name}__transposed",
                                              perm=list(axes)))
    nodes = [*before, *graph.node, *after]
    del graph.node[:]
    graph.node.extend(nodes)
    entry = model.metadata_props.add()
    entry.key = TRANSPOSED_KEY
    entry.value = json.dumps({name: list(axes) for name, axes in transposed.items()})


def _rename(names: Any, old: str, new: str) -> None:
    for index, name in enumerate(names):
        if name == old:
            names[index] = new


def _permute_dims(value: Any, axes: tuple[int, ...]) -> None:
    dims = list(value.type.tensor_type.shape.dim)
    copies = [type(dim)() for dim in dims]
    for copy, dim in zip(copies, dims):
        copy.CopyFrom(dim)
    for position, axis in enumerate(axes):
        value.type.tensor_type.shape.dim[position].CopyFrom(copies[axis])


def move_weights_out(target: Path) -> None:
    """Rewrites the ONNX file at ``target`` with each initializer past ``protobuf.SMALL_BYTES`` in
    ``<target name>.data`` beside it, at aligned offsets (for writers that write weights inline)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_model(str(target), load_external_data=False)
    data_path = target.with_name(target.name + ".data")
    with data_path.open("wb") as handle:
        for tensor in model.graph.initializer:
            if tensor.data_location == onnx.TensorProto.EXTERNAL:
                continue
            data = numpy_helper.to_array(tensor)
            if data.nbytes <= protobuf.SMALL_BYTES:
                continue
            for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data",
                          "string_data"):
                tensor.ClearField(field)
            _append_external(handle, tensor, data)
            del data
    target.write_bytes(model.SerializeToString())


def save_external(model: Any, target: Path, tensors: dict[str, bytes]) -> None:
    """Writes ``model`` at ``target`` with its external tensors (tf2onnx keeps their bytes in ``tensors``, keyed
    by location) in one file beside it, ``<target name>.data``, at aligned offsets."""
    data_path = target.with_name(target.name + ".data")
    with data_path.open("wb") as handle:
        for tensor in external_tensors(model.graph):
            if tensor.data_location != 1:  # TensorProto.EXTERNAL
                continue
            entries = {entry.key: entry.value for entry in tensor.external_data}
            data = tensors.pop(entries.get("location", ""), None)
            if data is None:
                raise WriteError(f"{target}: tf2onnx left tensor {tensor.name!r} external without its data")
            _append_external(handle, tensor, data)
    target.write_bytes(model.SerializeToString())


def _append_external(handle: BinaryIO, tensor: Any, data: Any) -> None:
    """Appends ``data`` (bytes, or an array, written without a copy where it is contiguous) to the open external
    data file ``handle`` at its next 4 KiB-aligned offset, and makes ``tensor`` point there (``location`` the
    file's name)."""
    import numpy as np
    from onnx import TensorProto

    handle.write(b"\0" * (-handle.tell() % protobuf.EXTERNAL_ALIGNMENT))
    start = handle.tell()
    raw = data if isinstance(data, bytes) else np.ascontiguousarray(data).reshape(-1).view(np.uint8).data
    length = handle.write(raw)
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", Path(handle.name).name), ("offset", str(start)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
