"""TensorFlow Lite / LiteRT models: one ``.tflite`` flatbuffer.

The file is a flatbuffer whose root table is a ``Model`` (file identifier
``TFL3`` at bytes 4-8): schema ``version``, ``operator_codes`` (a builtin
operator number, or a custom code; ``Flex...`` custom codes are TensorFlow ops
that only an interpreter linked with the Flex delegate runs), ``subgraphs``
(tensors, operators, inputs, outputs), ``buffers`` (constant data, inline or,
for models over 2 GB, at an offset after the flatbuffer), ``metadata``
(named buffers such as ``min_runtime_version``) and ``signature_defs``
(named inputs and outputs per signature key).

convkit reads the flatbuffer with its own bounds-checked table reader, after
the field numbers of TensorFlow's ``schema.fbs``: no TensorFlow, no LiteRT,
nothing generated imported. Every offset is checked against the file size,
so a forged offset is a ``ReadError``, never a crash.
"""

from __future__ import annotations

import mmap
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convkit.containers import limits
from convkit.containers.files import head_bytes
from convkit.errors import ReadError
from convkit.formats import _report
from convkit.registry import Format, WriteOptions, register_format

FILE_IDENTIFIER = b"TFL3"
# The quantizations convert writes: dynamic range (int8 weights), float16 weights, full int8.
QUANTIZATIONS = ("dynamic", "float16", "int8")
# Full-integer quantization, calibrated on sample inputs; its inputs and outputs may be integers too.
CALIBRATED = ("int8",)
IO_TYPES = ("float32", "int8", "uint8")
MAX_TFLITE_BYTES = 4 * 1024 * limits.MiB
MAX_TABLES = 5_000_000

