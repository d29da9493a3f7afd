"""What counts as code in a model file: the one rule ``inspect``, ``convert`` and ``check`` apply.

A Keras config is parsed as data (never searched as bytes) and every nested
object in it is judged: layers, activations, initializers, regularizers,
constraints, losses, metrics, optimizers, nested models. An object is data when
it names a Keras built-in by module and class (Keras 3 ``keras.*`` /
``keras.src.*``, tf_keras ``tf_keras.*``; Keras-shipped classes that are not
public, such as ConvNeXt's ``LayerScale``, are recognised by their module, or where a
config names none by their name in Keras' own applications modules;
Keras 3 operations on symbolic tensors by their pure math/array ops module), or
a TensorFlow function on the pure math/array allowlist for tf_keras
``TFOpLambda``/``SlicingOpLambda`` layers. Anything else is code: ``Lambda``
layers, marshalled ``__lambda__`` bytecode, functions or classes from modules
outside Keras (``os.system`` as an activation), registered custom objects.

SavedModel graphs are scanned the same way: every node of the graph and of
every function in its library is checked for ops that touch files, processes,
the network or Python (``ReadFile``, ``WriteFile``, ``PyFunc``, ...).

``inspect`` lists what it finds; ``convert`` and ``check`` refuse it unless the
user passes ``--unsafe``, and :func:`unsafe_scope` limits that permission to one
load.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from convkit.errors import UnsafeModelError

# --- Keras configs ---------------------------------------------------------------------------

# Keras modules whose classes are built-in layers, models and their parts. A class from any other
# module (keras.src.saving, keras.utils, os, subprocess, __main__, ...) is code.
_KERAS_ROOTS = ("keras", "tf_keras", "keras.src", "tf_keras.src")
_KERAS_PARTS: tuple[str, ...] = (
    "layers", "models", "engine", "initializers", "regularizers", "constraints", "activations", "losses",
    "metrics", "optimizers", "dtype_policies", "mixed_precision", "applications", "premade_models",
    "feature_column", "random",
)
# Keras 3 records an operation applied to symbolic tensors in a functional model (``x + 3`` in
# MobileNetV3's hard sigmoid) as an object of its ops modules: pure math and array operations, the
# Keras 3 counterpart of tf_keras' TFOpLambda allowlist. ``ops.core`` (control flow taking functions)
# is not on it.
_KERAS3_OP_PARTS = ("ops.numpy", "ops.math", "ops.nn", "ops.linalg", "ops.image")
_KERAS_PARTS = (*_KERAS_PARTS, *_KERAS3_OP_PARTS)
# Modules whose functions may stand where a Keras config names a function (``class_name: function``).
_FUNCTION_PARTS = ("activations", "losses", "metrics")
# The plain-data wrappers Keras 3 serialises values in.
_DATA_CLASSES = frozenset({
    "__tuple__", "__numpy__", "__bytes__", "__tensor__", "__ellipsis__", "__slice__", "__keras_tensor__",
})
_CODE_LAYER_CLASSES = frozenset({"Lambda"})
_TF_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})

# TensorFlow functions a tf_keras TFOpLambda may call: pure math and array ops, nothing that
# reads or writes files, starts processes or calls back into Python.
_TF_FUNCTION_FAMILIES = ("math.", "nn.", "linalg.", "signal.", "bitwise.", "__operators__.", "image.")
_TF_FUNCTIONS = frozenset({
    "abs", "add", "add_n", "argmax", "argmin", "argsort", "boolean_mask", "broadcast_to", "cast", "clip_by_norm",
    "clip_by_value", "concat", "cos", "cumsum", "divide", "einsum", "equal", "exp", "expand_dims", "eye", "fill",
    "gather", "gather_nd", "greater", "greater_equal", "identity", "less", "less_equal", "linspace", "logical_and",
    "logical_not", "logical_or", "matmul", "maximum", "minimum", "multiply", "negative", "norm", "not_equal",
    "one_hot", "ones", "ones_like", "pad", "pow", "range", "rank", "reduce_all", "reduce_any", "reduce_logsumexp",
    "reduce_max", "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "repeat", "reshape", "reverse", "roll",
    "round", "scatter_nd", "searchsorted", "shape", "sigmoid", "sign", "sin", "size", "slice", "sort", "split",
    "sqrt", "square", "squeeze", "stack", "stop_gradient", "strided_slice", "subtract", "tanh", "tensordot",
    "tensor_scatter_nd_update", "tile", "transpose", "truediv", "unstack", "where", "zeros", "zeros_like",
})
# TensorFlow's own initializer classes (``tf.constant_initializer(0)``, which tf_keras' EfficientNetV2
# uses), recorded with their TensorFlow module: data like Keras' initializers of the same names.
_TF_INITIALIZER_MODULES = frozenset({"tensorflow.python.ops.init_ops_v2", "tensorflow.python.ops.init_ops"})
_TF_INITIALIZERS = frozenset({
    "Constant", "Zeros", "Ones", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
    "Orthogonal", "Identity", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal",
    "LecunUniform",
})
# tf_keras names its own optimizers in training configs under the "Custom>" package.
_TF_KERAS_OPTIMIZERS = frozenset(
    f"Custom>{name}" for name in
    ("Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Ftrl", "Lion", "Adafactor")
)
# Layer classes tf_keras ships in its applications and registers under the "Custom>" package
# (InceptionResNetV2's CustomScaleLayer); their configs name them so, without a module.
_TF_KERAS_REGISTERED_LAYERS = frozenset({"Custom>CustomScaleLayer"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Nodes visited in one config; real configs stay far below (MAX_JSON_BYTES bounds them anyway).
_MAX_NODES = 2_000_000


@dataclass(frozen=True)
class CodeObject:
    """One object in a model config that would run code from the file if loaded.

    Attributes:
        where: the object's place in the model (``sequential/lam``, ``model/dense/kernel_initializer``).
        class_name: the class (or ``function``) it names.
        reason: why it counts as code, in a few words.
    """

    where: str
    class_name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"layer": self.where, "class_name": self.class_name, "reason": self.reason}

    def describe(self) -> str:
        """The object in words, for messages (``a Lambda layer 'lam'``)."""
        name = self.where.rsplit("/", 1)[-1]
        if self.class_name in _CODE_LAYER_CLASSES or self.class_name in _TF_OP_LAYERS:
            return f"a {self.class_name} layer {name!r}"
        return f"{self.reason} at {self.where!r}"


def is_keras_module(module: str, parts: Iterable[str] = _KERAS_PARTS) -> bool:
    """Whether ``module`` is one of Keras' own modules for built-in layers and their parts."""
    if module in ("keras", "tf_keras"):
        return True
    for root in _KERAS_ROOTS:
        for part in parts:
            prefix = f"{root}.{part}"
            if module == prefix or module.startswith(prefix + "."):
                return True
    return False


