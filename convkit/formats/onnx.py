"""ONNX models: one ``.onnx`` file holding a ``ModelProto`` protobuf.

A ``ModelProto`` carries the IR version, the opsets it imports (domain and
version), the producer, free-form ``metadata_props`` and one ``GraphProto``:
nodes (``op_type`` in a ``domain``; ``If``/``Loop``/``Scan`` hold subgraphs),
graph inputs and outputs with element type and dimensions (a number or a
symbolic name such as ``unk__12``), and initializers (the weights). Large
models keep initializers in external files named by ``external_data``
(``location``, ``offset``, ``length``), relative to the model's folder.

ONNX has no magic number. A file is recognised by walking its top-level
protobuf fields: ``ir_version`` first, then a graph (field 7) and opset
imports (field 8), the fields every model has. Inspecting parses the
protobuf with the ``onnx`` package's message classes, never loads external
data unless ``--weights`` asks for statistics (and then only from files
inside the model's folder), and never imports an ONNX runtime.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from convkit.containers import limits
from convkit.errors import ReadError
from convkit.formats import _report
from convkit.registry import Format, WriteOptions, register_format

# Operator domains every ONNX runtime implements; anything else is a custom op.
# The opsets convert writes (tf2onnx 1.17 writes up to 18; below 13 many Keras ops have no ONNX form).
OPSETS = tuple(range(13, 19))
DEFAULT_OPSET = 17
# The writers (convert/writers/onnx.py): convkit's own from the Keras config, and tf2onnx over a TensorFlow function.
ROUTES = ("native", "tf2onnx")
STANDARD_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
# The element types as onnxruntime names them in its sessions' inputs and outputs -> numpy dtype names.
ORT_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16", "tensor(int64)": "int64",
    "tensor(int32)": "int32", "tensor(int16)": "int16", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}
# metadata_props key recording inputs and outputs written transposed (channels first):
# {"image": [0, 3, 1, 2]} means the graph's "image" is the source model's "image" transposed by those axes.
TRANSPOSED_KEY = "convkit.transposed"
_SNIFF_FIELDS = 10_000
_GRAPH_FIELD = 7
_OPSET_FIELD = 8
# TensorProto.DataType numbers -> numpy names (onnx.onnx_ml_pb2.TensorProto.DataType).
_ELEMENT_TYPES = {
    1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
    9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128",
    16: "bfloat16", 17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2", 20: "float8e5m2fnuz",
    21: "uint4", 22: "int4", 23: "float4e2m1",
}
_ELEMENT_BYTES = {**_report.DTYPE_SIZES, "float8e4m3fn": 1, "float8e4m3fnuz": 1, "float8e5m2": 1, "float8e5m2fnuz": 1}


@dataclass(frozen=True)
class OnnxReport(_report.ReportBase):
    """What ``convkit inspect`` shows for an ONNX model."""

    format: str
    path: str
    kind: str
    ir_version: int
    producer: str
    model_version: int
    domain: str
    doc_string: str
    opsets: list[dict[str, Any]]
    summary: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    ops: list[dict[str, Any]]
    initializers: list[dict[str, Any]]
    metadata: dict[str, str]


def _text(value: Any) -> str:
    # A string field holding bad UTF-8 comes back from protobuf as bytes.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------- sniffing


def _varint(handle: Any) -> int | None:
    value = 0
    for shift in range(0, 64, 7):
        byte = handle.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
    return None


def accept(path: Path) -> bool:
    """A file whose top-level protobuf fields are those of an ONNX ``ModelProto``.

    Field 1 (``ir_version``, a varint) comes first; fields 7 (graph) and 8
    (opset imports) are length-delimited and present. Only tags and lengths are
    read; the nested messages are skipped.
    """
    path = Path(path)
    try:
        if not path.is_file():
            return False
        size = path.stat().st_size
        seen: set[int] = set()
        with path.open("rb") as handle:
            if handle.read(1) != b"\x08":
                return False
            if _varint(handle) is None:
                return False
            for _ in range(_SNIFF_FIELDS):
                if handle.tell() >= size:
                    break
                tag = _varint(handle)
                if tag is None:
                    return False
                number, wire = tag >> 3, tag & 7
                if number == 0 or number > 64:
                    return False
                if wire == 0:
                    if _varint(handle) is None:
                        return False
                elif wire == 2:
                    length = _varint(handle)
                    if length is None or handle.tell() + length > size:
                        return False
                    handle.seek(length, 1)
                else:
                    return False
                if number in (_GRAPH_FIELD, _OPSET_FIELD) and wire != 2:
                    return False
                seen.add(number)
        return {_GRAPH_FIELD, _OPSET_FIELD} <= seen
    except OSError:
        return False


# ---------------------------------------------------------------- reading


def read_model(path: Path) -> Any:
    """The ``onnx.ModelProto`` at ``path``, external data not loaded.

    Raises:
        ReadError: missing, over ``MAX_PROTO_BYTES``, or not an ONNX protobuf.
    """
    from google.protobuf.message import DecodeError
    from onnx import onnx_ml_pb2

    path = Path(path)
    data = limits.read_capped(path, limits.MAX_PROTO_BYTES, "ONNX model")
    model = onnx_ml_pb2.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError):
        raise ReadError(f"{path}: not an ONNX model protobuf (truncated or corrupt)") from None
    if not model.HasField("graph"):
        raise ReadError(f"{path}: the ONNX model has no graph")
    return model


def _dims(value_type: Any) -> list[int | str | None]:
    shape = value_type.tensor_type.shape
    dims: list[int | str | None] = []
    for dim in shape.dim:
        kind = dim.WhichOneof("value")
        dims.append(dim.dim_value if kind == "dim_value" else _text(dim.dim_param) if kind == "dim_param" else None)
    return dims


def _value_info(value: Any) -> dict[str, Any]:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return {"name": _text(value.name), "dtype": kind or "?", "shape": None}
    return {
        "name": _text(value.name),
        "dtype": _ELEMENT_TYPES.get(value.type.tensor_type.elem_type, f"type {value.type.tensor_type.elem_type}"),
        "shape": _dims(value.type) if value.type.tensor_type.HasField("shape") else None,
    }


def _walk_nodes(graph: Any, depth: int = 0) -> Iterator[Any]:
    if depth > limits.MAX_JSON_DEPTH:
        return
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _walk_nodes(attribute.g, depth + 1)
            for subgraph in attribute.graphs:
                yield from _walk_nodes(subgraph, depth + 1)


def _walk_graphs(graph: Any, depth: int = 0) -> Iterator[Any]:
    """``graph`` and every subgraph its nodes hold (``If``/``Loop``/``Scan`` bodies), nesting capped."""
    if depth > limits.MAX_JSON_DEPTH:
        return
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _walk_graphs(attribute.g, depth + 1)
            for subgraph in attribute.graphs:
                yield from _walk_graphs(subgraph, depth + 1)


def _walk_initializers(graph: Any) -> Iterator[Any]:
    for each in _walk_graphs(graph):
        yield from each.initializer


def _external(tensor: Any) -> dict[str, str] | None:
    if tensor.data_location != 1:  # TensorProto.EXTERNAL
        return None
    return {_text(entry.key): _text(entry.value) for entry in tensor.external_data}


def _initializer_row(tensor: Any, path: Path) -> dict[str, Any]:
    dtype = _ELEMENT_TYPES.get(tensor.data_type, f"type {tensor.data_type}")
    shape = [int(d) for d in tensor.dims]
    if any(d < 0 for d in shape):
        raise ReadError(f"{path}: initializer {_text(tensor.name)!r} has a negative dimension in {shape}")
    limits.check_shape(tuple(shape), path, f"initializer {_text(tensor.name)!r}")
    external = _external(tensor)
    row: dict[str, Any] = {"name": _text(tensor.name), "dtype": dtype, "shape": shape,
                           "bytes": _report.count(shape) * _ELEMENT_BYTES.get(dtype, 0) if dtype != "string" else None,
                           "stored": "external" if external else "embedded"}
    if external:
        row["location"] = external.get("location")
    return row


def _external_file(path: Path, location: str | None, name: str) -> Path:
    """The external data file ``location`` of tensor ``name``: a regular file inside the model's folder, reached
    without a link (the path is checked entry by entry, with ``lstat``, never resolved through a link)."""
    if not location:
        raise ReadError(f"{path}: initializer {name!r} is external but names no location")
    posix = PurePosixPath(location.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or (len(location) > 1 and location[1] == ":") or not posix.parts:
        raise ReadError(f"{path}: initializer {name!r} names external data {location!r} outside the model folder")
    target = path.parent
    try:
        for part in posix.parts:
            target = target / part
            mode = os.lstat(target).st_mode
            if stat.S_ISLNK(mode):
                raise ReadError(f"{path}: external data {location!r} of initializer {name!r} is reached through a "
                                f"symbolic link ({target}); convkit follows no link out of a model folder")
        if not stat.S_ISREG(mode):
            raise ReadError(f"{path}: external data {location!r} of initializer {name!r} is not a regular file")
    except FileNotFoundError:
        raise ReadError(f"{path}: external data {location!r} of initializer {name!r} is missing from the model "
                        "folder") from None
    except (OSError, ValueError):
        raise ReadError(f"{path}: external data {location!r} of initializer {name!r} cannot be read") from None
    return target


def external_tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of the graph and its subgraphs that may hold external data: initializers and the tensors
    of node attributes (a ``Constant``'s value)."""
    for each in _walk_graphs(graph):
        yield from each.initializer
        for node in each.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors


