"""The format registry: one ``Format`` record per on-disk format.

Each module under ``convkit/formats`` ends with one ``register_format(...)``
call. Everything that lists formats (``--to`` choices, detection, error
messages) reads them from here, so a format is named in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

from convkit.errors import DetectionError, UsageError


@dataclass(frozen=True)
class Format:
    """What convkit knows about one model file format, and who reads, writes and runs it.

    The convert and check engines ask this record instead of testing format
    names, so a new format is one module ending in one ``register_format(...)``.

    Attributes:
        name: short name used by ``--to``/``--format`` and in messages (``h5``).
        description: a few words for help texts (``Keras HDF5 model``).
        accept: cheap content sniffing; ``accept(path)`` never raises and never
            imports TensorFlow.
        inspect: ``inspect(path, **options) -> report`` without TensorFlow.
        extensions: file name endings that suggest the format, used only to
            word error messages and default output names.
        configs: ``configs(path) -> [config, ...]``: every Keras config the file
            holds, parsed as data, for the code policy (``formats/_policy.py``);
            None when the format holds none.
        graph: ``graph(path) -> SavedModel message`` whose ops the policy scans; None
            when the format holds no TensorFlow graph to run.
        reader: ``"module:function"`` giving ``read(path, stack, *, like, allow_unsafe)
            -> PortableModel`` (Keras config + lazily read weights); None: no Keras model.
        no_reader: why a format without a ``reader`` holds no Keras model convkit can
            read back, for the refusal of such a source; empty: no reason to give.
        writer: ``"module:function"`` of the convert route writing this format
            (``write(job) -> kind``); None: convkit does not write it.
        runner: ``"module:function"`` giving ``open(path, *, like, allow_unsafe, training)
            -> Runner`` for ``check``; None: no runtime.
        default_output: ``default_output(base, name) -> Path`` where ``convert`` writes
            by default, from the source's parent/``base`` and stem ``name``.
        graph_extractor: ``"module:function"`` giving ``extract(path, *, level) -> Graph``
            (``convkit.graph.model``): the layers, ops or objects ``inspect --graph/--metrics``
            draws and measures, without TensorFlow; None: nothing to draw.
    """

    name: str
    description: str
    accept: Callable[[Path], bool]
    inspect: Callable[..., Any] | None = None
    extensions: tuple[str, ...] = ()
    configs: Callable[[Path], list[Any]] | None = None
    graph: Callable[[Path], Any] | None = None
    reader: str | None = None
    no_reader: str = ""
    writer: str | None = None
    runner: str | None = None
    default_output: Callable[[Path, str], Path] | None = None
    graph_extractor: str | None = None

    def resolve(self, role: str) -> Callable[..., Any] | None:
        """The function named by ``reader``, ``writer``, ``runner`` or ``graph_extractor``, imported on first use."""
        target = getattr(self, role)
        if target is None:
            return None
        module, _, function = target.partition(":")
        return getattr(import_module(module), function)


_FORMATS: dict[str, Format] = {}


def register_format(fmt: Format) -> Format:
    """Adds ``fmt`` to the registry; a second format of the same name is a bug."""
    if fmt.name in _FORMATS:
        raise ValueError(f"format {fmt.name!r} registered twice")
    _FORMATS[fmt.name] = fmt
    return fmt


def unregister_format(name: str) -> None:
    """Removes the format ``name`` (a format registered by a test or a plug-in)."""
    _FORMATS.pop(name, None)


def _load_builtin_formats() -> None:
    import convkit.formats  # noqa: F401  (each module registers itself)


def formats() -> list[Format]:
    """All registered formats, in registration order."""
    _load_builtin_formats()
    return list(_FORMATS.values())


def format_names() -> list[str]:
    """The names ``--format`` accepts."""
    return [f.name for f in formats()]


def writable_format_names() -> list[str]:
    """The names ``--to`` accepts: formats whose record names a writer."""
    return [f.name for f in formats() if f.writer]


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
        ReadError: no format accepts it, and it is (or holds) a link or special file.
    """
    path = Path(path)
    if not path.exists() and not _is_checkpoint_prefix(path):
        raise DetectionError(f"{path}: no such file or directory")
    for fmt in formats():
        if fmt.accept(path):
            return fmt
    from convkit.formats._files import refuse_links

    refuse_links(path)  # a FIFO named model.json, a link to a device: say so by name
    known = ", ".join(f"{f.name} ({f.description})" for f in formats())
    raise DetectionError(f"{path}: not a model file convkit recognises; known formats: {known}")


def _is_checkpoint_prefix(path: Path) -> bool:
    # A checkpoint is named by its prefix (training_1/cp.ckpt), which is not a file itself.
    return path.with_name(path.name + ".index").is_file()