# BuiltinOperator numbers of schema.fbs, in order (0 = ADD ... 209 = STABLEHLO_CASE).
BUILTIN_OPERATORS = (
    "ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE EMBEDDING_LOOKUP "
    "FLOOR FULLY_CONNECTED HASHTABLE_LOOKUP L2_NORMALIZATION L2_POOL_2D LOCAL_RESPONSE_NORMALIZATION LOGISTIC "
    "LSH_PROJECTION LSTM MAX_POOL_2D MUL RELU RELU_N1_TO_1 RELU6 RESHAPE RESIZE_BILINEAR RNN SOFTMAX "
    "SPACE_TO_DEPTH SVDF TANH CONCAT_EMBEDDINGS SKIP_GRAM CALL CUSTOM EMBEDDING_LOOKUP_SPARSE PAD "
    "UNIDIRECTIONAL_SEQUENCE_RNN GATHER BATCH_TO_SPACE_ND SPACE_TO_BATCH_ND TRANSPOSE MEAN SUB DIV SQUEEZE "
    "UNIDIRECTIONAL_SEQUENCE_LSTM STRIDED_SLICE BIDIRECTIONAL_SEQUENCE_RNN EXP TOPK_V2 SPLIT LOG_SOFTMAX "
    "DELEGATE BIDIRECTIONAL_SEQUENCE_LSTM CAST PRELU MAXIMUM ARG_MAX MINIMUM LESS NEG PADV2 GREATER "
    "GREATER_EQUAL LESS_EQUAL SELECT SLICE SIN TRANSPOSE_CONV SPARSE_TO_DENSE TILE EXPAND_DIMS EQUAL "
    "NOT_EQUAL LOG SUM SQRT RSQRT SHAPE POW ARG_MIN FAKE_QUANT REDUCE_PROD REDUCE_MAX PACK LOGICAL_OR "
    "ONE_HOT LOGICAL_AND LOGICAL_NOT UNPACK REDUCE_MIN FLOOR_DIV REDUCE_ANY SQUARE ZEROS_LIKE FILL FLOOR_MOD "
    "RANGE RESIZE_NEAREST_NEIGHBOR LEAKY_RELU SQUARED_DIFFERENCE MIRROR_PAD ABS SPLIT_V UNIQUE CEIL "
    "REVERSE_V2 ADD_N GATHER_ND COS WHERE RANK ELU REVERSE_SEQUENCE MATRIX_DIAG QUANTIZE MATRIX_SET_DIAG "
    "ROUND HARD_SWISH IF WHILE NON_MAX_SUPPRESSION_V4 NON_MAX_SUPPRESSION_V5 SCATTER_ND SELECT_V2 DENSIFY "
    "SEGMENT_SUM BATCH_MATMUL PLACEHOLDER_FOR_GREATER_OP_CODES CUMSUM CALL_ONCE BROADCAST_TO RFFT2D CONV_3D "
    "IMAG REAL COMPLEX_ABS HASHTABLE HASHTABLE_FIND HASHTABLE_IMPORT HASHTABLE_SIZE REDUCE_ALL "
    "CONV_3D_TRANSPOSE VAR_HANDLE READ_VARIABLE ASSIGN_VARIABLE BROADCAST_ARGS RANDOM_STANDARD_NORMAL "
    "BUCKETIZE RANDOM_UNIFORM MULTINOMIAL GELU DYNAMIC_UPDATE_SLICE RELU_0_TO_1 UNSORTED_SEGMENT_PROD "
    "UNSORTED_SEGMENT_MAX UNSORTED_SEGMENT_SUM ATAN2 UNSORTED_SEGMENT_MIN SIGN BITCAST BITWISE_XOR "
    "RIGHT_SHIFT STABLEHLO_LOGISTIC STABLEHLO_ADD STABLEHLO_DIVIDE STABLEHLO_MULTIPLY STABLEHLO_MAXIMUM "
    "STABLEHLO_RESHAPE STABLEHLO_CLAMP STABLEHLO_CONCATENATE STABLEHLO_BROADCAST_IN_DIM STABLEHLO_CONVOLUTION "
    "STABLEHLO_SLICE STABLEHLO_CUSTOM_CALL STABLEHLO_REDUCE STABLEHLO_ABS STABLEHLO_AND STABLEHLO_COSINE "
    "STABLEHLO_EXPONENTIAL STABLEHLO_FLOOR STABLEHLO_LOG STABLEHLO_MINIMUM STABLEHLO_NEGATE STABLEHLO_OR "
    "STABLEHLO_POWER STABLEHLO_REMAINDER STABLEHLO_RSQRT STABLEHLO_SELECT STABLEHLO_SUBTRACT STABLEHLO_TANH "
    "STABLEHLO_SCATTER STABLEHLO_COMPARE STABLEHLO_CONVERT STABLEHLO_DYNAMIC_SLICE "
    "STABLEHLO_DYNAMIC_UPDATE_SLICE STABLEHLO_PAD STABLEHLO_IOTA STABLEHLO_DOT_GENERAL STABLEHLO_REDUCE_WINDOW "
    "STABLEHLO_SORT STABLEHLO_WHILE STABLEHLO_GATHER STABLEHLO_TRANSPOSE DILATE STABLEHLO_RNG_BIT_GENERATOR "
    "REDUCE_WINDOW STABLEHLO_COMPOSITE STABLEHLO_SHIFT_LEFT STABLEHLO_CBRT STABLEHLO_CASE"
).split()
_CUSTOM = 32
_GREATER_OP_CODES = 127
# TensorType numbers of schema.fbs -> numpy-style names.
TENSOR_TYPES = (
    "float32 float16 int32 uint8 int64 string bool int16 complex64 int8 float64 complex128 uint64 resource "
    "variant uint32 uint16 int4 bfloat16 int2 uint4 float8e4m3fn float8e5m2"
).split()
_TYPE_BYTES = {**_report.DTYPE_SIZES, "float8e4m3fn": 1, "float8e5m2": 1}


@dataclass(frozen=True)
class TfliteReport(_report.ReportBase):
    """What ``convkit inspect`` shows for a TFLite model."""

    format: str
    path: str
    kind: str
    tflite_schema_version: int
    description: str
    min_runtime_version: str | None
    summary: dict[str, Any]
    signatures: list[dict[str, Any]]
    subgraphs: list[dict[str, Any]]
    ops: list[dict[str, Any]]
    tensors: list[dict[str, Any]]
    metadata: list[dict[str, Any]]


# ---------------------------------------------------------------- flatbuffer reading


