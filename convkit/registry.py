"""The format registry: one ``Format`` record per on-disk format.

Each module under ``convkit/formats`` ends with one ``register_format(...)``
call. Everything that lists formats (``--to`` choices, detection, error
messages) reads them from here, so a format is named in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from convkit.errors import DetectionError, UsageError


@dataclass(frozen=True)
class Format:
    """What convkit knows about one model file format.

    Attributes:
        name: short name used by ``--to``/``--format`` and in messages (``h5``).
        description: a few words for help texts (``Keras HDF5 model``).
        accept: cheap content sniffing; ``accept(path)`` never raises and never
            imports TensorFlow.
        inspect: ``inspect(path, **options) -> report`` without TensorFlow.
        extensions: file name endings that suggest the format, used only to
            word error messages and default output names.
        hooks: further callables the convert and check engines look up by name
            (``load``, ``save``, ``read_weights``, ...).
    """

    name: str
    description: str
    accept: Callable[[Path], bool]
    inspect: Callable[..., Any] | None = None
    extensions: tuple[str, ...] = ()
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)


_FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    """Adds ``fmt`` to the registry; a second format of the same name is a bug."""
    if fmt.name in _FORMATS:
        raise ValueError(f"format {fmt.name!r} registered twice")
    _FORMATS[fmt.name] = fmt
    return fmt


def _load_builtin_formats() -> None:
    import convkit.formats  # noqa: F401  (each module registers itself)


def formats() -> list[Format]:
    """All registered formats, in registration order."""
    _load_builtin_formats()
    return list(_FORMATS.values())


def format_names() -> list[str]:
    """The names ``--to`` and ``--format`` accept."""
    return [f.name for f in formats()]


def get_format(name: str) -> Format:
    """The format called ``name``.

    Raises:
        UsageError: no format has that name; the message lists the known names.
    """
    _load_builtin_formats()
    try:
        return _FORMATS[name]
    except KeyError:
        known = ", ".join(format_names())
        raise UsageError(f"unknown format {name!r}; known formats: {known}") from None


def detect(path: str | Path) -> Format:
    """The format of ``path``, recognised by content.

    Raises:
        DetectionError: the path does not exist or no format accepts it.
    """
    path = Path(path)
    if not path.exists() and not _is_checkpoint_prefix(path):
        raise DetectionError(f"{path}: no such file or directory")
    for fmt in formats():
        if fmt.accept(path):
            return fmt
    known = ", ".join(f"{f.name} ({f.description})" for f in formats())
    raise DetectionError(f"{path}: not a model file convkit recognises; known formats: {known}")


def _is_checkpoint_prefix(path: Path) -> bool:
    # A checkpoint is named by its prefix (training_1/cp.ckpt), which is not a file itself.
    return path.with_name(path.name + ".index").is_file()