def external_data(path: Path, model: Any) -> list[Path]:
    """The external data files of the model at ``path`` (parsed as ``model``), each checked before a runtime
    reads it: a regular file inside the model's folder, reached without a link, holding every byte its
    tensors' ``offset`` and ``length`` name.

    Raises:
        ReadError: naming the tensor and the location that fails.
    """
    sizes: dict[Path, int] = {}
    for tensor in external_tensors(model.graph):
        entries = _external(tensor)
        if entries is None:
            continue
        name = _text(tensor.name)
        file = _external_file(path, entries.get("location"), name)
        if file not in sizes:
            sizes[file] = file.stat().st_size
        try:
            offset = int(entries.get("offset", 0))
            length = int(entries["length"]) if "length" in entries else sizes[file] - offset
        except ValueError:
            raise ReadError(f"{path}: initializer {name!r} has an external offset or length that is not a number") from None
        if offset < 0 or length < 0 or offset + length > sizes[file]:
            raise ReadError(f"{path}: initializer {name!r} reads bytes {offset}..{offset + length} of "
                            f"{entries.get('location')!r}, which holds {sizes[file]}")
    return sorted(sizes)


def tensor_values(tensor: Any, path: Path) -> Any:
    """The initializer ``tensor`` as a numpy array (None for an unknown element type), external data read
    from inside the model folder.

    Raises:
        ReadError: the data is shorter than the shape needs, or lies outside the folder.
    """
    from onnx import numpy_helper

    if tensor.data_type not in _ELEMENT_TYPES:
        return None
    external = _external(tensor)
    try:
        if external:
            source = _external_file(path, external.get("location"), _text(tensor.name))
            offset = int(external.get("offset", 0))
            length = external.get("length")
            with source.open("rb") as handle:
                handle.seek(offset)
                data = handle.read(int(length) if length is not None else -1)
            copy = type(tensor)()
            copy.CopyFrom(tensor)
            del copy.external_data[:]
            copy.data_location = 0
            copy.raw_data = data
            tensor = copy
        return numpy_helper.to_array(tensor)
    except ReadError:
        raise
    except (ValueError, TypeError, OSError, KeyError, IndexError) as error:
        raise ReadError(f"{path}: initializer {_text(tensor.name)!r} cannot be decoded ({error})") from None


