"""Writes the built graph as an ``.onnx`` file, one weight in memory at a time.

A ``ModelProto`` is a protobuf message, and protobuf fields may come in any
order: the file is the model's small fields, then the ``graph`` field, whose
length is known in advance (every weight's size is), holding the nodes,
inputs and outputs, then one ``initializer`` message per weight, written as
its header (name, dims, type) followed by its ``raw_data`` bytes, each
made and written just before it is needed and dropped after. Stored weights
that need no change are copied from their file without decoding.

Protobuf messages end at 2 GiB, and convkit reads (inspects, smoke-runs,
checks) ONNX files of at most ``MAX_PROTO_BYTES`` (1 GiB): past
``EXTERNAL_DATA_BYTES`` of weights, they go to ``<name>.onnx.data`` beside
the model (ONNX external data: ``location``, ``offset``, ``length``; offsets
aligned to 4 KiB), the form onnxruntime memory-maps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from convkit.containers import limits
from convkit.containers.protobuf import varint_bytes
from convkit.convert.writers.onnx_native.graph import ELEMENT_TYPES, GraphBuilder, Initializer, onnx_dims
from convkit.progress import Progress

EXTERNAL_DATA_BYTES = limits.MAX_PROTO_BYTES - 64 * 1024**2  # room for the graph itself under convkit's own limit
EXTERNAL_ALIGNMENT = 4096
SMALL_BYTES = 1024  # constants this small stay in the .onnx when the weights go to external data
COPY_CHUNK = 16 * 1024**2

_GRAPH_FIELD = 7
_INITIALIZER_FIELD = 5
_RAW_DATA_FIELD = 9


@dataclass(frozen=True)
class WrittenModel:
    """What :func:`write_model` wrote.

    Attributes:
        path: the ``.onnx`` file.
        external_data: the external data file beside it, or None.
        weight_bytes: bytes of initializer data written.
        initializers: how many initializers.
        nodes: how many nodes.
    """

    path: Path
    external_data: Path | None
    weight_bytes: int
    initializers: int
    nodes: int



def _field(number: int, length: int) -> bytes:
    """Tag and length of a length-delimited field."""
    return varint_bytes(number << 3 | 2) + varint_bytes(length)


def _value_info(name: str, dtype: str, shape: Any) -> Any:
    from onnx import helper

    return helper.make_tensor_value_info(name, ELEMENT_TYPES[dtype], onnx_dims(shape, name))


def _header(init: Initializer, location: str | None, offset: int) -> bytes:
    from onnx import TensorProto

    tensor = TensorProto(name=init.name, dims=list(init.shape), data_type=ELEMENT_TYPES[init.dtype])
    if location is not None:
        tensor.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(init.nbytes))):
            entry = tensor.external_data.add()
            entry.key, entry.value = key, value
    return bytes(tensor.SerializeToString())


class _Sink:
    """Bytes to a file descriptor, with stored weights copied from their file directly."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.written = 0

    def write(self, data: bytes | memoryview) -> None:
        self.handle.write(data)
        self.written += len(data)

    def pad_to(self, alignment: int) -> None:
        gap = -self.written % alignment
        if gap:
            self.write(b"\0" * gap)

    def values(self, init: Initializer) -> None:
        span = init.source.raw_span if init.source is not None and init.values is None and init.produce is None \
            else None
        if span is not None and np.dtype(init.source.dtype) == np.dtype(init.dtype):  # type: ignore[union-attr]
            self._copy(span[0], span[1], init.nbytes)
            return
        array = init.array()
        if array.dtype.byteorder == ">":
            array = array.astype(array.dtype.newbyteorder("<"))
        self.write(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)
        del array

    def _copy(self, path: str, offset: int, count: int) -> None:
        self.handle.flush()
        target = self.handle.fileno()
        with open(path, "rb") as source:
            done = 0
            while done < count:
                try:
                    moved = os.copy_file_range(source.fileno(), target, count - done, offset + done)
                except OSError:
                    moved = 0
                if moved <= 0:  # not supported between these files: plain reads
                    chunk = os.pread(source.fileno(), min(COPY_CHUNK, count - done), offset + done)
                    if not chunk:
                        raise OSError(f"{path}: ended before the weight did")
                    os.write(target, chunk)
                    moved = len(chunk)
                done += moved
        self.handle.seek(0, os.SEEK_END)
        self.written += count


def write_model(builder: GraphBuilder, target: Path, *, producer: str, graph_name: str,
                external_data_bytes: int | None = None, progress: Progress | None = None) -> WrittenModel:
    """Writes ``builder``'s graph as an ONNX model at ``target`` (and ``target.data`` for large weights).

    Args:
        builder: the built graph; its weights are made here, one at a time.
        target: the ``.onnx`` file to write (does not exist yet).
        producer: ``producer_name`` and version, as ``name version``.
        graph_name: the graph's name (the Keras model's).
        external_data_bytes: weight bytes past which they go to external data; default ``EXTERNAL_DATA_BYTES``.
        progress: told ``writing`` with bytes done and total.
    """
    from onnx import ModelProto, helper

    graph = helper.make_graph(
        builder.nodes, graph_name,
        [_value_info(t.name, t.dtype, t.shape) for t in builder.inputs],
        [_value_info(t.name, t.dtype, t.shape) for t in builder.outputs],
    )
    body = bytes(graph.SerializeToString())
    name, _, version = producer.partition(" ")
    model = ModelProto(producer_name=name, producer_version=version)
    opset = model.opset_import.add()
    opset.domain, opset.version = "", builder.opset
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    head = bytes(model.SerializeToString())

    total = sum(init.nbytes for init in builder.initializers)
    external = total > (EXTERNAL_DATA_BYTES if external_data_bytes is None else external_data_bytes)
    data_path = target.with_name(target.name + ".data") if external else None
    headers: list[tuple[Initializer, bytes, bool]] = []
    offset = 0
    for init in builder.initializers:
        outside = external and init.nbytes >= SMALL_BYTES
        if outside:
            offset += -offset % EXTERNAL_ALIGNMENT
            headers.append((init, _header(init, data_path.name if data_path else None, offset), True))
            offset += init.nbytes
        else:
            headers.append((init, _header(init, None, 0), False))
    lengths = [len(header) + (0 if outside else len(_field(_RAW_DATA_FIELD, init.nbytes)) + init.nbytes)
               for init, header, outside in headers]
    graph_length = len(body) + sum(len(_field(_INITIALIZER_FIELD, length)) + length for length in lengths)
    done = 0
    with open(target, "xb") as handle:
        sink = _Sink(handle)
        sink.write(head)
        sink.write(_field(_GRAPH_FIELD, graph_length))
        sink.write(body)
        for (init, header, outside), length in zip(headers, lengths):
            sink.write(_field(_INITIALIZER_FIELD, length))
            sink.write(header)
            if not outside:
                sink.write(_field(_RAW_DATA_FIELD, init.nbytes))
                sink.values(init)
                done += init.nbytes
                if progress:
                    progress("writing", done, total)
    if data_path is not None:
        with open(data_path, "xb") as handle:
            sink = _Sink(handle)
            for init, _, outside in headers:
                if outside:
                    sink.pad_to(EXTERNAL_ALIGNMENT)
                    sink.values(init)
                    done += init.nbytes
                    if progress:
                        progress("writing", done, total)
    return WrittenModel(target, data_path, total, len(builder.initializers), len(builder.nodes))