def is_keras_shipped_class(layer: dict[str, Any]) -> bool:
    """Whether a Keras 3 layer record names a Layer class the installed Keras ships in one of its own modules.

    Keras 3 records each object's module; a class that Keras ships without exporting
    it (ConvNeXt's ``LayerScale`` in ``keras.src.applications.convnext``) is data by the
    same module rule :func:`code_objects` applies. Only such modules are imported (this
    imports Keras: for loading, never for ``inspect``), and the class must be a Keras
    Layer defined there.
    """
    module_name = layer.get("module")
    class_name = layer.get("class_name")
    if not isinstance(module_name, str) or not isinstance(class_name, str) or not _IDENTIFIER.match(class_name):
        return False
    if not module_name.startswith("keras") or not is_keras_module(module_name):
        return False
    if ">" in str(layer.get("registered_name")):
        return False
    import importlib

    import keras

    try:
        found = getattr(importlib.import_module(module_name), class_name, None)
    except ImportError:
        return False
    return isinstance(found, type) and issubclass(found, keras.layers.Layer) and found.__module__ == module_name


def shipped_class_name(class_name: Any) -> Any:
    """``class_name`` without the "Custom>" package tf_keras registers some shipped classes under."""
    return class_name.removeprefix("Custom>") if class_name in _TF_KERAS_REGISTERED_LAYERS else class_name


