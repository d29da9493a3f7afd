"""TensorFlow protobuf messages, without TensorFlow.

``tensorboard.compat.proto`` ships most of TensorFlow's messages (MetaGraphDef,
TrackableObjectGraph, ...). The few it lacks are small, stable wire formats;
they are declared here field by field, on top of tensorboard's descriptors,
so that no TensorFlow import is ever needed to read a model file:

- ``SavedModel`` (saved_model.pb): schema version + repeated MetaGraphDef.
- ``BundleHeaderProto``/``BundleEntryProto``/``TensorSliceProto``: the values
  stored in a checkpoint's ``.index`` table.
- ``FingerprintDef`` (fingerprint.pb).
- ``CheckpointState``: the text ``checkpoint`` file.
- ``SavedMetadata`` (keras_metadata.pb written by Keras 2).

A test checks each declaration against TensorFlow's own descriptors.
"""

from __future__ import annotations

import functools
from typing import Any

_FILE_NAME = "convkit/formats/tensorflow_extra.proto"

_TB = "tensorboard/compat/proto/"

# (message name, [(field name, number, label, type, type_name)]) with
# label 1 optional / 3 repeated; type numbers from descriptor.proto.
_INT32, _INT64, _UINT64, _FIXED32, _DOUBLE, _STRING, _MESSAGE, _ENUM = 5, 3, 4, 7, 1, 9, 11, 14
_OPT, _REP = 1, 3

_MESSAGES: list[tuple[str, list[tuple[str, int, int, int, str]]]] = [
    ("SavedModel", [
        ("saved_model_schema_version", 1, _OPT, _INT64, ""),
        ("meta_graphs", 2, _REP, _MESSAGE, ".tensorboard.MetaGraphDef"),
    ]),
    ("BundleHeaderProto", [
        ("num_shards", 1, _OPT, _INT32, ""),
        ("endianness", 2, _OPT, _ENUM, ".convkit.tf.BundleHeaderProto.Endianness"),
        ("version", 3, _OPT, _MESSAGE, ".tensorboard.VersionDef"),
    ]),
    ("TensorSliceProto", [
        ("extent", 1, _REP, _MESSAGE, ".convkit.tf.TensorSliceProto.Extent"),
    ]),
    ("BundleEntryProto", [
        ("dtype", 1, _OPT, _ENUM, ".tensorboard.DataType"),
        ("shape", 2, _OPT, _MESSAGE, ".tensorboard.TensorShapeProto"),
        ("shard_id", 3, _OPT, _INT32, ""),
        ("offset", 4, _OPT, _INT64, ""),
        ("size", 5, _OPT, _INT64, ""),
        ("crc32c", 6, _OPT, _FIXED32, ""),
        ("slices", 7, _REP, _MESSAGE, ".convkit.tf.TensorSliceProto"),
    ]),
    ("FingerprintDef", [
        ("saved_model_checksum", 1, _OPT, _UINT64, ""),
        ("graph_def_program_hash", 2, _OPT, _UINT64, ""),
        ("signature_def_hash", 3, _OPT, _UINT64, ""),
        ("saved_object_graph_hash", 4, _OPT, _UINT64, ""),
        ("checkpoint_hash", 5, _OPT, _UINT64, ""),
        ("version", 6, _OPT, _MESSAGE, ".tensorboard.VersionDef"),
        ("uuid", 7, _OPT, _STRING, ""),
    ]),
    ("CheckpointState", [
        ("model_checkpoint_path", 1, _OPT, _STRING, ""),
        ("all_model_checkpoint_paths", 2, _REP, _STRING, ""),
        ("all_model_checkpoint_timestamps", 3, _REP, _DOUBLE, ""),
        ("last_preserved_timestamp", 4, _OPT, _DOUBLE, ""),
    ]),
    ("KerasSavedObject", [
        ("node_id", 2, _OPT, _INT32, ""),
        ("node_path", 3, _OPT, _STRING, ""),
        ("identifier", 4, _OPT, _STRING, ""),
        ("metadata", 5, _OPT, _STRING, ""),
        ("version", 6, _OPT, _MESSAGE, ".tensorboard.VersionDef"),
    ]),
    ("SavedMetadata", [
        ("nodes", 1, _REP, _MESSAGE, ".convkit.tf.KerasSavedObject"),
    ]),
]