def transposed(path: Path, model: Any) -> dict[str, tuple[int, ...]]:
    """The graph inputs and outputs the model says it holds transposed (``TRANSPOSED_KEY`` in its
    ``metadata_props``), each with its axes: the tensor is the source model's ``.transpose(axes)``.

    Raises:
        ReadError: the entry is not a JSON object of names to permutations.
    """
    entries = [entry for entry in model.metadata_props if _text(entry.key) == TRANSPOSED_KEY]
    return transposed_entry(path, _text(entries[-1].value) if entries else None)


def transposed_entry(path: Path, text: str | None) -> dict[str, tuple[int, ...]]:
    """The ``TRANSPOSED_KEY`` metadata entry's text (None: no entry) as :func:`transposed` gives it."""
    if text is None:
        return {}
    document = limits.parse_json(text, path, f"metadata {TRANSPOSED_KEY!r}")
    found: dict[str, tuple[int, ...]] = {}
    if isinstance(document, dict):
        for name, axes in document.items():
            if not (isinstance(axes, list) and all(type(axis) is int for axis in axes)
                    and sorted(axes) == list(range(len(axes)))):
                break
            found[str(name)] = tuple(axes)
        else:
            return found
    raise ReadError(f"{path}: metadata {TRANSPOSED_KEY!r} is not an object of tensor names to axis permutations")