def tf_keras_class_name(class_name: Any) -> Any:
    """The name a tf_keras config gives ``class_name`` ("Custom>CustomScaleLayer" for CustomScaleLayer)."""
    registered = f"Custom>{class_name}"
    return registered if registered in _TF_KERAS_REGISTERED_LAYERS else class_name


def keras_shipped_layer(class_name: Any, generation: int) -> type | None:
    """The Layer class a Keras generation ships under ``class_name`` in its applications, or None.

    tf_keras configs carry no ``module``: a class such as ConvNeXt's ``LayerScale``
    is found by its name among the Layer subclasses defined in the installed
    Keras' own applications modules (``keras.src.applications.*`` for 3,
    ``tf_keras.src.applications.*`` for 2). Only those modules are imported,
    never one a file names, and a class Keras exports as a public layer is not
    looked up here.

    Args:
        class_name: the ``class_name`` of a layer record.
        generation: 3 for Keras 3, 2 for tf_keras.
    """
    class_name = shipped_class_name(class_name)
    if not isinstance(class_name, str) or not _IDENTIFIER.match(class_name):
        return None
    return _shipped_layers(generation).get(class_name)


def keras_shipped_layers(generation: int) -> dict[str, type]:
    """Every Layer class the installed Keras generation ships in its applications without exporting it.

    By class name: what a load of that generation takes as ``custom_objects`` so that
    a config naming one (without a module, as tf_keras and legacy ``.h5`` configs do)
    builds Keras' own class.
    """
    return dict(_shipped_layers(generation))


@functools.lru_cache(maxsize=2)
def _shipped_layers(generation: int) -> dict[str, type]:
    import importlib

    if generation == 2:
        import tf_keras as keras_module

        package_name = "tf_keras.src.applications"
    else:
        import keras as keras_module

        package_name = "keras.src.applications"
    # The applications modules are those the public keras.applications functions come from.
    module_names = sorted({
        str(getattr(value, "__module__", "")) for value in vars(keras_module.applications).values()
        if callable(value) and str(getattr(value, "__module__", "")).startswith(package_name + ".")
    })
    base = keras_module.layers.Layer
    found: dict[str, type] = {}
    for module_name in module_names:
        for name, value in vars(importlib.import_module(module_name)).items():
            if isinstance(value, type) and issubclass(value, base) and value.__module__ == module_name \
                    and not hasattr(keras_module.layers, name):
                found.setdefault(name, value)
    return found


def is_tf_initializer(node: dict[str, Any]) -> bool:
    """Whether a config object is one of TensorFlow's own initializers (``tf.constant_initializer``)."""
    return (node.get("module") in _TF_INITIALIZER_MODULES and node.get("class_name") in _TF_INITIALIZERS
            and node.get("registered_name") in (None, node.get("class_name")))


def is_keras_operation(layer: dict[str, Any]) -> bool:
    """Whether a Keras 3 functional-model record names an operation of Keras' pure math/array ops modules.

    ``x + 3.0`` in a Keras 3 functional model is recorded as ``keras.src.ops.numpy.Add``;
    the class must be a Keras ``Operation`` defined in that module (imports Keras: for
    loading, never for ``inspect``).
    """
    module_name = layer.get("module")
    class_name = layer.get("class_name")
    if not isinstance(module_name, str) or not isinstance(class_name, str) or not _IDENTIFIER.match(class_name):
        return False
    if not module_name.startswith("keras.src.ops.") or not is_keras_module(module_name, _KERAS3_OP_PARTS):
        return False
    import importlib

    from keras.src.ops.operation import Operation

    found = getattr(importlib.import_module(module_name), class_name, None)
    return isinstance(found, type) and issubclass(found, Operation) and found.__module__ == module_name


def is_allowed_tf_function(name: Any) -> bool:
    """Whether a tf_keras ``TFOpLambda`` may call ``tf.<name>`` (pure math/array ops only)."""
    if not isinstance(name, str):
        return False
    name = name.removeprefix("tf.")
    for prefix in ("compat.v1.", "compat.v2."):
        name = name.removeprefix(prefix)
    if not all(_IDENTIFIER.match(part) for part in name.split(".")):
        return False
    if name in _TF_FUNCTIONS:
        return True
    return name.startswith(_TF_FUNCTION_FAMILIES) and "py_func" not in name and "numpy_function" not in name


