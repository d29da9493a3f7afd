"""The inputs a check feeds every model, and how each model's input names map onto them.

Sources: the bundled MNIST test digits (the default for models taking one
784-value input), an ``.npz`` keyed by input name, or seeded random values drawn
from each input's spec (integers below the embedding's vocabulary size).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from convkit.check.runners.base import TensorSpec
from convkit.errors import ReadError, UsageError

MNIST_PIXELS = 784
DEFAULT_RANDOM_COUNT = 100
# Size used for a dimension other than the batch that the model leaves open.
OPEN_DIMENSION_SIZE = 8
DEFAULT_INT_HIGH = 10
MAX_NPZ_BYTES = 4 << 30


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


def make_inputs(
    specs: Sequence[TensorSpec],
    *,
    inputs: str | Path | Mapping[str, np.ndarray] | None = None,
    mnist: int | None = None,
    random: int | None = None,
    seed: int = 0,
) -> InputSet:
    """Builds the inputs for a model with input ``specs``.

    Args:
        specs: the reference model's inputs.
        inputs: an ``.npz`` path or a mapping of arrays, keyed by input name.
        mnist: use the first ``mnist`` MNIST test digits.
        random: use ``random`` seeded random samples.
        seed: seed for ``random``. Default 0.

    With none of ``inputs``/``mnist``/``random``: all bundled MNIST test digits
    (1000) when the model takes one 784-value float input, else 100 random samples.

    Raises:
        UsageError: more than one source given, or the inputs do not fit the model.
        ReadError: the ``.npz`` file cannot be read.
    """
    given = [name for name, value in (("inputs", inputs), ("mnist", mnist), ("random", random)) if value is not None]
    if len(given) > 1:
        raise UsageError(f"choose one input source, not {' and '.join('--' + g for g in given)}")
    if inputs is not None:
        arrays, source = _load_arrays(inputs)
        return _fit_arrays(specs, arrays, source)
    if mnist is not None:
        if mnist < 1:
            raise UsageError(f"--mnist needs a positive number of digits, not {mnist}")
        return _mnist_inputs(specs, mnist)
    if random is not None:
        if random < 1:
            raise UsageError(f"--random needs a positive number of samples, not {random}")
        return random_inputs(specs, random, seed)
    if _takes_mnist(specs):
        return _mnist_inputs(specs, None)
    return random_inputs(specs, DEFAULT_RANDOM_COUNT, seed)


def random_inputs(specs: Sequence[TensorSpec], count: int, seed: int = 0) -> InputSet:
    """``count`` samples per input: floats uniform in [0, 1), integers in [0, vocabulary)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    notes = []
    for spec in specs:
        open_dims = list(spec.shape[1:]) if spec.shape else []
        if any(dim is None for dim in open_dims):
            notes.append(f"input {spec.name}: open dimensions set to {OPEN_DIMENSION_SIZE}")
        dims = [OPEN_DIMENSION_SIZE if dim is None else int(dim) for dim in open_dims]
        shape = (count, *dims)
        dtype = np.dtype(spec.dtype)
        if dtype == np.bool_:
            arrays[spec.name] = rng.integers(0, 2, size=shape).astype(bool)
        elif np.issubdtype(dtype, np.integer):
            high = spec.int_high or DEFAULT_INT_HIGH
            arrays[spec.name] = rng.integers(0, high, size=shape).astype(dtype)
        else:
            arrays[spec.name] = rng.random(shape).astype(dtype)
    return InputSet(arrays, f"{count} random samples (seed {seed})", notes=tuple(notes))


def _takes_mnist(specs: Sequence[TensorSpec]) -> bool:
    if len(specs) != 1:
        return False
    spec = specs[0]
    dims = spec.shape[1:]
    if not dims or any(dim is None for dim in dims) or not np.issubdtype(np.dtype(spec.dtype), np.floating):
        return False
    return int(np.prod([int(dim) for dim in dims if dim is not None])) == MNIST_PIXELS


