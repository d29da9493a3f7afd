"""What counts as code in a Keras config: the one rule ``inspect``, ``convert`` and ``check`` apply.

A Keras config is parsed as data (never searched as bytes) and every nested
object in it is judged: layers, activations, initializers, regularizers,
constraints, losses, metrics, optimizers, nested models. An object is data when
it names a Keras built-in by module and class (Keras 3 ``keras.*`` /
``keras.src.*``, tf_keras ``tf_keras.*``; Keras-shipped classes that are not
public, such as ConvNeXt's ``LayerScale``, are recognised by their module, or where a
config names none by their name in Keras' own applications modules, see
:mod:`convkit.policy.shipped`; Keras 3 operations on symbolic tensors by their
pure math/array ops module), a TensorFlow function on the pure math/array
allowlist for tf_keras ``TFOpLambda``/``SlicingOpLambda`` layers, or a pure op
(:data:`convkit.policy.graph_ops.PURE_OPS`) for a Keras 2.2-2.3 ``TensorFlowOpLayer``. Anything else
is code: ``Lambda`` layers, marshalled ``__lambda__`` bytecode, functions or
classes from modules outside Keras (``os.system`` as an activation), registered
custom objects.

``inspect`` lists what it finds; ``convert`` and ``check`` refuse it unless the
user passes ``--unsafe``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from convkit.errors import UnsafeModelError
from convkit.policy.graph_ops import PURE_OPS, tf_op_layer_op

# --- Keras configs ---------------------------------------------------------------------------

# Keras modules whose classes are built-in layers, models and their parts. A class from any other
# module (keras.src.saving, keras.utils, os, subprocess, __main__, ...) is code.
_KERAS_PACKAGES = ("keras", "tf_keras")
_KERAS_ROOTS = (*_KERAS_PACKAGES, "keras.src", "tf_keras.src")
_KERAS_PARTS: tuple[str, ...] = (
    "layers", "models", "engine", "initializers", "regularizers", "constraints", "activations", "losses",
    "metrics", "optimizers", "dtype_policies", "mixed_precision", "applications", "premade_models",
    "feature_column", "random",
)
# Keras 3 records an operation applied to symbolic tensors in a functional model (``x + 3`` in
# MobileNetV3's hard sigmoid) as an object of its ops modules: pure math and array operations, the
# Keras 3 counterpart of tf_keras' TFOpLambda allowlist. ``ops.core`` (control flow taking functions)
# is not on it.
KERAS3_OP_PARTS = ("ops.numpy", "ops.math", "ops.nn", "ops.linalg", "ops.image")
_KERAS_PARTS = (*_KERAS_PARTS, *KERAS3_OP_PARTS)
# Modules whose functions may stand where a Keras config names a function (``class_name: function``).
_FUNCTION_PARTS = ("activations", "losses", "metrics")
# The plain-data wrappers Keras 3 serialises values in.
_DATA_CLASSES = frozenset({
    "__tuple__", "__numpy__", "__bytes__", "__tensor__", "__ellipsis__", "__slice__", "__keras_tensor__",
})
_CODE_LAYER_CLASSES = frozenset({"Lambda"})
_TF_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda"})
# tf.keras 2.2-2.3's form of TFOpLambda: the wrapped op's NodeDef.
TF_OP_LAYER = "TensorFlowOpLayer"

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
# (InceptionResNetV2's CustomScaleLayer); an .h5 config names them so, without a module, a .keras one as the
# registered name of the class in tf_keras' applications module.
TF_KERAS_REGISTERED_LAYERS = frozenset({"Custom>CustomScaleLayer"})
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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
        if self.class_name == TF_OP_LAYER:
            return f"a {self.class_name} layer {name!r} ({self.reason})"
        return f"{self.reason} at {self.where!r}"


def is_keras_module(module: str, parts: Iterable[str] = _KERAS_PARTS) -> bool:
    """Whether ``module`` is one of Keras' own modules for built-in layers and their parts."""
    if module in _KERAS_PACKAGES:
        return True
    for root in _KERAS_ROOTS:
        for part in parts:
            prefix = f"{root}.{part}"
            if module == prefix or module.startswith(prefix + "."):
                return True
    return False