class _Buffer:
    """The file's bytes with bounds-checked little-endian reads; every failure is one ReadError."""

    def __init__(self, data: bytes | mmap.mmap, path: Path) -> None:
        self.data = data
        self.path = path
        self.tables = 0

    def fail(self, what: str) -> ReadError:
        return ReadError(f"{self.path}: not a valid TFLite flatbuffer ({what})")

    def unpack(self, fmt: str, offset: int) -> Any:
        size = struct.calcsize(fmt)
        if offset < 0 or offset + size > len(self.data):
            raise self.fail(f"offset {offset} runs past the end of the file")
        return struct.unpack_from("<" + fmt, self.data, offset)[0]

    def table(self, position: int) -> "_Table":
        self.tables += 1
        if self.tables > MAX_TABLES:
            raise self.fail(f"more than {MAX_TABLES} tables")
        vtable = position - self.unpack("i", position)
        vtable_size = self.unpack("H", vtable)
        if vtable_size < 4 or vtable_size % 2:
            raise self.fail(f"vtable at {vtable} has size {vtable_size}")
        self.unpack("B", vtable + vtable_size - 1)
        return _Table(self, position, vtable, vtable_size)


class _Table:
    def __init__(self, buffer: _Buffer, position: int, vtable: int, vtable_size: int) -> None:
        self.buffer = buffer
        self.position = position
        self.vtable = vtable
        self.vtable_size = vtable_size

    def _field(self, slot: int) -> int:
        entry = 4 + 2 * slot
        if entry >= self.vtable_size:
            return 0
        return self.buffer.unpack("H", self.vtable + entry)

    def scalar(self, slot: int, fmt: str, default: Any = 0) -> Any:
        offset = self._field(slot)
        return self.buffer.unpack(fmt, self.position + offset) if offset else default

    def _indirect(self, slot: int) -> int | None:
        offset = self._field(slot)
        if not offset:
            return None
        where = self.position + offset
        return where + self.buffer.unpack("I", where)

    def table(self, slot: int) -> "_Table | None":
        where = self._indirect(slot)
        return self.buffer.table(where) if where is not None else None

    def vector(self, slot: int, element_size: int) -> tuple[int, int]:
        """(start, length) of a vector field; (0, 0) when absent."""
        where = self._indirect(slot)
        if where is None:
            return 0, 0
        length = self.buffer.unpack("I", where)
        start = where + 4
        if start + length * element_size > len(self.buffer.data):
            raise self.buffer.fail(f"a vector of {length} elements runs past the end of the file")
        return start, length

    def numbers(self, slot: int, fmt: str) -> list[Any]:
        size = struct.calcsize(fmt)
        start, length = self.vector(slot, size)
        return list(struct.unpack_from(f"<{length}{fmt}", self.buffer.data, start)) if length else []

    def tables(self, slot: int) -> list["_Table"]:
        start, length = self.vector(slot, 4)
        return [self.buffer.table(start + 4 * i + self.buffer.unpack("I", start + 4 * i)) for i in range(length)]

    def string(self, slot: int) -> str | None:
        start, length = self.vector(slot, 1)
        if not start:
            return None
        return self.buffer.data[start : start + length].decode("utf-8", "replace")

    def blob(self, slot: int) -> tuple[int, int]:
        return self.vector(slot, 1)


# ---------------------------------------------------------------- the model


def accept(path: Path) -> bool:
    """A file with the flatbuffer identifier ``TFL3`` at bytes 4-8."""
    head = head_bytes(Path(path), 8)
    return len(head) == 8 and head[4:8] == FILE_IDENTIFIER


def _root(data: bytes | mmap.mmap, path: Path) -> _Table:
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ReadError(f"{path}: not a TFLite model (no TFL3 identifier)")
    buffer = _Buffer(data, path)
    return buffer.table(buffer.unpack("I", 0))


def _operator_name(code: _Table) -> tuple[str, bool, bool]:
    """(name, custom, flex) of an ``OperatorCode``."""
    deprecated = code.scalar(0, "b", 0)
    builtin = code.scalar(3, "i", 0)
    number = max(deprecated, builtin)
    if number == _CUSTOM:
        custom = code.string(1) or "?"
        return custom, True, custom.startswith("Flex")
    if 0 <= number < len(BUILTIN_OPERATORS):
        return BUILTIN_OPERATORS[number], False, False
    return f"BUILTIN_{number}", False, False