def code_objects(config: Any, where: str = "") -> list[CodeObject]:
    """Every object in a Keras config (either generation, any container) that would run code.

    Args:
        config: the parsed JSON config (a model, a layer, or a list of them).
        where: a prefix for the reported places.

    Returns:
        The findings in document order; empty when the config is data only.
    """
    found: list[CodeObject] = []
    inside: tuple[str, ...] = ()
    for node, here, key in _walk(config, where):
        if inside and here.startswith(inside):
            continue  # the parts of a flagged object (a Lambda's own bytecode) are that one finding
        finding = _judge(node, here, key)
        if finding is not None:
            found.append(finding)
            inside = (here + "/",)
    return found


def _walk(config: Any, where: str) -> Iterator[tuple[dict[str, Any], str, str]]:
    """(object dict, its place, the key it sits under) for every dict in ``config``, in document order."""
    stack: list[tuple[Any, str, str]] = [(config, where, "")]
    visited = 0
    while stack:
        node, here, key = stack.pop()
        visited += 1
        if visited > _MAX_NODES:
            # An unwalkable config cannot be cleared as data.
            yield {"class_name": "?", "config": {}, "_too_large": True}, here, key
            return
        if isinstance(node, dict):
            place = here
            config_value = node.get("config")
            if isinstance(node.get("class_name"), str):
                name = config_value.get("name") if isinstance(config_value, dict) else None
                label = name if isinstance(name, str) and name else (key or node["class_name"])
                place = f"{here}/{label}" if here else str(label)
                yield node, place, key
            children = [(value, place, str(child_key)) for child_key, value in node.items()]
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed([(value, here, key) for value in node]))


def _judge(node: dict[str, Any], where: str, key: str) -> CodeObject | None:
    class_name = node["class_name"]
    config = node.get("config")
    module = node.get("module")
    registered = node.get("registered_name")
    if node.get("_too_large"):
        return CodeObject(where, class_name, "a config too large to check for code")
    if class_name in _CODE_LAYER_CLASSES:
        return CodeObject(where, class_name, "Lambda layer: Python code stored in the file")
    if class_name == "__lambda__" or (isinstance(config, dict) and config.get("function_type") == "lambda"):
        return CodeObject(where, class_name, "marshalled Python bytecode (__lambda__) stored in the file")
    if class_name == "__typespec__":
        spec_module = config.get("module") if isinstance(config, dict) else None
        if not (isinstance(spec_module, str) and spec_module.startswith(("tensorflow.", "keras.", "tf_keras."))):
            return CodeObject(where, class_name, f"a type spec from module {spec_module!r}")
        return None
    if class_name.startswith("__") and class_name not in _DATA_CLASSES:
        return CodeObject(where, class_name, f"unknown serialised object {class_name!r}")
    if class_name in _TF_OP_LAYERS:
        function = config.get("function") if isinstance(config, dict) else None
        if not is_allowed_tf_function(function):
            return CodeObject(where, class_name, f"TensorFlow function {function!r} outside convkit's pure-op allowlist")
    if class_name in _TF_KERAS_OPTIMIZERS and module is None and registered in (None, class_name):
        return None
    if class_name in _TF_KERAS_REGISTERED_LAYERS and module is None and registered in (None, class_name):
        return None
    if isinstance(registered, str) and ">" in registered:
        return CodeObject(where, class_name, f"registered custom object {registered!r}")
    if module is not None:
        if not isinstance(module, str):
            return CodeObject(where, class_name, "an object whose module is not a name")
        if class_name == "function":
            if not is_keras_module(module, _FUNCTION_PARTS) or not (isinstance(config, str) and _IDENTIFIER.match(config)):
                return CodeObject(where, class_name, f"function {config!r} from module {module!r}")
        elif is_tf_initializer(node):
            pass
        elif not is_keras_module(module):
            return CodeObject(where, class_name, f"custom object from module {module!r}")
    if not _IDENTIFIER.match(class_name):
        return CodeObject(where, class_name, f"class name {class_name!r} that is not a plain name")
    return None