@functools.cache
def _classes() -> dict[str, Any]:
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from tensorboard.compat.proto import meta_graph_pb2, tensor_shape_pb2, types_pb2, versions_pb2  # noqa: F401

    file_proto = descriptor_pb2.FileDescriptorProto(name=_FILE_NAME, package="convkit.tf", syntax="proto3")
    file_proto.dependency.extend([
        _TB + "meta_graph.proto", _TB + "versions.proto", _TB + "types.proto", _TB + "tensor_shape.proto",
    ])
    for name, fields in _MESSAGES:
        message = file_proto.message_type.add(name=name)
        for field_name, number, label, kind, type_name in fields:
            field = message.field.add(name=field_name, number=number, label=label, type=kind)
            if type_name:
                field.type_name = type_name
        if name == "BundleHeaderProto":
            enum = message.enum_type.add(name="Endianness")
            enum.value.add(name="LITTLE", number=0)
            enum.value.add(name="BIG", number=1)
        if name == "TensorSliceProto":
            extent = message.nested_type.add(name="Extent")
            extent.field.add(name="start", number=1, label=_OPT, type=_INT64)
            extent.field.add(name="length", number=2, label=_OPT, type=_INT64, oneof_index=0)
            extent.oneof_decl.add(name="has_length")
    pool = descriptor_pool.Default()
    try:
        file_descriptor = pool.FindFileByName(_FILE_NAME)
    except KeyError:
        file_descriptor = pool.Add(file_proto) or pool.FindFileByName(_FILE_NAME)
    return {
        name: message_factory.GetMessageClass(file_descriptor.message_types_by_name[name]) for name, _ in _MESSAGES
    }


def message_class(name: str) -> Any:
    """The message class called ``name`` (``SavedModel``, ``BundleEntryProto``, ...)."""
    return _classes()[name]


def parse(name: str, data: bytes) -> Any:
    """Decodes ``data`` as the message ``name``; raises ``google.protobuf.message.DecodeError``."""
    message = message_class(name)()
    message.ParseFromString(data)
    return message


def parse_file_message(name: str, data: bytes, path: Any, what: str) -> Any:
    """Decodes ``data`` (read from ``path``) as the message ``name``; any failure is one ``ReadError``."""
    from google.protobuf.message import DecodeError

    from convkit.errors import ReadError

    try:
        return parse(name, data)
    except (DecodeError, RecursionError, ValueError):
        raise ReadError(f"{path}: not a {what} protobuf (truncated or corrupt)") from None


def trackable_object_graph_class() -> Any:
    from tensorboard.compat.proto import trackable_object_graph_pb2

    return trackable_object_graph_pb2.TrackableObjectGraph


def dtype_name(enum_value: int) -> str:
    """TensorFlow's DataType enum as a short name (``float32``, ``resource``)."""
    return DTYPE_NAMES.get(int(enum_value) % 100, f"dtype_{int(enum_value)}")


# DataType enum values (types.proto) -> names; `_REF` variants (100+) fold onto their base type.
DTYPE_NAMES = {
    0: "invalid", 1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 7: "string",
    8: "complex64", 9: "int64", 10: "bool", 11: "qint8", 12: "quint8", 13: "qint32", 14: "bfloat16",
    15: "qint16", 16: "quint16", 17: "uint16", 18: "complex128", 19: "float16", 20: "resource",
    21: "variant", 22: "uint32", 23: "uint64", 24: "float8_e5m2", 25: "float8_e4m3fn",
    26: "int4", 27: "uint4",
}


def read_varint(data: bytes, pos: int, end: int | None = None, where: str = "data") -> tuple[int, int]:
    """The base-128 varint at ``data[pos:]`` (stopping before ``end``) and the position after it.

    Raises:
        ValueError: the varint runs past ``end`` or over 64 bits ("bad varint in WHERE").
    """
    end = len(data) if end is None else end
    result = shift = 0
    while pos < end and shift <= 63:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise ValueError(f"bad varint in {where}")


def varint_bytes(value: int) -> bytes:
    """``value`` (not negative) as a base-128 varint, as protobuf writes lengths and tags."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)

