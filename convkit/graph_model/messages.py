"""TensorFlow's graph messages read under convkit's limits, and tensors to and from numpy.

The classes are those ``tensorboard.compat.proto`` ships (``GraphDef``,
``MetaGraphDef``, ``NodeDef``, ``TensorProto``, ...): the same wire format as
TensorFlow's own, so bytes parsed here and serialised again load in TensorFlow
unchanged. A ``TensorProto`` is decoded here too (``tensor_content`` or the typed
value lists, a short list repeating its last value as TensorFlow does), with the
element count and byte size checked before anything is allocated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from convkit.containers import limits as _limits
from convkit.containers.protobuf import DTYPE_NAMES
from convkit.errors import ReadError, error_text

# numpy dtype, bytes per element and the TensorProto field holding values, per DataType enum value.
_DTYPES: dict[int, tuple[str, int, str]] = {
    1: ("float32", 4, "float_val"), 2: ("float64", 8, "double_val"), 3: ("int32", 4, "int_val"),
    4: ("uint8", 1, "int_val"), 5: ("int16", 2, "int_val"), 6: ("int8", 1, "int_val"),
    7: ("object", 0, "string_val"), 8: ("complex64", 8, "scomplex_val"), 9: ("int64", 8, "int64_val"),
    10: ("bool", 1, "bool_val"), 14: ("bfloat16", 2, "half_val"), 17: ("uint16", 2, "int_val"),
    18: ("complex128", 16, "dcomplex_val"), 19: ("float16", 2, "half_val"), 22: ("uint32", 4, "uint32_val"),
    23: ("uint64", 8, "uint64_val"),
}
DTYPE_ENUMS = {name: number for number, name in DTYPE_NAMES.items()}
# The same types under the names TF.js manifests and signatures use.
TFJS_DTYPE_ENUMS = {"float32": 1, "int32": 3, "bool": 10, "string": 7, "complex64": 8}


def graph_def_class() -> Any:
    from tensorboard.compat.proto import graph_pb2

    return graph_pb2.GraphDef


def meta_graph_class() -> Any:
    from tensorboard.compat.proto import meta_graph_pb2

    return meta_graph_pb2.MetaGraphDef


def saved_model_wrapping(graph_def: Any = None, meta_graph: Any = None) -> Any:
    """A ``SavedModel`` message holding one meta graph: what the safety policy's op scan reads."""
    from convkit.containers.protobuf import message_class

    saved_model = message_class("SavedModel")()
    meta = saved_model.meta_graphs.add()
    if meta_graph is not None:
        meta.CopyFrom(meta_graph)
    elif graph_def is not None:
        meta.graph_def.CopyFrom(graph_def)
    return saved_model


def parse(message_class: Any, data: bytes, path: Path, what: str) -> Any:
    """``data`` decoded as ``message_class``; any failure (truncated, corrupt, nested too deeply) is one ``ReadError``."""
    from google.protobuf.message import DecodeError

    message = message_class()
    try:
        message.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError):
        raise ReadError(f"{path}: not a {what} protobuf (truncated, corrupt or nested too deeply)") from None
    return message


def parse_text(message_class: Any, data: bytes, path: Path, what: str) -> Any:
    """``data`` decoded as the text format of ``message_class``, with one ``ReadError`` on failure."""
    from google.protobuf import text_format

    message = message_class()
    try:
        text_format.Parse(data.decode("utf-8"), message, allow_unknown_extension=False)
    except (text_format.ParseError, UnicodeDecodeError, RecursionError, ValueError) as error:
        raise ReadError(f"{path}: not a {what} in protobuf text format ({error_text(error)})") from None
    return message


def read_graph_def(path: Path, what: str = "GraphDef") -> Any:
    """The ``GraphDef`` in the file at ``path``: binary, or protobuf text (``node { ... }``).

    Raises:
        ReadError: missing, over ``MAX_PROTO_BYTES``, or not a GraphDef.
    """
    data = _limits.read_capped(path, _limits.MAX_PROTO_BYTES, what)
    if looks_like_text_graph(data[:4096]):
        return parse_text(graph_def_class(), data, path, what)
    return parse(graph_def_class(), data, path, what)