def refuse_code(config: Any, path: Path, allow_unsafe: bool, where: str = "") -> None:
    """Raises ``UnsafeModelError`` when ``config`` holds code, unless ``allow_unsafe``.

    Raises:
        UnsafeModelError: naming the first code object and ``--unsafe``.
    """
    if allow_unsafe:
        return
    found = code_objects(config, where)
    if found:
        raise UnsafeModelError(
            f"{path}: the model holds {found[0].describe()}, which runs Python code stored in the file "
            "when loaded; pass --unsafe only if you trust the file"
        )


# --- SavedModel graphs -----------------------------------------------------------------------

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


# --- the permission itself ------------------------------------------------------------------


@contextlib.contextmanager
def unsafe_scope(allow_unsafe: bool, generations: tuple[int, ...] = (2, 3)) -> Iterator[None]:
    """Keras safe mode set for one load: off with ``allow_unsafe``, on otherwise; restored afterwards.

    Safe mode is Keras' own refusal of Lambda bytecode. The previous setting comes
    back however the block ends, so ``--unsafe`` never outlives the load it was given for.

    Args:
        allow_unsafe: the user's ``--unsafe``.
        generations: the Keras generations the block loads with (2: tf_keras, 3: Keras 3).
    """
    with contextlib.ExitStack() as stack:
        if 3 in generations:
            from keras.src.saving.serialization_lib import SafeModeScope

            stack.enter_context(SafeModeScope(not allow_unsafe))
        if 2 in generations:
            from tf_keras.src.saving.serialization_lib import SafeModeScope as LegacySafeModeScope

            stack.enter_context(LegacySafeModeScope(not allow_unsafe))
        yield


_PLAIN_LOAD: contextvars.ContextVar[bool] = contextvars.ContextVar("convkit_plain_load", default=False)


def loading_custom_objects(generation: int) -> dict[str, type]:
    """The ``custom_objects`` a runner passes Keras' ``load_model``: the classes of :func:`keras_shipped_layers`.

    Within :func:`plain_load` none, so that a load is what a user's plain ``load_model`` does.
    """
    return {} if _PLAIN_LOAD.get() else keras_shipped_layers(generation)


@contextlib.contextmanager
def plain_load() -> Iterator[None]:
    """Runners in the block load as a user's plain ``load_model`` would, without Keras-shipped classes.

    ``convert`` verifies its outputs this way: a file that loads only with ``custom_objects``
    is not one its users can load.
    """
    token = _PLAIN_LOAD.set(True)
    try:
        yield
    finally:
        _PLAIN_LOAD.reset(token)


# --- one entry for convert and check ----------------------------------------------------------


def count_layers(config: Any) -> int:
    """Layer configs in a model config, nested models included (objects listed under ``layers``)."""
    total = 0
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            layers = node.get("layers")
            if isinstance(layers, list):
                total += sum(1 for layer in layers if isinstance(layer, dict))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return total


def _refuse_too_many_layers(config: Any, path: Path) -> None:
    from convkit.errors import ReadError
    from convkit.formats._limits import MAX_LAYERS

    layers = count_layers(config)
    if layers > MAX_LAYERS:
        raise ReadError(f"{path}: the model has {layers} layers, over convkit's limit of {MAX_LAYERS}")


def screen(path: Path, format_name: str, allow_unsafe: bool) -> None:
    """Judges a model file before any runtime or reader beyond ``formats/`` sees it.

    Reads the file's Keras configs as data (for HDF5-bearing files in a child
    process, so a libhdf5 hang or crash on a damaged file is one ``ReadError``)
    and scans its TensorFlow graph, through the format's registry record.
    ``convert`` and ``check`` call this first, for the source, the copies and ``--like``.

    Raises:
        UnsafeModelError: code in a config or a risky op in the graph, without ``allow_unsafe``.
        ReadError: the configs or the graph cannot be read.
    """
    from convkit.formats._files import refuse_links
    from convkit.registry import get_format

    refuse_links(Path(path))
    fmt = get_format(format_name)
    if fmt.configs is not None:
        for config in fmt.configs(Path(path)):
            refuse_code(config, Path(path), allow_unsafe)
            _refuse_too_many_layers(config, Path(path))
    graph = fmt.graph(Path(path)) if fmt.graph is not None else None
    if graph is not None:
        refuse_risky_graph(graph, Path(path), allow_unsafe)
