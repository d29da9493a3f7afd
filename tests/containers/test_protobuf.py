"""convkit's declarations of TensorFlow messages match TensorFlow's own descriptors."""

from __future__ import annotations

import pytest

from convkit.containers import protobuf

CASES = [
    ("SavedModel", "tensorflow.core.protobuf.saved_model_pb2", "SavedModel"),
    ("BundleHeaderProto", "tensorflow.core.protobuf.tensor_bundle_pb2", "BundleHeaderProto"),
    ("BundleEntryProto", "tensorflow.core.protobuf.tensor_bundle_pb2", "BundleEntryProto"),
    ("TensorSliceProto", "tensorflow.core.framework.tensor_slice_pb2", "TensorSliceProto"),
    ("FingerprintDef", "tensorflow.core.protobuf.fingerprint_pb2", "FingerprintDef"),
    ("CheckpointState", "tensorflow.python.training.checkpoint_state_pb2", "CheckpointState"),
    ("SavedMetadata", "tf_keras.protobuf.saved_metadata_pb2", "SavedMetadata"),
    ("KerasSavedObject", "tf_keras.protobuf.saved_metadata_pb2", "SavedObject"),
]


def _fields(descriptor) -> dict[str, tuple[int, int, int, str]]:
    return {
        f.name: (f.number, f.type, f.label, f.message_type.name if f.message_type else (f.enum_type.name if f.enum_type else ""))
        for f in descriptor.fields
    }


@pytest.mark.parametrize(("ours", "module", "theirs"), CASES)
def test_declaration_matches_tensorflow(ours: str, module: str, theirs: str) -> None:
    import importlib

    reference = getattr(importlib.import_module(module), theirs).DESCRIPTOR
    mine = protobuf.message_class(ours).DESCRIPTOR
    expected = _fields(reference)
    actual = _fields(mine)
    # Our message names differ only where two TensorFlow files reuse a name (SavedObject).
    renamed = {"SavedObject": "KerasSavedObject"}
    expected = {k: (n, t, label, renamed.get(m, m)) for k, (n, t, label, m) in expected.items()}
    assert actual == expected