def _quantization(table: _Table | None) -> dict[str, Any] | None:
    if table is None:
        return None
    scale = table.numbers(2, "f")
    zero_point = table.numbers(3, "q")
    if not scale and not zero_point:
        return None
    row: dict[str, Any] = {"channels": len(scale)}
    if len(scale) == 1:
        row["scale"] = scale[0]
        row["zero_point"] = zero_point[0] if zero_point else 0
    else:
        row["scale_range"] = [min(scale), max(scale)] if scale else None
        row["axis"] = table.scalar(6, "i", 0)
    return row


def _dequantize(values: Any, shape: list[int], table: _Table | None) -> Any:
    """``(values - zero_point) * scale``, per channel along the quantized dimension when there are several scales."""
    import numpy as np

    if table is None:
        return None
    scale = np.asarray(table.numbers(2, "f"), dtype=np.float64)
    zero_point = np.asarray(table.numbers(3, "q") or [0] * len(scale), dtype=np.float64)
    if not scale.size or zero_point.size != scale.size:
        return None
    array = values.astype(np.float64).reshape(shape)
    if scale.size == 1:
        return (array - zero_point[0]) * scale[0]
    axis = table.scalar(6, "i", 0)
    if not 0 <= axis < array.ndim or array.shape[axis] != scale.size:
        return None
    view = [1] * array.ndim
    view[axis] = scale.size
    return (array - zero_point.reshape(view)) * scale.reshape(view)


def _buffer_span(buffers: list[_Table], index: int, data_size: int, path: Path) -> tuple[int, int]:
    """(start, length) of buffer ``index``'s bytes in the file."""
    if index <= 0 or index >= len(buffers):
        return 0, 0
    buffer = buffers[index]
    start, length = buffer.blob(0)
    if length:
        return start, length
    offset = buffer.scalar(1, "Q", 0)
    size = buffer.scalar(2, "Q", 0)
    if offset > 1 and size:
        if offset + size > data_size:
            raise ReadError(f"{path}: buffer {index} lies past the end of the file (truncated model)")
        return offset, size
    return 0, 0


def read_model(path: Path) -> tuple[bytes | mmap.mmap, _Table]:
    """The file's bytes (mapped: reading the structure loads none of the weights' pages) and its root
    ``Model`` table.

    Raises:
        ReadError: missing, over the size limit, or not a TFLite flatbuffer.
    """
    data = limits.map_capped(Path(path), MAX_TFLITE_BYTES, "TFLite model")
    return data, _root(data, Path(path))


def _tensor_values(data: bytes | mmap.mmap, start: int, length: int, dtype: str, shape: list[int], name: str, path: Path) -> Any:
    import numpy as np

    if dtype not in ("float32", "float16", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
                     "int64", "uint64", "bool"):
        return None
    values = np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"), count=length // np.dtype(dtype).itemsize,
                           offset=start)
    if values.size != _report.count(shape):
        raise ReadError(f"{path}: tensor {name!r} has {values.size} values in its buffer, its shape {shape} needs "
                        f"{_report.count(shape)}")
    return values


def _described(indices: list[int], rows: list[dict[str, Any]], subgraph: int, path: Path) -> list[dict[str, Any]]:
    """The subgraph's input or output tensors ``indices``, as name, dtype and shape."""
    described = []
    for index in indices:
        if not 0 <= index < len(rows):
            raise ReadError(f"{path}: subgraph {subgraph} names tensor {index} of {len(rows)}")
        row = rows[index]
        described.append({"name": row["name"], "dtype": row["dtype"], "shape": row["shape_signature"] or row["shape"]})
    return described


