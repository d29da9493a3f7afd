"""Mutation operators shared by the fuzz targets: bytes, JSON documents, protobuf messages, LevelDB tables.

Every operator draws its choices from a ``Chooser``, so the same code is driven
by hypothesis (``HypothesisChooser``: shrinkable, example database) in the test
suite and in the long ``python -m tests.fuzz.run`` campaign.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Sequence

INTERESTING_INTS = (
    0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
    0xFFFFFFFF, 0x100000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF,
)
INTERESTING_SIGNED = (0, 1, -1, 2, 3, 255, 256, 65535, 1 << 20, 1 << 31, -(1 << 31), (1 << 31) - 1, 1 << 40,
                      (1 << 62), -(1 << 62), (1 << 63) - 1)
HOSTILE_TEXT = ("", "../x", "../../etc/passwd", "/etc/passwd", "/dev/zero", "C:\\x", "..\\x", "a/../../b", "\x00",
                "\u202e", "é", "x" * 300, "model.json", "group1-shard1of1.bin", "Lambda", "__lambda__", "float32",
                "float16", "uint8", "string", "int64", "complex64", "bool", "resource", "layers-model", "graph-model")


class Chooser:
    """Where mutation operators get their decisions from."""

    def integer(self, low: int, high: int) -> int:
        raise NotImplementedError

    def raw(self, max_size: int) -> bytes:
        raise NotImplementedError

    def choice(self, items: Sequence[Any]) -> Any:
        return items[self.integer(0, len(items) - 1)]

    def boolean(self) -> bool:
        return self.integer(0, 1) == 1


class HypothesisChooser(Chooser):
    def __init__(self, data: Any) -> None:
        from hypothesis import strategies as st

        self.data = data
        self.st = st

    def integer(self, low: int, high: int) -> int:
        return self.data.draw(self.st.integers(low, high))

    def raw(self, max_size: int) -> bytes:
        return self.data.draw(self.st.binary(max_size=max_size))


# ------------------------------------------------------------------ bytes


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def mutate_bytes(data: bytes, chooser: Chooser, max_ops: int = 6) -> bytes:
    """1..max_ops byte-level mutations: flips, interesting integers, varints, cuts, inserts, splices."""
    buffer = bytearray(data)
    for _ in range(chooser.integer(1, max_ops)):
        size = len(buffer)
        op = chooser.integer(0, 8)
        at = chooser.integer(0, max(size - 1, 0))
        if op == 0 and size:
            buffer[at] ^= 1 << chooser.integer(0, 7)
        elif op == 1 and size:
            buffer[at] = chooser.choice((0x00, 0xFF, 0x7F, 0x80, 0x01, chooser.integer(0, 255)))
        elif op == 2 and size:
            width = chooser.choice((1, 2, 4, 8))
            value = chooser.choice(INTERESTING_INTS) & ((1 << (8 * width)) - 1)
            packed = value.to_bytes(width, chooser.choice(("little", "big")))
            buffer[at : at + width] = packed
        elif op == 3:
            del buffer[at:]
        elif op == 4 and size:
            del buffer[at : at + chooser.integer(1, 256)]
        elif op == 5:
            buffer[at:at] = chooser.raw(64)
        elif op == 6 and size:
            length = chooser.integer(1, 512)
            chunk = bytes(buffer[at : at + length])
            where = chooser.integer(0, size)
            buffer[where:where] = chunk
        elif op == 7 and size:
            encoded = varint(chooser.choice(INTERESTING_INTS))
            buffer[at : at + len(encoded)] = encoded
        elif op == 8 and size:
            buffer[at] = chooser.integer(0, 255)
    return bytes(buffer)


# ------------------------------------------------------------------ JSON


def _json_value(chooser: Chooser, depth: int = 0) -> Any:
    kind = chooser.integer(0, 9)
    if kind == 0:
        return None
    if kind == 1:
        return chooser.boolean()
    if kind == 2:
        return chooser.choice(INTERESTING_SIGNED)
    if kind == 3:
        return chooser.choice((0.0, -0.0, 1e308, -1e308, 0.5, 1e-45))
    if kind == 4:
        return chooser.choice(HOSTILE_TEXT)
    if kind == 5:
        return chooser.raw(16).decode("latin-1")
    if kind == 6 and depth < 3:
        return [_json_value(chooser, depth + 1) for _ in range(chooser.integer(0, 3))]
    if kind == 7 and depth < 3:
        return {chooser.choice(HOSTILE_TEXT[:14]): _json_value(chooser, depth + 1) for _ in range(chooser.integer(0, 3))}
    if kind == 8:
        depth_of_nesting = chooser.choice((10, 200, 900, 5000))
        value: Any = []
        for _ in range(depth_of_nesting):
            value = [value]
        return value
    return [chooser.choice(INTERESTING_SIGNED) for _ in range(chooser.integer(0, 4))]


def _json_slots(document: Any, limit: int = 4000) -> list[tuple[Any, Any]]:
    """(container, key) pairs for every value in the document, breadth first, at most ``limit``."""
    slots: list[tuple[Any, Any]] = []
    queue = [document]
    while queue and len(slots) < limit:
        node = queue.pop(0)
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            slots.append((node, key))
            if isinstance(value, (dict, list)):
                queue.append(value)
    return slots


def mutate_json_document(document: Any, chooser: Chooser, max_ops: int = 4) -> Any:
    """Replaces, deletes, duplicates or renames values anywhere in a parsed JSON document (in place)."""
    for _ in range(chooser.integer(1, max_ops)):
        slots = _json_slots(document)
        if not slots:
            return _json_value(chooser)
        container, key = slots[chooser.integer(0, len(slots) - 1)]
        op = chooser.integer(0, 4)
        if op <= 1:
            container[key] = _json_value(chooser)
        elif op == 2:
            del container[key]
        elif op == 3 and isinstance(container, list):
            container.insert(key, json.loads(json.dumps(container[key])))
        elif op == 3 or op == 4:
            if isinstance(container, dict):
                container[chooser.choice(HOSTILE_TEXT[:14]) + str(chooser.integer(0, 3))] = container.pop(key)
            elif isinstance(container[key], (int, float)) and not isinstance(container[key], bool):
                container[key] = container[key] * chooser.choice((-1, 0, 2, 1 << 20))
    return document


def mutate_json_text(text: bytes, chooser: Chooser) -> bytes:
    """Structured JSON mutation most of the time, raw byte mutation of the text otherwise."""
    if chooser.integer(0, 4) == 0:
        return mutate_bytes(text, chooser)
    document = json.loads(text)
    return json.dumps(mutate_json_document(document, chooser)).encode()


# ------------------------------------------------------------------ protobuf


def _proto_fields(message: Any, limit: int = 3000) -> list[tuple[Any, Any]]:
    from google.protobuf.descriptor import FieldDescriptor

    found: list[tuple[Any, Any]] = []
    queue = [(message, 0)]
    while queue and len(found) < limit:
        current, depth = queue.pop(0)
        for field, value in current.ListFields():
            found.append((current, field))
            if field.type != FieldDescriptor.TYPE_MESSAGE or depth > 16:
                continue
            is_map = field.message_type.GetOptions().map_entry
            if is_map:
                value_field = field.message_type.fields_by_name["value"]
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    queue.extend((value[key], depth + 1) for key in list(value)[:50])
            elif field.label == FieldDescriptor.LABEL_REPEATED:
                queue.extend((item, depth + 1) for item in list(value)[:50])
            else:
                queue.append((value, depth + 1))
    return found


def _scalar_for(field: Any, chooser: Chooser) -> Any:
    from google.protobuf.descriptor import FieldDescriptor as F

    kind = field.type
    if kind in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32, F.TYPE_ENUM):
        return max(-(1 << 31), min((1 << 31) - 1, chooser.choice(INTERESTING_SIGNED)))
    if kind in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return chooser.choice(INTERESTING_INTS) & 0xFFFFFFFF
    if kind in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return chooser.choice(INTERESTING_SIGNED)
    if kind in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return chooser.choice(INTERESTING_INTS)
    if kind == F.TYPE_BOOL:
        return chooser.boolean()
    if kind in (F.TYPE_FLOAT, F.TYPE_DOUBLE):
        return chooser.choice((0.0, -1.0, float("nan"), float("inf"), 1e38))
    if kind == F.TYPE_STRING:
        return chooser.choice(HOSTILE_TEXT)
    if kind == F.TYPE_BYTES:
        return chooser.raw(32)
    return None


def mutate_message(message: Any, chooser: Chooser, max_ops: int = 4) -> Any:
    """Changes, clears, drops or duplicates fields anywhere in a protobuf message (in place)."""
    from google.protobuf.descriptor import FieldDescriptor as F

    for _ in range(chooser.integer(1, max_ops)):
        fields = _proto_fields(message)
        if not fields:
            return message
        owner, field = fields[chooser.integer(0, len(fields) - 1)]
        value = getattr(owner, field.name)
        is_map = field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry
        op = chooser.integer(0, 3)
        if op == 0:
            owner.ClearField(field.name)
        elif is_map:
            keys = list(value)
            if keys:
                del value[chooser.choice(keys)]
        elif field.label == F.LABEL_REPEATED:
            if not len(value):
                continue
            index = chooser.integer(0, len(value) - 1)
            if op == 1:
                del value[index]
            elif field.type == F.TYPE_MESSAGE:
                value.add().CopyFrom(value[index])
            else:
                replacement = _scalar_for(field, chooser)
                try:
                    value[index] = replacement
                except (ValueError, TypeError):
                    pass
        elif field.type == F.TYPE_MESSAGE:
            owner.ClearField(field.name) if op == 1 else None
        else:
            try:
                setattr(owner, field.name, _scalar_for(field, chooser))
            except (ValueError, TypeError):
                pass
    return message


# ------------------------------------------------------------------ LevelDB table (checkpoint .index)


def write_table(pairs: list[tuple[bytes, bytes]]) -> bytes:
    """A LevelDB-style table holding ``pairs`` in one data block, as TensorFlow's index files are laid out."""
    from convkit.containers.tensor_bundle import crc32c, mask_crc

    out = bytearray()

    def block(entries: list[tuple[bytes, bytes]]) -> tuple[int, int]:
        body = bytearray()
        restarts = []
        for key, value in entries:
            restarts.append(len(body))
            body += varint(0) + varint(len(key)) + varint(len(value)) + key + value
        restarts = restarts or [0]
        for restart in restarts:
            body += struct.pack("<I", restart)
        body += struct.pack("<I", len(restarts))
        offset = len(out)
        out.extend(body)
        out.extend(b"\x00" + struct.pack("<I", mask_crc(crc32c(bytes(body) + b"\x00"))))
        return offset, len(body)

    data_offset, data_size = block(pairs)
    meta_offset, meta_size = block([])
    last_key = pairs[-1][0] if pairs else b""
    index_offset, index_size = block([(last_key, varint(data_offset) + varint(data_size))])
    footer = varint(meta_offset) + varint(meta_size) + varint(index_offset) + varint(index_size)
    footer = footer.ljust(40, b"\x00") + struct.pack("<Q", 0xDB4775248B80FB57)
    return bytes(out) + footer
