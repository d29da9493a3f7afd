"""The inputs a check feeds every model, and how each model's input names map onto them.

Sources: the bundled MNIST test digits (the default for models taking one
784-value input), an ``.npz`` keyed by input name, or seeded random values drawn
from each input's spec (integers below the embedding's vocabulary size); the
default samples are drawn in :mod:`convkit.runtimes.inputs`, which ``convert`` shares.
"""

from __future__ import annotations

import re

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from convkit.errors import ReadError, UsageError
from convkit.runtimes.inputs import InputSet, TensorSpec, default_inputs, mnist_inputs, random_inputs

MAX_NPZ_BYTES = 4 << 30


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
        return mnist_inputs(specs, mnist)
    if random is not None:
        if random < 1:
            raise UsageError(f"--random needs a positive number of samples, not {random}")
        return random_inputs(specs, random, seed)
    return default_inputs(specs, seed)


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
    # graph models name an input by its tensor ("input_layer_1:0")
    tensors = {re.sub(r":\d+$", "", name): name for name in other_names}
    if len(tensors) == len(other_names) and set(ref_names) <= set(tensors) \
            and (allow_extra or len(ref_names) == len(other_names)):
        return Matching(tuple(tensors[name] for name in ref_names), "name")
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
