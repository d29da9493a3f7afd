"""TensorFlow ops judged: SavedModel graphs scanned for ops that touch files, processes, the network or
Python, and the allowlist of pure ops a Keras 2.2-2.3 ``TensorFlowOpLayer`` may wrap.

Every node of the graph and of every function in its library is checked
(``ReadFile``, ``WriteFile``, ``PyFunc``, ...); checkpoint ops are allowed only in
the saver's own save/restore functions. A ``TensorFlowOpLayer`` (what tf.keras 2.2-2.3
recorded for ``tf.nn.depth_to_space(x, 2)`` on a Keras tensor) stores a NodeDef: its op is
data when it is one of :data:`PURE_OPS`, each with the TensorFlow function that computes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from convkit.errors import UnsafeModelError


# Ops that read or write files, start processes, reach the network or call back into Python.
RISKY_OPS = frozenset({
    "ReadFile", "WriteFile", "MatchingFiles", "ImmutableConst", "PrintV2",
    "PyFunc", "PyFuncStateless", "EagerPyFunc",
    "WholeFileReader", "WholeFileReaderV2", "TextLineReader", "TextLineReaderV2", "FixedLengthRecordReader",
    "FixedLengthRecordReaderV2", "TFRecordReader", "TFRecordReaderV2", "LMDBReader", "IdentityReader",
    "IdentityReaderV2", "ReaderRead", "ReaderReadV2", "ReaderReadUpTo", "ReaderReadUpToV2",
    "TFRecordDataset", "TFRecordDatasetV2", "TextLineDataset", "FixedLengthRecordDataset",
    "FixedLengthRecordDatasetV2", "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "MatchingFilesDataset",
    "ExperimentalMatchingFilesDataset", "SqlDataset", "ExperimentalSqlDataset", "LMDBDataset",
    "ExperimentalLMDBDataset", "SaveDataset", "SaveDatasetV2", "LoadDataset", "ExperimentalSaveDataset",
    "SnapshotDataset", "SnapshotDatasetV2", "DatasetToTFRecord", "ExperimentalDatasetToTFRecord",
    "InitializeTableFromTextFile", "InitializeTableFromTextFileV2", "GenerateVocabRemapping",
    "LoadAndRemapMatrix", "SummaryWriter", "CreateSummaryFileWriter", "CreateSummaryDbWriter",
    "WriteSummary", "WriteScalarSummary", "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary",
    "WriteGraphSummary", "WriteRawProtoSummary", "ImportEvent", "FlushSummaryWriter",
    "DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary",
    "DebugNumericSummaryV2", "DecodeProtoV2", "EncodeProto", "RecvTPUEmbeddingActivations", "_Recv", "_Send",
    "_HostRecv", "_HostSend", "CollectiveBcastRecv", "CollectiveBcastSend",
})


@dataclass(frozen=True)
class PureOp:
    """A pure math/array op and the TensorFlow function computing it.

    Attributes:
        function: the function under ``tf.`` (``nn.depth_to_space``), as a ``TFOpLambda`` names it.
        inputs: the function's argument names for the op's inputs, in the NodeDef's input order.
        attrs: NodeDef attribute -> the function's argument name; other attributes may only be dtypes.
    """

    function: str
    inputs: tuple[str, ...]
    attrs: tuple[tuple[str, str], ...] = ()


_UNARY = {"Sigmoid": "math.sigmoid", "Tanh": "math.tanh", "Exp": "math.exp", "Log": "math.log",
          "Sqrt": "math.sqrt", "Rsqrt": "math.rsqrt", "Square": "math.square", "Abs": "math.abs",
          "Neg": "math.negative", "Floor": "math.floor"}
_FEATURES = {"Relu": "nn.relu", "Relu6": "nn.relu6", "Elu": "nn.elu", "Selu": "nn.selu", "Softplus": "math.softplus"}
_BINARY = {"Add": "math.add", "AddV2": "math.add", "Sub": "math.subtract", "Mul": "math.multiply",
           "RealDiv": "math.truediv", "Maximum": "math.maximum", "Minimum": "math.minimum", "Pow": "math.pow",
           "SquaredDifference": "math.squared_difference"}
_REDUCTIONS = {"Mean": "math.reduce_mean", "Sum": "math.reduce_sum", "Max": "math.reduce_max",
               "Min": "math.reduce_min"}
# Ops a TensorFlowOpLayer may wrap: pure math and array ops, each with the function that computes it.
PURE_OPS: dict[str, PureOp] = {
    **{op: PureOp(function, ("x",)) for op, function in _UNARY.items()},
    **{op: PureOp(function, ("features",)) for op, function in _FEATURES.items()},
    **{op: PureOp(function, ("x", "y")) for op, function in _BINARY.items()},
    **{op: PureOp(function, ("input_tensor", "axis"), (("keep_dims", "keepdims"),))
       for op, function in _REDUCTIONS.items()},
    "Softmax": PureOp("nn.softmax", ("logits",)),
    "Identity": PureOp("identity", ("input",)),
    "Reshape": PureOp("reshape", ("tensor", "shape")),
    "Transpose": PureOp("transpose", ("a", "perm")),
    "ExpandDims": PureOp("expand_dims", ("input", "axis")),
    "Squeeze": PureOp("squeeze", ("input",), (("squeeze_dims", "axis"),)),
    "DepthToSpace": PureOp("nn.depth_to_space", ("input",), (("block_size", "block_size"), ("data_format", "data_format"))),
    "SpaceToDepth": PureOp("nn.space_to_depth", ("input",), (("block_size", "block_size"), ("data_format", "data_format"))),
}
# NodeDef attributes naming dtypes only (the function infers them from its inputs).
DTYPE_ATTRS = frozenset({"T", "Tidx", "Tshape", "Tperm", "Tdim"})


def tf_op_layer_op(config: Any) -> Any:
    """The op a ``TensorFlowOpLayer``'s config wraps (its ``node_def``'s ``op``), or ``None`` when unreadable."""
    node_def = config.get("node_def") if isinstance(config, dict) else None
    return node_def.get("op") if isinstance(node_def, dict) else None


# Checkpoint ops: data files, allowed only in the saver's own save/restore functions.
CHECKPOINT_OPS = frozenset({
    "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints",
})


@dataclass(frozen=True)
class RiskyOp:
    """One op in a SavedModel graph that touches files, processes, the network or Python.

    Attributes:
        op: the op type (``ReadFile``).
        node: the node's name.
        function: the library function holding it, or ``None`` for the top-level graph.
    """

    op: str
    node: str
    function: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "node": self.node, "function": self.function}

    def describe(self) -> str:
        inside = f" in function {self.function!r}" if self.function else ""
        return f"a {self.op} op ({self.node!r}{inside})"


def risky_ops(saved_model: Any) -> list[RiskyOp]:
    """Ops of every meta graph of a decoded ``SavedModel`` message (graph and every library function)."""
    found: list[RiskyOp] = []
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        saver_nodes, saver_scope = _saver_nodes(meta_graph)
        saver_functions = {
            node.attr["f"].func.name for node in graph.node if node.name in saver_nodes and "f" in node.attr
        }
        for node in graph.node:
            in_saver = node.name in saver_nodes or bool(saver_scope and node.name.startswith(saver_scope))
            if node.op in RISKY_OPS or (node.op in CHECKPOINT_OPS and not in_saver):
                found.append(RiskyOp(node.op, node.name, None))
        for function in graph.library.function:
            name = function.signature.name
            for node in function.node_def:
                if node.op in RISKY_OPS or (node.op in CHECKPOINT_OPS and name not in saver_functions):
                    found.append(RiskyOp(node.op, node.name, name))
    return found


def _saver_nodes(meta_graph: Any) -> tuple[set[str], str | None]:
    if not meta_graph.HasField("saver_def"):
        return set(), None
    saver = meta_graph.saver_def
    names = {saver.save_tensor_name.split(":")[0], saver.restore_op_name.split(":")[0]}
    names.discard("")
    # TF1 savers keep their ops under one scope (save/SaveV2, save/restore_all).
    scopes = {name.split("/")[0] for name in names if "/" in name}
    scope = f"{scopes.pop()}/" if len(scopes) == 1 else None
    return names, scope


def refuse_risky_graph(saved_model: Any, path: Path, allow_unsafe: bool) -> None:
    """Raises ``UnsafeModelError`` when the graph holds risky ops, unless ``allow_unsafe``."""
    if allow_unsafe:
        return
    found = risky_ops(saved_model)
    if found:
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        raise UnsafeModelError(
            f"{path}: the SavedModel graph holds {found[0].describe()}{more}, which reaches files, processes, "
            "the network or Python when run; pass --unsafe only if you trust the file"
        )