def looks_like_text_graph(head: bytes) -> bool:
    """Whether ``head`` starts a GraphDef in protobuf text format (``node {``, ``versions {``, ``library {``)."""
    text = head.lstrip()
    while text.startswith(b"#"):  # comment lines
        text = text.partition(b"\n")[2].lstrip()
    return text.startswith((b"node {", b"node{", b"versions {", b"library {"))


def shape_of(shape_proto: Any) -> list[int | None] | None:
    """A ``TensorShapeProto`` as a list, ``None`` for an open dimension; ``None`` for an unknown rank."""
    if shape_proto.unknown_rank:
        return None
    return [None if dim.size < 0 else int(dim.size) for dim in shape_proto.dim]


def dtype_name(enum_value: int) -> str:
    """A DataType enum value as a short name (``float32``; ``_REF`` types fold onto their base)."""
    from convkit.containers.protobuf import dtype_name as name

    return name(enum_value)


def tensor_size(tensor: Any, path: Path, where: str) -> tuple[int, int]:
    """Elements and bytes the constant ``tensor`` holds once decoded, checked against the limits.

    Raises:
        ReadError: the shape is over ``MAX_TENSOR_*`` or the bytes over ``MAX_CONST_BYTES``.
    """
    shape = tuple(int(dim.size) for dim in tensor.tensor_shape.dim)
    _limits.check_shape(shape, path, where)
    count = 1
    for dim in shape:
        count *= dim
    itemsize = _DTYPES.get(int(tensor.dtype) % 100, ("", 0, ""))[1]
    size = count * itemsize if itemsize else sum(len(value) for value in tensor.string_val)
    if size > _limits.MAX_CONST_BYTES:
        raise ReadError(f"{path}: {where} holds {size} bytes, over convkit's limit of {_limits.MAX_CONST_BYTES}")
    return count, size


def to_array(tensor: Any, path: Path, where: str) -> Any:
    """The ``TensorProto`` as a numpy array (strings as an object array of bytes).

    Raises:
        ReadError: an unsupported dtype, values that do not fit the shape or the dtype, or a size over
            the limits (or over the memory this process has).
    """
    try:
        return _to_array(tensor, path, where)
    except (ValueError, OverflowError, TypeError) as error:
        raise ReadError(f"{path}: {where}'s values do not fit its dtype ({error_text(error, limit=120)})") from None
    except MemoryError:
        raise ReadError(f"{path}: {where} is larger than this process can hold") from None


def stats(tensor: Any, path: Path, where: str) -> dict[str, Any] | None:
    """min, max, mean, std and NaN/Inf counts of a constant, without expanding one value repeated over a
    large shape (TensorFlow's short form: ``float_val: 0`` for a ``[4096, 4096]`` zero tensor)."""
    import numpy as np

    from convkit.containers.tensors import tensor_stats

    count, _ = tensor_size(tensor, path, where)
    kind = _DTYPES.get(int(tensor.dtype) % 100)
    field = kind[2] if kind else ""
    listed = len(getattr(tensor, field)) if field and not tensor.tensor_content else count
    if field in ("scomplex_val", "dcomplex_val"):
        listed //= 2
    if not 0 < listed < count:
        return tensor_stats(to_array(tensor, path, where))
    shortened = type(tensor)()
    shortened.CopyFrom(tensor)
    del shortened.tensor_shape.dim[:]
    shortened.tensor_shape.dim.add(size=listed)
    values = np.asarray(to_array(shortened, path, where))
    if values.dtype == object or values.dtype.kind in "SUV":
        return None
    weights = np.ones(listed)
    weights[-1] += count - listed  # the last value stands for every element not listed
    floats = values.astype(np.float64)
    finite = np.isfinite(floats)
    if not finite.any():
        return tensor_stats(values)
    mean = float(np.average(floats[finite], weights=weights[finite]))
    std = float(np.sqrt(np.average((floats[finite] - mean) ** 2, weights=weights[finite])))
    return {"min": float(floats[finite].min()), "max": float(floats[finite].max()), "mean": mean, "std": std,
            "nan": int(weights[np.isnan(floats)].sum()), "inf": int(weights[np.isinf(floats)].sum())}