def inspect(path: Path, *, weights: bool = False, **_options: Any) -> TfliteReport:
    """Describes the TFLite model at ``path`` without an interpreter.

    Args:
        path: the ``.tflite`` file.
        weights: add statistics of every constant tensor (stored values; for
            quantized tensors also the dequantized range). Default False.
    """
    path = Path(path)
    data, model = read_model(path)
    codes = [_operator_name(code) for code in model.tables(1)]
    buffers = model.tables(4)
    subgraph_rows = []
    tensor_rows: list[dict[str, Any]] = []
    counts: Counter[int] = Counter()
    for subgraph_index, subgraph in enumerate(model.tables(2)):
        tensors = subgraph.tables(0)
        operators = subgraph.tables(3)
        names = []
        for tensor in tensors:
            name = tensor.string(3) or ""
            names.append(name)
            shape = tensor.numbers(0, "i")
            if any(d < 0 for d in shape):
                raise ReadError(f"{path}: tensor {name!r} has a negative dimension in {shape}")
            limits.check_shape(tuple(shape), path, f"tensor {name!r}")
            type_number = tensor.scalar(1, "b", 0)
            dtype = TENSOR_TYPES[type_number] if 0 <= type_number < len(TENSOR_TYPES) else f"type {type_number}"
            start, length = _buffer_span(buffers, tensor.scalar(2, "I", 0), len(data), path)
            signature = tensor.numbers(7, "i")
            row: dict[str, Any] = {
                "subgraph": subgraph_index,
                "name": name,
                "dtype": dtype,
                "shape": shape,
                "shape_signature": signature or None,
                "bytes": length,
                "quantization": _quantization(tensor.table(4)),
            }
            if weights and length:
                values = _tensor_values(data, start, length, dtype, shape, name, path)
                row["stats"] = _report.tensor_stats(values) if values is not None else None
                if values is not None and row["quantization"]:
                    dequantized = _dequantize(values, shape, tensor.table(4))
                    if dequantized is not None and dequantized.size:
                        row["dequantized"] = {"min": float(dequantized.min()), "max": float(dequantized.max())}
            tensor_rows.append(row)
        for operator in operators:
            counts[operator.scalar(0, "I", 0)] += 1
        inputs = subgraph.numbers(1, "i")
        outputs = subgraph.numbers(2, "i")

        own_rows = tensor_rows[len(tensor_rows) - len(tensors):]
        subgraph_rows.append({
            "name": subgraph.string(4) or f"subgraph {subgraph_index}",
            "tensors": len(tensors),
            "operators": len(operators),
            "inputs": _described(inputs, own_rows, subgraph_index, path),
            "outputs": _described(outputs, own_rows, subgraph_index, path),
        })
    op_rows = []
    for index, count in counts.most_common():
        if not 0 <= index < len(codes):
            raise ReadError(f"{path}: an operator names operator code {index} of {len(codes)}")
        name, custom, flex = codes[index]
        op_rows.append({"op": name, "count": count, "custom": custom, "flex": flex})
    metadata = []
    min_runtime = None
    for entry in model.tables(6):
        name = entry.string(0) or ""
        start, length = _buffer_span(buffers, entry.scalar(1, "I", 0), len(data), path)
        if name == "min_runtime_version" and length:
            min_runtime = data[start : start + length].split(b"\0")[0].decode("ascii", "replace")
        metadata.append({"name": name, "bytes": length})
    signatures = []
    for signature_def in model.tables(7):
        signatures.append({
            "key": signature_def.string(2),
            "subgraph": signature_def.scalar(4, "I", 0),
            "inputs": [entry.string(0) for entry in signature_def.tables(0)],
            "outputs": [entry.string(0) for entry in signature_def.tables(1)],
        })
    constants = [row for row in tensor_rows if row["bytes"]]
    return TfliteReport(
        format="tflite",
        path=str(path),
        kind="flex" if any(row["flex"] for row in op_rows) else "builtin",
        tflite_schema_version=model.scalar(0, "I", 0),
        description=model.string(3) or "",
        min_runtime_version=min_runtime,
        summary={
            "subgraphs": len(subgraph_rows),
            "operators": sum(counts.values()),
            "op_types": len(op_rows),
            "custom_ops": sorted({row["op"] for row in op_rows if row["custom"] and not row["flex"]}),
            "flex_ops": sorted({row["op"] for row in op_rows if row["flex"]}),
            "tensors": len(tensor_rows),
            "constant_tensors": len(constants),
            "quantized_tensors": sum(1 for row in tensor_rows if row["quantization"]),
            "parameters": sum(_report.count(row["shape"]) for row in constants),
            "bytes": sum(row["bytes"] for row in constants),
        },
        signatures=signatures,
        subgraphs=subgraph_rows,
        ops=op_rows,
        tensors=tensor_rows,
        metadata=metadata,
    )


