"""What a layer converter is given, and the table of converters by Keras class.

Each layer family's module registers its converters with :func:`converts`;
a converter takes a :class:`Call` (the layer's config, its stored weights,
the graph builder) and the layer's input tensors and returns its output
tensors. A converter that meets a setting it has no exact ONNX form for
raises :class:`~convkit.convert.writers.onnx_native.graph.Uncovered` through
:meth:`Call.refuse`; the route then takes tf2onnx instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from convkit.convert.writers.onnx_native.graph import GraphBuilder, Tensor, Uncovered
from convkit.keras_model.data import Weight

Converter = Callable[["Call", list[Tensor]], list[Tensor]]
CONVERTERS: dict[str, Converter] = {}


def converts(*class_names: str) -> Callable[[Converter], Converter]:
    """Registers the decorated function as the converter of Keras layers of ``class_names``."""
    def register(function: Converter) -> Converter:
        for name in class_names:
            if name in CONVERTERS:
                raise ValueError(f"two ONNX converters for {name}")
            CONVERTERS[name] = function
        return function

    return register


def attribute(weight: Weight) -> str:
    """The variable's own name: ``kernel`` of ``dense/kernel:0``."""
    return weight.name.split(":")[0].rsplit("/", 1)[-1]


@dataclass
class LayerWeights:
    """A layer's stored weights, taken by attribute name; what was taken is recorded.

    Attributes:
        items: the weights in stored order.
        used: ids of the weights some converter took (shared by every layer of a model).
    """

    items: list[Weight]
    used: set[int] = field(default_factory=set)

    def find(self, *names: str) -> Weight | None:
        """The first weight whose attribute is one of ``names``, or None."""
        for name in names:
            for weight in self.items:
                if attribute(weight) == name:
                    self.used.add(id(weight))
                    return weight
        return None

    def all(self) -> list[Weight]:
        for weight in self.items:
            self.used.add(id(weight))
        return list(self.items)

    def subset(self, keep: Callable[[Weight], bool]) -> LayerWeights:
        return LayerWeights([weight for weight in self.items if keep(weight)], self.used)


@dataclass
class Call:
    """One call of one layer.

    Attributes:
        builder: the graph being built.
        layer: the layer's record in the Keras 2 dialect (``class_name``, ``config``).
        weights: the layer's stored weights.
        generation: the Keras generation that wrote the model (activations differ).
        kwargs: the call's keyword arguments that are not tensors (``training``, ``mask`` refused earlier).
        tensor_kwargs: keyword arguments that are tensors (``value`` of MultiHeadAttention in tf_keras).
        node_index: which call of the layer this is (its position among the layer's inbound nodes).
        resolve: the tensor a ``[layer, node, tensor]`` reference names (``keras3``: counted as Keras 3
            counts a nested model's calls).
        apply: calls another layer record (a wrapper's inner layer) on tensors, with given weights.
    """

    builder: GraphBuilder
    layer: dict[str, Any]
    weights: LayerWeights
    generation: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    tensor_kwargs: dict[str, Tensor] = field(default_factory=dict)
    node_index: int = 0
    resolve: Callable[[Any, bool], Tensor] | None = None
    apply: Callable[[dict[str, Any], list[Tensor], LayerWeights], list[Tensor]] | None = None

    @property
    def class_name(self) -> str:
        return str(self.layer.get("class_name"))

    @property
    def config(self) -> dict[str, Any]:
        config = self.layer.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def name(self) -> str:
        return str(self.config.get("name", self.layer.get("name", self.class_name)))

    def refuse(self, reason: str) -> Uncovered:
        return Uncovered(self.name, self.class_name, reason)

    def hint(self, suffix: str = "") -> str:
        return f"{self.name}/{suffix}" if suffix else self.name

    def weight(self, *names: str, required: bool = True) -> Weight | None:
        found = self.weights.find(*names)
        if found is None and required:
            raise self.refuse(f"no stored weight named {' or '.join(names)} "
                              f"(has {', '.join(attribute(w) for w in self.weights.items) or 'none'})")
        return found

    def stored(self, weight: Weight, transform: Callable[[np.ndarray], np.ndarray] | None = None,
               shape: tuple[int, ...] | None = None, tag: str = "", dtype: str = "float32") -> str:
        """An initializer holding ``weight`` (through ``transform``, giving ``shape``), stored once per tag."""
        hint = self.hint(attribute(weight))
        if transform is None and weight.dtype == dtype:  # as stored: copied from its file when it can be
            return self.builder.weight((id(weight), tag), hint, weight.shape, dtype, source=weight)
        if transform is None:
            return self.builder.weight((id(weight), tag), hint, weight.shape, dtype,
                                       lambda: weight.read().astype(dtype))
        assert shape is not None, "a transformed weight states its shape"
        return self.builder.weight((id(weight), tag), hint, shape, dtype,
                                   lambda: transform(np.asarray(weight.read(), dtype=dtype)))

    def option(self, key: str, default: Any = None) -> Any:
        value = self.config.get(key, default)
        return default if value is None else value


def as_tuple(value: Any, count: int) -> tuple[int, ...]:
    """Keras' ``int or tuple`` arguments (``kernel_size``, ``strides``) as ``count`` ints."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1 and count > 1:
            return tuple(int(value[0]) for _ in range(count))
        return tuple(int(v) for v in value)
    return tuple(int(value) for _ in range(count))