def _mnist_inputs(specs: Sequence[TensorSpec], count: int | None) -> InputSet:
    if not _takes_mnist(specs):
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


def _load_arrays(inputs: str | Path | Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], str]:
    if isinstance(inputs, Mapping):
        return {str(k): np.asarray(v) for k, v in inputs.items()}, "arrays given by the caller"
    path = Path(inputs)
    try:
        if path.stat().st_size > MAX_NPZ_BYTES:
            raise ReadError(f"{path}: the inputs file is larger than {MAX_NPZ_BYTES >> 30} GiB")
        with np.load(path, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):
                raise ReadError(f"{path}: not an .npz file (one array per input name)")
            arrays = {name: npz[name] for name in npz.files}
    except FileNotFoundError:
        raise ReadError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ReadError(f"{path}: not a readable .npz file ({error})") from None
    if not arrays:
        raise ReadError(f"{path}: the .npz file holds no arrays")
    return arrays, f"{path.name}"


def _fit_arrays(specs: Sequence[TensorSpec], arrays: dict[str, np.ndarray], source: str) -> InputSet:
    names = [spec.name for spec in specs]
    pairs = match_specs(
        specs,
        [TensorSpec(name, tuple(array.shape), str(array.dtype)) for name, array in arrays.items()],
        what=f"the arrays in {source}",
        allow_extra=True,
    )
    fitted = {}
    for spec, array_name in zip(specs, pairs.names):
        array = arrays[array_name]
        if array.ndim != len(spec.shape) or not _dims_fit(spec.shape[1:], array.shape[1:]):
            raise UsageError(
                f"{source}: array {array_name!r} has shape {list(array.shape)}, "
                f"but input {spec.name!r} takes {list(spec.shape)}"
            )
        try:
            fitted[spec.name] = array.astype(spec.dtype, copy=False)
        except (TypeError, ValueError):
            raise UsageError(f"{source}: array {array_name!r} ({array.dtype}) cannot become {spec.dtype}") from None
    sizes = {len(a) for a in fitted.values()}
    if len(sizes) != 1:
        raise UsageError(f"{source}: the arrays for {names} have different numbers of samples {sorted(sizes)}")
    notes = (pairs.note,) if pairs.note else ()
    return InputSet(fitted, source, notes=notes)


@dataclass(frozen=True)
class Matching:
    """How one list of tensors lines up with another: ``names[i]`` is the partner of spec ``i``."""

    names: tuple[str, ...]
    by: str  # "name" or "position"
    note: str | None = None


def match_specs(
    reference: Sequence[TensorSpec],
    other: Sequence[TensorSpec],
    *,
    what: str,
    allow_extra: bool = False,
) -> Matching:
    """Lines up ``other`` with ``reference``: by name when every name agrees, else by position.

    Position is used only when both sides have the same number of tensors with
    compatible shapes (same rank, equal or open dimensions).

    Raises:
        UsageError: neither names nor positions line up; the message lists both sides.
    """
    ref_names = [spec.name for spec in reference]
    other_names = [spec.name for spec in other]
    if set(ref_names) <= set(other_names) and (allow_extra or len(ref_names) == len(other_names)):
        return Matching(tuple(ref_names), "name")
    if len(reference) == len(other) and all(
        len(a.shape) == len(b.shape) and _dims_fit(a.shape[1:], b.shape[1:]) for a, b in zip(reference, other)
    ):
        pairs = ", ".join(f"{a} -> {b}" for a, b in zip(ref_names, other_names) if a != b)
        return Matching(tuple(other_names), "position", f"inputs matched by position ({pairs})")
    raise UsageError(
        f"cannot match the inputs [{', '.join(ref_names)}] with {what} [{', '.join(other_names)}]: "
        "names differ and counts or shapes do not line up; name the arrays after the inputs"
    )


def _dims_fit(a: Sequence[int | None], b: Sequence[int | None]) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
