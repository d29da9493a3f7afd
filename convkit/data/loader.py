"""The one input loader: the user's data, or sample inputs, fitted to a model's input specs.

``convkit check --inputs``, ``convkit convert --calibrate`` and the Python API
all load through :func:`load_inputs`. A source is recognised by its content:

- an ``.npz``: one array per input name (matched by name, else by position
  when counts and shapes line up);
- an ``.npy``: one array, for one input;
- images: a folder (walked recursively), a glob pattern or one image file,
  decoded with Pillow, resized and laid out as the input takes them, with a
  preprocessing (:mod:`convkit.data.images`, :mod:`convkit.data.preprocess`);
- a CSV file: one row per sample, columns by header name or all to one input
  (:mod:`convkit.data.tables`).

``NAME=SOURCE`` gives one input of a multi-input model its own source. Each
array must fit its input: same rank, equal dimensions where the input fixes
them, and values its dtype holds (floats fed to an integer input must be
whole numbers in range). Every failure is one line naming the file and the
input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence, Union

import numpy as np

from convkit.containers import limits
from convkit.containers.files import head_bytes
from convkit.containers.tensors import TensorSpec
from convkit.data import arrays, images, tables
from convkit.data.preprocess import Preprocessing
from convkit.data.samples import InputSet, default_inputs, mnist_inputs, random_inputs
from convkit.errors import ReadError, UsageError

InputsLike = Union[str, Path, Mapping[str, np.ndarray], Sequence[Union[str, Path]]]


@dataclass(frozen=True)
class Part:
    """One source the user gave: ``SOURCE`` or ``NAME=SOURCE``."""

    name: str | None
    source: str

    def __str__(self) -> str:
        return f"{self.name}={self.source}" if self.name else self.source


def parse_parts(inputs: str | Path | Sequence[str | Path], specs: Sequence[TensorSpec]) -> list[Part]:
    """The sources in ``inputs``, each with the input it names (``image=digits/``) or None.

    A text holding ``=`` is ``NAME=SOURCE`` unless it is the path of an existing file.

    Raises:
        UsageError: ``NAME`` is not one of the model's inputs, or two sources name the same input.
    """
    items = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    names = [spec.name for spec in specs]
    parts = []
    for item in items:
        text = str(item)
        if isinstance(item, str) and "=" in text and not Path(text).exists():
            name, _, source = text.partition("=")
            if name not in names:
                raise UsageError(f"{text}: the model has no input {name!r} (its inputs: {', '.join(names)})")
            parts.append(Part(name, source))
        else:
            parts.append(Part(None, text))
    named = [part.name for part in parts if part.name]
    if len(set(named)) != len(named):
        twice = sorted({name for name in named if named.count(name) > 1})[0]
        raise UsageError(f"input {twice!r} is given two sources; give each input one")
    return parts


def load_inputs(
    specs: Sequence[TensorSpec],
    inputs: InputsLike | None = None,
    *,
    preprocessing: Preprocessing | None = None,
    limit: int | None = None,
    mnist: int | None = None,
    random: int | None = None,
    seed: int = 0,
) -> InputSet:
    """The inputs for a model with input ``specs``, fitted to them.

    Args:
        specs: the model's inputs (as the reference model takes them).
        inputs: the user's data: a source, several (``NAME=SOURCE`` for one input each), or a
            mapping of arrays keyed by input name. Default None: ``mnist``, ``random``, else samples.
        preprocessing: how image pixels become values; default by the input's dtype
            (``unit`` for float inputs, ``raw`` for integer ones).
        limit: at most this many samples (the first ones); default all.
        mnist: the first ``mnist`` bundled MNIST test digits.
        random: ``random`` seeded random samples drawn from the specs.
        seed: seed for ``random``. Default 0.

    With none of ``inputs``/``mnist``/``random``: all bundled MNIST test digits
    (1000) when the model takes one 784-value float input, else 100 random samples.

    Raises:
        UsageError: more than one kind of source, or data that does not fit an input.
        ReadError: a file that cannot be read.
    """
    given = [name for name, value in (("inputs", inputs), ("mnist", mnist), ("random", random)) if value is not None]
    if len(given) > 1:
        raise UsageError(f"choose one input source, not {' and '.join('--' + g for g in given)}")
    if limit is not None and limit < 1:
        raise UsageError(f"--limit needs a positive number of samples, not {limit}")
    preprocessing = preprocessing or Preprocessing()
    if preprocessing.given and inputs is None:
        raise UsageError("--preprocess, --scale, --offset, --mean and --std apply to images given with --inputs or "
                         "--calibrate")
    if inputs is None:
        if mnist is not None and mnist < 1:
            raise UsageError(f"--mnist needs a positive number of digits, not {mnist}")
        if random is not None and random < 1:
            raise UsageError(f"--random needs a positive number of samples, not {random}")
        if mnist is not None:
            found = mnist_inputs(specs, mnist)
        elif random is not None:
            found = random_inputs(specs, random, seed)
        else:
            found = default_inputs(specs, seed)
        return _limited(found, limit)
    if isinstance(inputs, Mapping):
        given_arrays = {str(key): np.asarray(value) for key, value in inputs.items()}
        if limit is not None:
            given_arrays = {key: value[:limit] for key, value in given_arrays.items()}
        return _fit_named(specs, given_arrays, "arrays given by the caller")
    return _load_parts(specs, parse_parts(inputs, specs), preprocessing, limit)


def _limited(found: InputSet, limit: int | None) -> InputSet:
    if limit is None or limit >= found.count:
        return found
    labels = found.labels[:limit] if found.labels is not None else None
    return InputSet({name: array[:limit] for name, array in found.arrays.items()},
                    f"the first {limit} of {found.source}", labels=labels, notes=found.notes)


def _load_parts(specs: Sequence[TensorSpec], parts: list[Part], preprocessing: Preprocessing,
                limit: int | None) -> InputSet:
    by_name = {spec.name: spec for spec in specs}
    fitted: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}
    described: list[tuple[list[str], str]] = []
    notes: list[str] = []
    used_images = False
    # Named sources first: an unnamed one then goes to the inputs left over.
    for part in sorted(parts, key=lambda item: item.name is None):
        left = [spec for spec in specs if spec.name not in fitted]
        kind = _kind(part.source)
        text = part.source
        if kind == "images":
            used_images = True
            spec = by_name[part.name] if part.name else _only(left, part, "images")
            files = images.find_images(part.source, limit)
            values, text = images.load_images(files, spec, preprocessing)
            found = {spec.name: _fit(values, spec, part.source, "the image batch")}
        elif kind == "npz":
            found, note = _npz_arrays(arrays.read_npz(Path(part.source)), part, left, limit)
            notes.extend([note] if note else [])
        elif kind == "npy":
            spec = by_name[part.name] if part.name else _only(left, part, "an .npy array")
            found = {spec.name: _fit(arrays.read_npy(Path(part.source))[:limit], spec, part.source, "the array")}
        else:
            found = _table_arrays(tables.read_table(Path(part.source), limit), part, left, by_name)
        origin.update((name, part.source) for name in found)
        fitted.update(found)
        described.append((list(found), text))
    missing = [spec.name for spec in specs if spec.name not in fitted]
    given = ", ".join(str(part) for part in parts)
    if missing:
        raise UsageError(f"{given}: no data for input(s) {', '.join(repr(name) for name in missing)}; "
                         "give NAME=SOURCE for each")
    if preprocessing.given and not used_images:
        raise UsageError(f"{given}: --preprocess, --scale, --offset, --mean and --std apply to images, and no "
                         "source here holds images")
    _same_count(fitted, origin)
    total = sum(array.nbytes for array in fitted.values())
    if total > limits.MAX_INPUT_BYTES:
        raise UsageError(f"{given}: the inputs make {total} bytes, over convkit's limit of {limits.MAX_INPUT_BYTES}; "
                         "take fewer with --limit")
    source = described[0][1] if len(described) == 1 else "; ".join(
        f"{', '.join(names)}: {text}" for names, text in described)
    return InputSet({spec.name: fitted[spec.name] for spec in specs}, source, notes=tuple(notes))


def _kind(source: str) -> str:
    path = Path(source)
    if images.is_pattern(source) or (path.is_dir() and not path.is_symlink()):
        return "images"
    if not path.exists() and not path.is_symlink():
        raise ReadError(f"{source}: no such file or folder")
    head = head_bytes(path, 8) if not path.is_symlink() else b""
    if arrays.is_npz(head):
        return "npz"
    if arrays.is_npy(head):
        return "npy"
    if path.is_file() and not path.is_symlink() and images.is_image(path):
        return "images"
    return "csv"  # the CSV reader refuses links, special files and anything that is not numbers in text


def _only(left: list[TensorSpec], part: Part, what: str) -> TensorSpec:
    if len(left) == 1:
        return left[0]
    names = ", ".join(spec.name for spec in left)
    raise UsageError(f"{part.source}: holds {what} for one input, and the model takes {names}; "
                     f"give NAME={part.source}")


def _npz_arrays(stored: dict[str, np.ndarray], part: Part, left: list[TensorSpec],
                limit: int | None) -> tuple[dict[str, np.ndarray], str | None]:
    stored = {name: array[:limit] if array.ndim else array for name, array in stored.items()}
    if part.name is not None:
        spec = next(spec for spec in left if spec.name == part.name)
        if part.name in stored:
            chosen = part.name
        elif len(stored) == 1:
            chosen = next(iter(stored))
        else:
            raise UsageError(f"{part.source}: holds arrays {', '.join(stored)}, none named {part.name!r}; "
                             "which one feeds it is not clear")
        return {spec.name: _fit(stored[chosen], spec, part.source, f"array {chosen!r}")}, None
    matching = match_specs(
        left, [TensorSpec(name, tuple(array.shape), str(array.dtype)) for name, array in stored.items()],
        what=f"the arrays in {part.source}", allow_extra=True)
    fitted = {spec.name: _fit(stored[name], spec, part.source, f"array {name!r}")
              for spec, name in zip(left, matching.names)}
    return fitted, matching.note


def _table_arrays(table: tables.Table, part: Part, left: list[TensorSpec],
                  by_name: dict[str, TensorSpec]) -> dict[str, np.ndarray]:
    if part.name is None and table.header is not None and len(left) > 1:
        header = table.header
        missing = [spec.name for spec in left if spec.name not in header]
        if missing:
            raise UsageError(f"{part.source}: the model takes {', '.join(spec.name for spec in left)}, and the header "
                             f"names no column {', '.join(repr(name) for name in missing)} (columns: "
                             f"{', '.join(header)}); name the columns after the inputs, or give NAME={part.source}")
        return {spec.name: _fit_table(table.column(spec.name)[:, None], spec, part.source, f"column {spec.name!r}")
                for spec in left}
    spec = by_name[part.name] if part.name else _only(left, part, "a table")
    return {spec.name: _fit_table(table.values, spec, part.source, f"its {table.values.shape[1]} columns")}


def _fit_table(values: np.ndarray, spec: TensorSpec, source: str, what: str) -> np.ndarray:
    dims = spec.shape[1:]
    if all(dim is not None for dim in dims):
        size = int(np.prod([int(dim) for dim in dims if dim is not None])) if dims else 1
        if values.shape[1] == size:
            values = values.reshape((len(values), *(int(dim) for dim in dims if dim is not None)))
        else:
            raise UsageError(f"{source}: {what} give {values.shape[1]} values per sample, but input {spec.name!r} "
                             f"takes {size} ({list(spec.shape)})")
    elif len(dims) == 1:
        pass  # an open feature count: every column
    else:
        raise UsageError(f"{source}: input {spec.name!r} takes {list(spec.shape)}, which a table's rows cannot fill")
    return _fit(values, spec, source, what)


def _fit_named(specs: Sequence[TensorSpec], given: dict[str, np.ndarray], source: str) -> InputSet:
    matching = match_specs(specs, [TensorSpec(name, tuple(a.shape), str(a.dtype)) for name, a in given.items()],
                           what=f"the {source}", allow_extra=True)
    fitted = {spec.name: _fit(given[name], spec, source, f"array {name!r}") for spec, name in zip(specs, matching.names)}
    _same_count(fitted, {name: source for name in fitted})
    return InputSet(fitted, source, notes=(matching.note,) if matching.note else ())


def _fit(array: np.ndarray, spec: TensorSpec, source: str, what: str) -> np.ndarray:
    """``array`` as input ``spec`` takes it; ``what`` names it in messages (``array 'x'``, ``the images``)."""
    if array.ndim != len(spec.shape) or not dims_fit(spec.shape[1:], array.shape[1:]):
        raise UsageError(f"{source}: {what} has shape {list(array.shape)}, but input {spec.name!r} takes "
                         f"{list(spec.shape)}")
    if len(array) == 0:
        raise UsageError(f"{source}: {what} holds no samples for input {spec.name!r}")
    return cast_to(array, spec, source, what)


def cast_to(array: np.ndarray, spec: TensorSpec, source: str, what: str) -> np.ndarray:
    """``array`` as ``spec.dtype``, refusing values that type cannot hold (floats that are not whole numbers
    for an integer input, numbers out of its range, anything for a string input)."""
    target = np.dtype(spec.dtype)
    if array.dtype == target:
        return array
    refuse = f"{source}: {what} holds {array.dtype} values, but input {spec.name!r} takes {target}"
    if array.dtype.kind not in "biuf" or target.kind not in "biuf":
        raise UsageError(refuse)
    if target.kind in "iu":
        if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (np.floor(array) == array)):
            raise UsageError(f"{refuse} (whole numbers), and some are not whole")
        info = np.iinfo(target)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise UsageError(f"{refuse}, and some lie outside {info.min}..{info.max}")
    if target.kind == "b" and array.dtype.kind != "b" and not np.isin(array, (0, 1)).all():
        raise UsageError(f"{refuse} (0 or 1), and some are neither")
    return array.astype(target)


def _same_count(fitted: dict[str, np.ndarray], origin: dict[str, str]) -> None:
    counts = {name: len(array) for name, array in fitted.items()}
    if len(set(counts.values())) > 1:
        described = ", ".join(f"{name} {count} (from {origin[name]})" for name, count in counts.items())
        raise UsageError(f"the inputs hold different numbers of samples: {described}")


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
        len(a.shape) == len(b.shape) and dims_fit(a.shape[1:], b.shape[1:]) for a, b in zip(reference, other)
    ):
        pairs = ", ".join(f"{a} -> {b}" for a, b in zip(ref_names, other_names) if a != b)
        return Matching(tuple(other_names), "position", f"inputs matched by position ({pairs})")
    raise UsageError(
        f"cannot match the inputs [{', '.join(ref_names)}] with {what} [{', '.join(other_names)}]: "
        "names differ and counts or shapes do not line up; name the arrays after the inputs"
    )


def dims_fit(a: Sequence[int | None], b: Sequence[int | None]) -> bool:
    """Whether two shapes agree: same rank, equal dimensions where both fix them."""
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))