def inspect(path: Path, *, weights: bool = False, **_options: Any) -> OnnxReport:
    """Describes the ONNX model at ``path`` without running it.

    Args:
        path: the ``.onnx`` file.
        weights: decode every initializer (external data from the model's folder)
            and add statistics. Default False.
    """
    path = Path(path)
    model = read_model(path)
    graph = model.graph
    opsets = [{"domain": _text(entry.domain) or "ai.onnx", "version": entry.version} for entry in model.opset_import]
    counts: Counter[tuple[str, str]] = Counter((_text(node.domain), _text(node.op_type)) for node in _walk_nodes(graph))
    ops = [
        {"op": op, "domain": domain or "ai.onnx", "count": count, "custom": domain not in STANDARD_DOMAINS}
        for (domain, op), count in counts.most_common()
    ]
    initializers = [_initializer_row(tensor, path) for tensor in _walk_initializers(graph)]
    if weights:
        for row, tensor in zip(initializers, _walk_initializers(graph)):
            values = tensor_values(tensor, path)
            row["stats"] = _report.tensor_stats(values) if values is not None else None
    initializer_names = {row["name"] for row in initializers}
    totals = _report.weight_totals([row for row in initializers if row["dtype"] in _ELEMENT_BYTES])
    producer = " ".join(_text(part) for part in (model.producer_name, model.producer_version) if part)
    return OnnxReport(
        format="onnx",
        path=str(path),
        kind="external-data" if any(row["stored"] == "external" for row in initializers) else "single-file",
        ir_version=model.ir_version,
        producer=producer,
        model_version=model.model_version,
        domain=_text(model.domain),
        doc_string=_text(model.doc_string)[:1000],
        opsets=opsets,
        summary={
            "graph": _text(graph.name),
            "nodes": sum(counts.values()),
            "op_types": len(counts),
            "custom_ops": sorted({f"{row['domain']}.{row['op']}" for row in ops if row["custom"]}),
            "initializers": len(initializers),
            "parameters": totals["parameters"],
            "bytes": totals["bytes"],
            "external_initializers": sum(1 for row in initializers if row["stored"] == "external"),
            "functions": len(model.functions),
        },
        inputs=[_value_info(value) for value in graph.input if _text(value.name) not in initializer_names],
        outputs=[_value_info(value) for value in graph.output],
        ops=ops,
        initializers=initializers,
        metadata={_text(entry.key): _text(entry.value)[:1000] for entry in model.metadata_props},
    )


register_format(Format(
    name="onnx",
    holds_strings=False,
    description="ONNX model (.onnx protobuf)",
    accept=accept,
    inspect=inspect,
    extensions=(".onnx",),
    title="ONNX",
    no_reader=("an ONNX file is an inference graph without Keras layers, and no maintained ONNX-to-Keras or "
               "ONNX-to-SavedModel converter works offline within convkit's pins: onnx2tf 1.28.8 imports "
               "onnx_graphsurgeon and sng4onnx, which it does not declare, and downloads calibration images at "
               "run time"),
    writer="convkit.convert.writers.onnx:write",
    write_options=WriteOptions(opsets=OPSETS, default_opset=DEFAULT_OPSET, graphs=True, routes=ROUTES,
                               channels_first=True, external_data=True, input_shapes=True),
    runner="convkit.runtimes.onnxruntime:open_onnx",
    smoke_runner="convkit.runtimes.onnxruntime:open_onnx_once",
    default_output=lambda parent, name: parent / f"{name}.onnx",
    graph_extractor="convkit.graph.onnx:from_onnx",
))