def _to_array(tensor: Any, path: Path, where: str) -> Any:
    import numpy as np

    count, _size = tensor_size(tensor, path, where)
    shape = tuple(int(dim.size) for dim in tensor.tensor_shape.dim)
    kind = _DTYPES.get(int(tensor.dtype) % 100)
    if kind is None:
        raise ReadError(f"{path}: {where} has dtype {dtype_name(tensor.dtype)}, which convkit cannot decode")
    numpy_name, itemsize, field = kind
    dtype = _numpy_dtype(numpy_name)
    if tensor.tensor_content and numpy_name != "object":
        if len(tensor.tensor_content) != count * itemsize:
            raise ReadError(f"{path}: {where} holds {len(tensor.tensor_content)} bytes of content, but shape "
                            f"{list(shape)} of {numpy_name} needs {count * itemsize}")
        return np.frombuffer(tensor.tensor_content, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    values = list(getattr(tensor, field))
    if field in ("scomplex_val", "dcomplex_val"):
        values = [complex(real, imag) for real, imag in zip(values[0::2], values[1::2])]
    if len(values) > count:
        raise ReadError(f"{path}: {where} lists {len(values)} values for shape {list(shape)}")
    if field == "half_val":
        bits = np.array(values, dtype=np.uint16)
        values_array = bits.view(np.float16) if numpy_name == "float16" else bits.view(dtype)
    elif numpy_name == "object":
        values_array = np.array(values, dtype=object)
    else:
        values_array = np.array(values, dtype=dtype)
    if len(values_array) == count:
        return values_array.reshape(shape)
    filled = np.empty(count, dtype=values_array.dtype if len(values_array) else dtype)
    filled[:] = values_array[-1] if len(values_array) else (b"" if numpy_name == "object" else 0)
    filled[: len(values_array)] = values_array
    return filled.reshape(shape)


def _numpy_dtype(name: str) -> Any:
    if name == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return name


def from_array(array: Any, dtype_enum: int, path: Path | None = None, where: str = "a constant") -> Any:
    """A ``TensorProto`` of ``array`` as the DataType ``dtype_enum`` (values cast to it).

    Raises:
        ReadError: ``dtype_enum`` is not a type convkit writes, or the values do not cast to it.
    """
    import numpy as np
    from tensorboard.compat.proto import tensor_pb2

    kind = _DTYPES.get(int(dtype_enum) % 100) if int(dtype_enum) > 0 else None
    if kind is None:
        raise ReadError(f"{path}: {where} has dtype {dtype_name(dtype_enum)}, which convkit cannot hold as a constant")
    try:
        return _from_array(array, int(dtype_enum) % 100, kind[0], np, tensor_pb2)
    except (ValueError, TypeError, OverflowError) as error:
        raise ReadError(f"{path}: {where}'s values do not fit its dtype {dtype_name(dtype_enum)} "
                        f"({error_text(error, limit=120)})") from None


def _from_array(array: Any, dtype_enum: int, numpy_name: str, np: Any, tensor_pb2: Any) -> Any:
    tensor = tensor_pb2.TensorProto(dtype=dtype_enum)
    for dim in np.shape(array):
        tensor.tensor_shape.dim.add(size=int(dim))
    if numpy_name == "object":
        tensor.string_val.extend(value if isinstance(value, bytes) else str(value).encode()
                                 for value in np.asarray(array, dtype=object).reshape(-1))
        return tensor
    values = np.asarray(array)
    if np.issubdtype(values.dtype, np.floating) and np.issubdtype(np.dtype(_numpy_dtype(numpy_name)), np.integer):
        values = np.round(values)  # a quantized integer weight comes back as the nearest integer
    values = values.astype(np.dtype(_numpy_dtype(numpy_name)).newbyteorder("<"), copy=False)
    tensor.tensor_content = values.tobytes()
    return tensor
