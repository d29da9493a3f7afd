"""The checkpoint reader against TensorFlow's own, and against broken files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convkit.containers import tensor_bundle
from convkit.errors import ReadError
from convkit.formats import checkpoint
from tests.formats._artifacts import copy_checkpoint

PREFIXES = [
    "training_1/cp.ckpt",
    "training_2/cp-0000.ckpt",
    "training_2/cp-0005.ckpt",
    "checkpoints/my_checkpoint",
    "saved_model/my_model/variables/variables",
]


@pytest.mark.parametrize("relative", PREFIXES)
def test_reader_matches_tensorflow(trained: Path, relative: str) -> None:
    import tensorflow as tf

    prefix = trained / relative
    reference = tf.train.load_checkpoint(str(prefix))
    shapes = reference.get_variable_to_shape_map()
    dtypes = reference.get_variable_to_dtype_map()
    index = checkpoint.read_index(prefix)
    entries = {entry.key: entry for entry in index.entries}
    assert set(entries) == set(shapes)
    for key, shape in shapes.items():
        assert entries[key].shape == tuple(shape), key
        if dtypes[key] != tf.string:
            assert np.dtype(entries[key].dtype) == dtypes[key].as_numpy_dtype, key
    tensors = dict(checkpoint.iter_tensors(prefix))
    assert set(tensors) == set(shapes) - {checkpoint.OBJECT_GRAPH_KEY}
    for key, value in tensors.items():
        np.testing.assert_array_equal(value, reference.get_tensor(key), err_msg=key)
    graph = checkpoint.read_object_graph(prefix)
    from tensorflow.core.protobuf.trackable_object_graph_pb2 import TrackableObjectGraph

    expected = TrackableObjectGraph()  # TensorFlow's own class parses the same bytes
    expected.ParseFromString(reference.get_tensor(checkpoint.OBJECT_GRAPH_KEY))
    assert graph.SerializeToString() == expected.SerializeToString()
    assert tensor_bundle.check_crc32c(index) == {"checked": len(index.entries), "ok": True, "mismatches": []}


def test_resolve_prefix_accepts_every_spelling(trained_k3: Path) -> None:
    prefix = trained_k3 / "training_2" / "cp-0005.ckpt"
    assert checkpoint.resolve_prefix(prefix) == prefix
    assert checkpoint.resolve_prefix(Path(f"{prefix}.index")) == prefix
    assert checkpoint.resolve_prefix(Path(f"{prefix}.data-00000-of-00001")) == prefix
    assert checkpoint.resolve_prefix(prefix.parent) == prefix  # latest in the `checkpoint` state file
    with pytest.raises(ReadError, match="no cp-9999.ckpt.index"):
        checkpoint.resolve_prefix(prefix.with_name("cp-9999.ckpt"))


def test_read_tensor_by_key(trained_k2: Path) -> None:
    prefix = trained_k2 / "checkpoints" / "my_checkpoint"
    key = next(e.key for e in checkpoint.read_index(prefix).entries if e.shape == (784, 512))
    assert checkpoint.read_tensor(prefix, key).shape == (784, 512)
    with pytest.raises(ReadError, match="no tensor named 'nope'"):
        checkpoint.read_tensor(prefix, "nope")


def test_inspect_directory_shows_latest_and_all(trained: Path) -> None:
    report = checkpoint.inspect(trained / "training_2").to_dict()
    assert report["format"] == "ckpt"
    assert report["state"]["latest"] == "cp-0005.ckpt"
    assert report["state"]["all"][-1] == "cp-0005.ckpt"  # tf_keras keeps only the latest in the list
    assert all(c["present"] for c in report["state"]["checkpoints"])
    assert report["prefix"].endswith("cp-0005.ckpt")
    assert report["header"] == {
        "num_shards": 1, "endianness": "little", "version": {"producer": 1, "min_consumer": 0, "bad_consumers": []},
    }
    kernels = [t for t in report["tensors"] if t["shape"] == [784, 512]]
    assert kernels and all(len(t["crc32c"]) == 8 for t in kernels)
    assert {"key", "dtype", "shape", "shard", "offset", "size", "crc32c"} <= set(report["tensors"][0])
    # model weights: 784*512 + 512 + 512*10 + 10, found under the objects that own them
    assert sum(o["parameters"] for o in report["objects"] if "optimizer" not in o["object"]) == 407050
    tree = report["object_graph"]
    assert any(child["name"] == "optimizer" for child in _walk(tree))


def test_weights_option_adds_statistics(trained_k3: Path) -> None:
    report = checkpoint.inspect(trained_k3 / "checkpoints", weights=True).to_dict()
    kernel = next(t for t in report["tensors"] if t["shape"] == [784, 512] and "optimizer" not in t["key"])
    value = checkpoint.read_tensor(trained_k3 / "checkpoints" / "my_checkpoint", kernel["key"])
    assert kernel["stats"]["min"] == pytest.approx(float(value.min()))
    assert kernel["stats"]["std"] == pytest.approx(float(value.std()), rel=1e-5)
    assert kernel["stats"]["nan"] == 0 and kernel["stats"]["inf"] == 0


def test_verify_catches_a_flipped_byte(trained_k2: Path, tmp_path: Path) -> None:
    prefix = copy_checkpoint(trained_k2 / "training_1" / "cp.ckpt", tmp_path)
    index = checkpoint.read_index(prefix)
    entry = next(e for e in index.entries if e.shape == (512, 10))
    shard = index.shard_path(0)
    data = bytearray(shard.read_bytes())
    data[entry.offset + 17] ^= 0x01
    shard.write_bytes(bytes(data))
    result = tensor_bundle.check_crc32c(index)
    assert not result["ok"]
    assert [m["key"] for m in result["mismatches"]] == [entry.key]


def test_missing_data_shard_is_named(trained_k3: Path, tmp_path: Path) -> None:
    prefix = copy_checkpoint(trained_k3 / "training_1" / "cp.ckpt", tmp_path)
    Path(f"{prefix}.data-00000-of-00001").unlink()
    with pytest.raises(ReadError, match=r"cp\.ckpt\.data-00000-of-00001: checkpoint data shard is missing"):
        checkpoint.inspect(prefix)


def test_truncated_data_shard(trained_k3: Path, tmp_path: Path) -> None:
    prefix = copy_checkpoint(trained_k3 / "training_1" / "cp.ckpt", tmp_path)
    shard = Path(f"{prefix}.data-00000-of-00001")
    shard.write_bytes(shard.read_bytes()[:1000])
    with pytest.raises(ReadError, match="truncated data shard"):
        dict(checkpoint.iter_tensors(prefix))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-10], "bad table magic"),
        (lambda data: data[:20], "too short for a table footer"),
        (lambda data: b"\x00" * len(data), "bad table magic"),
        (lambda data: bytes([data[0] ^ 0xFF]) + data[1:], "CRC32C"),
    ],
    ids=["truncated", "tiny", "zeros", "flipped"],
)
def test_damaged_index(trained_k3: Path, tmp_path: Path, damage, message: str) -> None:
    prefix = copy_checkpoint(trained_k3 / "training_1" / "cp.ckpt", tmp_path)
    index = Path(f"{prefix}.index")
    index.write_bytes(damage(index.read_bytes()))
    with pytest.raises(ReadError, match=message):
        checkpoint.read_index(prefix)


def test_index_over_the_size_limit(trained_k3: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from convkit.containers import limits

    prefix = copy_checkpoint(trained_k3 / "training_1" / "cp.ckpt", tmp_path)
    monkeypatch.setattr(limits, "MAX_INDEX_BYTES", 100)
    with pytest.raises(ReadError, match="over convkit's limit of 100 bytes"):
        checkpoint.read_index(prefix)


def test_mask_round_trip() -> None:
    for value in (0, 1, 0xFFFFFFFF, 0x12345678):
        assert tensor_bundle.unmask_crc(tensor_bundle.mask_crc(value)) == value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_index_only_raises_read_error(trained_k2: Path, tmp_path_factory: pytest.TempPathFactory, data) -> None:
    source = Path(f"{trained_k2 / 'training_1' / 'cp.ckpt'}.index").read_bytes()
    mutated = bytearray(source)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        mutated[position] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        mutated = mutated[: data.draw(st.integers(0, len(mutated)))]
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "x.index").write_bytes(bytes(mutated))
    try:
        checkpoint.read_index(folder / "x")
    except ReadError:
        pass


def test_table_reader_decodes_handmade_table(tmp_path: Path) -> None:
    # A one-block table written by hand from the format description: two restarts, shared prefixes.
    def varint(value: int) -> bytes:
        out = b""
        while value >= 0x80:
            out += bytes([value & 0x7F | 0x80])
            value >>= 7
        return out + bytes([value])

    def block(entries: list[tuple[bytes, bytes]], restart_every: int) -> bytes:
        body, restarts, previous = b"", [], b""
        for number, (key, value) in enumerate(entries):
            shared = 0
            if number % restart_every:
                while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                    shared += 1
            else:
                restarts.append(len(body))
            body += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
            previous = key
        return body + b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))

    def with_trailer(contents: bytes) -> bytes:
        return contents + b"\x00" + struct.pack("<I", tensor_bundle.mask_crc(tensor_bundle.crc32c(contents + b"\x00")))

    entries = [(b"alpha", b"1"), (b"alphabet", b"22"), (b"beta", b"333"), (b"betamax", b"")]
    data_block = with_trailer(block(entries, 2))
    index_block = with_trailer(block([(b"betamax", varint(0) + varint(len(data_block) - 5))], 1))
    meta_block = with_trailer(block([(b"", b"")][:0] or [(b"m", b"")], 1))
    meta_at = len(data_block)
    index_at = meta_at + len(meta_block)
    handles = varint(meta_at) + varint(len(meta_block) - 5) + varint(index_at) + varint(len(index_block) - 5)
    footer = handles.ljust(40, b"\x00") + struct.pack("<Q", checkpoint.TABLE_MAGIC)
    (tmp_path / "t.index").write_bytes(data_block + meta_block + index_block + footer)
    assert tensor_bundle.read_table(tmp_path / "t.index") == entries


def _walk(node: dict) -> list[dict]:
    found = [node]
    for child in node.get("children", []):
        found.extend(_walk(child))
    return found


def test_optimizer_slots_appear_in_the_tree(tmp_path: Path) -> None:
    # tf_keras' legacy optimizers record their slots (m, v) as slot variables of the object graph.
    import tensorflow as tf
    import tf_keras

    variable = tf.Variable([1.0, 2.0, 3.0], name="w")
    optimizer = tf_keras.optimizers.legacy.Adam(0.1)
    optimizer.apply_gradients([(tf.constant([0.5, 0.5, 0.5]), variable)])
    prefix = tf.train.Checkpoint(w=variable, optimizer=optimizer).write(str(tmp_path / "slots"))
    report = checkpoint.inspect(Path(prefix)).to_dict()
    nodes = _walk(report["object_graph"])
    w = next(node for node in nodes if node["name"] == "w")
    assert sorted(slot["slot"] for slot in w["slots"]) == ["m", "v"]
    slot_keys = [t["key"] for t in report["tensors"] if ".OPTIMIZER_SLOT" in t["key"]]
    assert len(slot_keys) == 2
    assert report["summary"]["optimizer_tensors"] >= 2