def operator_graph(path: Path) -> list[dict[str, Any]]:
    """Each subgraph's tensors and operators, as ``convkit inspect --graph`` draws them.

    Returns:
        One dict per subgraph: ``name``; ``tensors`` (``name``, ``dtype``, ``shape``, ``shape_signature``,
        ``constant``); ``operators`` (``op``, ``custom``, ``inputs``, ``outputs``: tensor indices, -1 for
        an omitted optional input); ``inputs`` and ``outputs`` (tensor indices).

    Raises:
        ReadError: as :func:`inspect`.
    """
    data, model = read_model(path)
    codes = [_operator_name(code) for code in model.tables(1)]
    buffers = model.tables(4)
    subgraphs = []
    for index, subgraph in enumerate(model.tables(2)):
        tensors = []
        for tensor in subgraph.tables(0):
            type_number = tensor.scalar(1, "b", 0)
            start, length = _buffer_span(buffers, tensor.scalar(2, "I", 0), len(data), Path(path))
            tensors.append({
                "name": tensor.string(3) or "",
                "dtype": TENSOR_TYPES[type_number] if 0 <= type_number < len(TENSOR_TYPES) else f"type {type_number}",
                "shape": tensor.numbers(0, "i"),
                "shape_signature": tensor.numbers(7, "i") or None,
                "constant": bool(length),
            })
        operators = []
        for operator in subgraph.tables(3):
            code = operator.scalar(0, "I", 0)
            if not 0 <= code < len(codes):
                raise ReadError(f"{path}: an operator names operator code {code} of {len(codes)}")
            name, custom, _flex = codes[code]
            found = [operator.numbers(1, "i"), operator.numbers(2, "i")]
            for position in (i for group in found for i in group):
                if not -1 <= position < len(tensors):
                    raise ReadError(f"{path}: an operator of subgraph {index} names tensor {position} of {len(tensors)}")
            operators.append({"op": name, "custom": custom, "inputs": found[0], "outputs": found[1]})
        subgraphs.append({"name": subgraph.string(4) or f"subgraph {index}", "tensors": tensors, "operators": operators,
                          "inputs": subgraph.numbers(1, "i"), "outputs": subgraph.numbers(2, "i")})
    return subgraphs


def flex_ops(path: Path) -> list[str]:
    """The TensorFlow (Flex) ops the model at ``path`` holds, which only an interpreter with the Flex delegate runs.

    The one place convkit decides whether a TFLite file needs the Flex delegate: from the file, never by
    trying (in a process that has imported TensorFlow, LiteRT finds TensorFlow's Flex delegate and runs such
    ops; on a device it would not).
    """
    _data, model = read_model(path)
    return sorted({name for name, _custom, flex in map(_operator_name, model.tables(1)) if flex})


def signature_keys(path: Path) -> list[str]:
    """The signatures of the TFLite model at ``path``, by key."""
    return [row["key"] for row in inspect(path).signatures if row["key"]]


def uses_flex_ops(path: Path) -> bool:
    """Whether the model at ``path`` holds TensorFlow (Flex) ops (see :func:`flex_ops`)."""
    return bool(flex_ops(path))


def quantization(path: Path) -> str | None:
    """How the model at ``path`` is quantized: ``int8`` (activations too), ``dynamic`` (int8 weights),
    ``float16`` (float16 weights) or ``None`` (float32)."""
    report = inspect(path)
    constants = [row for row in report.tensors if row["bytes"]]
    if any(row["quantization"] and not row["bytes"] and row["dtype"] in ("int8", "uint8", "int16")
           for row in report.tensors):
        return "int8"
    if any(row["quantization"] and row["dtype"] in ("int8", "uint8", "int4") for row in constants):
        return "dynamic"
    if any(row["dtype"] == "float16" for row in constants):
        return "float16"
    return None


register_format(Format(
    name="tflite",
    holds_strings=False,
    description="TensorFlow Lite / LiteRT flatbuffer (.tflite)",
    accept=accept,
    inspect=inspect,
    extensions=(".tflite",),
    title="TFLite",
    no_reader=("a TFLite file is an inference graph without Keras layers, and TensorFlow has no TFLite-to-SavedModel "
               "or TFLite-to-Keras converter"),
    writer="convkit.convert.writers.tflite:write",
    write_options=WriteOptions(quantizations=QUANTIZATIONS, calibrated=CALIBRATED, io_types=IO_TYPES,
                               input_shapes=True, graphs=True),
    runner="convkit.runtimes.litert:open_tflite",
    signatures=signature_keys,
    default_output=lambda parent, name: parent / f"{name}.tflite",
    graph_extractor="convkit.graph.tflite:from_tflite",
))