@functools.lru_cache(maxsize=1)
def keras_function_names() -> frozenset[str]:
    """The names Keras 3 exports in ``keras.activations``, ``keras.losses`` and ``keras.metrics``.

    Keras 3 writes a loss compiled as a function (``keras.losses.sparse_categorical_crossentropy``)
    as ``{"module": "builtins", "class_name": "function", "config": "sparse_categorical_crossentropy"}``
    and resolves it by that name among its own exports. The allowlist is read from the
    installed Keras' public API files (``keras/losses/__init__.py``, ...) as source text,
    without importing Keras or anything a file names; empty without Keras.
    """
    import ast
    import importlib.util

    try:
        spec = importlib.util.find_spec("keras")
    except (ImportError, ValueError):
        return frozenset()
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    root = Path(next(iter(spec.submodule_search_locations)))
    names: set[str] = set()
    for part in _FUNCTION_PARTS:
        try:
            tree = ast.parse((root / part / "__init__.py").read_text())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in tree.body:
            # the exports themselves live in keras.src.<part>.<module>; the package's own
            # helpers (get, serialize, deserialize) come from keras.src.<part>
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"keras.src.{part}."):
                names.update(alias.asname or alias.name for alias in node.names)
    return frozenset(name for name in names if IDENTIFIER.match(name))


def is_tf_initializer(node: dict[str, Any]) -> bool:
    """Whether a config object is one of TensorFlow's own initializers (``tf.constant_initializer``)."""
    return (node.get("module") in _TF_INITIALIZER_MODULES and node.get("class_name") in _TF_INITIALIZERS
            and node.get("registered_name") in (None, node.get("class_name")))


def is_allowed_tf_function(name: Any) -> bool:
    """Whether a tf_keras ``TFOpLambda`` may call ``tf.<name>`` (pure math/array ops only)."""
    if not isinstance(name, str):
        return False
    name = name.removeprefix("tf.")
    for prefix in ("compat.v1.", "compat.v2."):
        name = name.removeprefix(prefix)
    if not all(IDENTIFIER.match(part) for part in name.split(".")):
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
    if registered is not None and not isinstance(registered, str):
        return CodeObject(where, class_name, "an object whose registered name is not a name")
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
    if class_name == TF_OP_LAYER:
        op = tf_op_layer_op(config)
        if not (isinstance(op, str) and op in PURE_OPS):
            return CodeObject(where, class_name, f"TensorFlow op {op!r} outside convkit's pure-op allowlist")
    if class_name in _TF_KERAS_OPTIMIZERS and module is None and registered in (None, class_name):
        return None
    if _registered_by_tf_keras_applications(class_name, module, registered):
        return None
    if isinstance(registered, str) and ">" in registered:
        return CodeObject(where, class_name, f"registered custom object {registered!r}")
    if module is not None:
        if not isinstance(module, str):
            return CodeObject(where, class_name, "an object whose module is not a name")
        if class_name == "function":
            named = isinstance(config, str) and IDENTIFIER.match(config)
            if module == "builtins" and named and config in keras_function_names():
                pass  # Keras 3 resolves a "builtins" function by name among its own (a loss compiled as a function)
            elif not is_keras_module(module, _FUNCTION_PARTS) or not named:
                return CodeObject(where, class_name, f"function {config!r} from module {module!r}")
        elif is_tf_initializer(node):
            pass
        elif not is_keras_module(module):
            return CodeObject(where, class_name, f"custom object from module {module!r}")
    if not IDENTIFIER.match(class_name):
        return CodeObject(where, class_name, f"class name {class_name!r} that is not a plain name")
    return None


def _registered_by_tf_keras_applications(class_name: str, module: Any, registered: str | None) -> bool:
    """A layer class tf_keras' applications register (:data:`TF_KERAS_REGISTERED_LAYERS`): an ``.h5`` config
    names it by its registered name, without a module; a ``.keras`` one by its class, in tf_keras' applications
    module, with that registered name."""
    if module is None:
        return class_name in TF_KERAS_REGISTERED_LAYERS and registered in (None, class_name)
    return (registered in TF_KERAS_REGISTERED_LAYERS and registered == f"Custom>{class_name}"
            and isinstance(module, str) and module.startswith("tf_keras.src.applications."))


# Keys of a model config whose objects only training uses (compile settings, the optimizer).
TRAINING_KEYS = frozenset({"compile_config", "training_config"})


def without_training(config: Any) -> Any:
    """``config`` without its training-only parts (:data:`TRAINING_KEYS`): what the forward pass builds.

    Code there (a custom optimizer, ``Addons>RectifiedAdam``) is no reason to refuse a model for
    inference: readers drop such a training configuration instead (with a warning).
    """
    if isinstance(config, dict) and TRAINING_KEYS & set(config):
        return {key: value for key, value in config.items() if key not in TRAINING_KEYS}
    return config


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
