"""Sample inputs made from a model's input specs, when the user brings no data.

``convkit check`` feeds every model these samples unless given ``--inputs``,
the TFLite writer calibrates full-integer quantization on them unless given
``--calibrate``, and the smoke run of every written model runs on a few of
them: the bundled MNIST test digits for models taking one 784-value float
input, else seeded random values drawn from each input's spec (integers below
the embedding's vocabulary size).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from convkit.containers.tensors import TensorSpec
from convkit.errors import ReadError, UsageError

MNIST_PIXELS = 784
DEFAULT_RANDOM_COUNT = 100
# Size used for a dimension other than the batch that the model leaves open.
OPEN_DIMENSION_SIZE = 8
DEFAULT_INT_HIGH = 10
# The smoke run: a few samples, always the same.
SMOKE_SAMPLES = 2
SMOKE_SEED = 0


@dataclass(frozen=True)
class InputSet:
    """Arrays keyed by the reference model's input names.

    Attributes:
        arrays: one array per reference input, all with the same first dimension.
        source: where they came from, for the report (``MNIST test digits from ...``).
        labels: the true classes when the inputs are MNIST digits, else ``None``.
    """

    arrays: dict[str, np.ndarray]
    source: str
    labels: np.ndarray | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def count(self) -> int:
        return len(next(iter(self.arrays.values()))) if self.arrays else 0

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "count": self.count,
            "tensors": {name: {"shape": list(a.shape), "dtype": str(a.dtype)} for name, a in self.arrays.items()},
            "notes": list(self.notes),
        }


# Words the samples for string inputs are drawn from (text models tokenise them).
SAMPLE_WORDS = ("the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "unknown", "Model", "files!")


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of a tensor spec's dtype name; strings are numpy objects (str values)."""
    return np.dtype(object) if name in ("string", "object", "str") else np.dtype(name)


def default_inputs(specs: Sequence[TensorSpec], seed: int = 0) -> InputSet:
    """All bundled MNIST test digits (1000) when the model takes one 784-value float input, else 100 random samples."""
    if takes_mnist(specs):
        return mnist_inputs(specs, None)
    return random_inputs(specs, DEFAULT_RANDOM_COUNT, seed)


def random_inputs(specs: Sequence[TensorSpec], count: int, seed: int = 0) -> InputSet:
    """``count`` samples per input: floats uniform in [0, 1), integers in [0, vocabulary), strings of a few
    words."""
    rng = np.random.default_rng(seed)
    arrays = {}
    notes = []
    for spec in specs:
        open_dims = list(spec.shape[1:]) if spec.shape else []
        if any(dim is None for dim in open_dims):
            notes.append(f"input {spec.name}: open dimensions set to {OPEN_DIMENSION_SIZE}")
        dims = [OPEN_DIMENSION_SIZE if dim is None else int(dim) for dim in open_dims]
        shape = (count, *dims)
        dtype = numpy_dtype(spec.dtype)
        if dtype == np.dtype(object):
            words = rng.integers(1, 6, size=shape)
            arrays[spec.name] = np.array([" ".join(rng.choice(SAMPLE_WORDS, size=count_words))
                                          for count_words in words.reshape(-1)], dtype=object).reshape(shape)
        elif dtype == np.bool_:
            arrays[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
        elif np.issubdtype(dtype, np.integer) and spec.quantization is not None:
            # quantized values of a float input: the whole range of the integer type
            info = np.iinfo(dtype)
            arrays[spec.name] = rng.integers(int(info.min), int(info.max) + 1, size=shape).astype(dtype)
        elif np.issubdtype(dtype, np.integer):
            high = spec.int_high or DEFAULT_INT_HIGH
            arrays[spec.name] = rng.integers(0, high, size=shape).astype(dtype)
        else:
            arrays[spec.name] = rng.random(shape).astype(dtype)
    return InputSet(arrays, f"{count} random samples (seed {seed})", notes=tuple(notes))


def takes_mnist(specs: Sequence[TensorSpec]) -> bool:
    if len(specs) != 1:
        return False
    spec = specs[0]
    dims = spec.shape[1:]
    if not dims or any(dim is None for dim in dims) or not np.issubdtype(numpy_dtype(spec.dtype), np.floating):
        return False
    return int(np.prod([int(dim) for dim in dims if dim is not None])) == MNIST_PIXELS


def mnist_inputs(specs: Sequence[TensorSpec], count: int | None) -> InputSet:
    if not takes_mnist(specs):
        described = ", ".join(f"{s.name} {list(s.shape)} {s.dtype}" for s in specs)
        raise UsageError(f"MNIST digits need a model with one 784-value float input; this one takes {described}")
    from convkit.train.data import TUTORIAL_SIZE, load_mnist

    size = count or TUTORIAL_SIZE
    try:
        mnist = load_mnist(size=size)
    except ReadError as error:
        if "fewer than" not in str(error):
            raise
        raise UsageError(f"--mnist {size}: the MNIST data holds fewer digits ({error})") from None
    spec = specs[0]
    images = mnist.x_test[:size].reshape((size, *(int(dim or 0) for dim in spec.shape[1:]))).astype(spec.dtype)
    return InputSet({spec.name: images}, f"{size} MNIST test digits ({mnist.source.name})", labels=mnist.y_test[:size])


def smoke_inputs(specs: Sequence[TensorSpec]) -> InputSet:
    """The inputs of a smoke run: ``SMOKE_SAMPLES`` seeded random samples drawn from ``specs``."""
    return random_inputs(specs, SMOKE_SAMPLES, SMOKE_SEED)
