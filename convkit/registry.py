"""The format registry: one ``Format`` record per on-disk format.

Each module under ``convkit/formats`` ends with one ``register_format(...)``
call; importing :mod:`convkit` imports them all (``convkit/formats/__init__.py``),
and a plug-in or a test registers its own the same way. Everything that lists
formats (``--to`` choices, option choices, detection, error messages) reads
them from here, so a format is named in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Callable

from convkit.containers.files import refuse_links
from convkit.errors import DetectionError, UsageError


@dataclass(frozen=True)
class WriteOptions:
    """What a format's writer can be asked for beyond the output path; the CLI offers these choices.

    Attributes:
        kinds: the model kinds it writes (``--tfjs-kind``: TF.js ``layers`` or ``graph``); empty: one kind.
        quantizations: the weight quantizations it writes (``--quantize``); empty: none.
        quantize_weights: ``--quantize-weights`` (quantize only the weights a glob names) applies.
        shard_size: default bytes per weight shard file (``--shard-size``); 0: no shards.
        opsets: the opsets it writes (``--opset``); empty: not an opset-versioned format.
        default_opset: the opset written when none is asked for.
        calibrated: the quantizations among ``quantizations`` calibrated on sample inputs
            (``--calibrate``: TFLite ``int8``); empty: none.
        io_types: the number types its inputs and outputs can take when calibrated-quantized
            (``--io-type``: ``float32``, ``int8``, ``uint8``); empty: they keep the model's.
        channels_first: named inputs and outputs can be written channels first (``--nchw``).
        external_data: the weights can be written to a data file beside the model at any size
            (``--external-data``), where the runtime maps them instead of reading them.
        input_shapes: the output records its inputs' shapes, which ``--input-shape`` can fix or open.
        graphs: it writes sources that convert as TensorFlow graphs (TF.js graph models, frozen
            ``.pb`` files, TF1 checkpoints with ``.meta``: :class:`convkit.graph_model.model.GraphSource`),
            with their ``--inputs``/``--outputs``/``--signature``/``--tag``.
        routes: the writers it can be written through (``--onnx-route``: convkit's ``native`` one or
            ``tf2onnx``); empty: one writer. Without a choice the writer picks.
    """

    kinds: tuple[str, ...] = ()
    quantizations: tuple[str, ...] = ()
    quantize_weights: bool = False
    shard_size: int = 0
    opsets: tuple[int, ...] = ()
    default_opset: int | None = None
    calibrated: tuple[str, ...] = ()
    io_types: tuple[str, ...] = ()
    channels_first: bool = False
    external_data: bool = False
    input_shapes: bool = False
    graphs: bool = False
    routes: tuple[str, ...] = ()


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
        title: the format's name in sentences (``TF.js``, ``TFLite``); default: ``name``.
        configs: ``configs(path) -> [config, ...]``: every Keras config the file
            holds, parsed as data, for the code policy (:mod:`convkit.policy`);
            None when the format holds none.
        graph: ``graph(path) -> SavedModel message`` whose ops the policy scans; None
            when the format holds no TensorFlow graph to run.
        reader: ``"module:function"`` giving ``read(path, stack, *, like, template)
            -> ModelData`` (Keras config + lazily read weights); None: no Keras model.
        no_reader: why a format without a ``reader`` holds no Keras model convkit can
            read back, for the refusal of such a source; empty: no reason to give.
        inference_graph: ``inference_graph(path, like) -> graph or None``: the file as an
            inference graph without a Keras model (a TF.js graph model, a SavedModel without a
            Keras config), which some writers convert as it is and the others refuse with
            ``graph.refusal(target)``; None (or a None result): the file holds a Keras model.
        weights_only: ``weights_only(path) -> bool``: the file holds weights without an
            architecture, so it runs in the architecture of ``like``; None: never.
        writer: ``"module:function"`` of the writer of this format
            (``write(conversion) -> Written``); None: convkit does not write it.
        write_options: what the writer can be asked for (kinds, quantizations, opsets).
        prefix_output: an output is a prefix whose files appear beside it (a checkpoint).
        output_suffixes: an output's name must end in one of these, because the runtime loads no
            other name (Keras 3: ``.keras``; ``.h5`` or ``.hdf5``); empty: any name.
        runner: ``"module:function"`` giving ``open(path, *, like, allow_unsafe, training)
            -> Runner``, the runtime (and ``signature=KEY`` when ``signatures`` is set); None: no runtime.
        signatures: ``signatures(path) -> [key, ...]``: the signatures the file holds, read without
            TensorFlow (``--signature`` chooses one); None: the format has no signatures.
        smoke_runner: ``"module:function"`` opening a written file for the smoke run, when
            that differs from ``runner``.
        runtime_title: the runtime in messages (``TF.js``); default ``its runtime``.
        blame: ``blame(message, path) -> str or None``: the layer or op of the file at ``path``
            that a runtime's error message names.
        default_output: ``default_output(base, name) -> Path`` where ``convert`` writes
            by default, from the source's parent/``base`` and stem ``name``.
        holds_strings: its runtime runs models that take strings (text preprocessing inside the
            model, ``TextVectorization``); ``convert`` refuses such a model for a target without.
        graph_extractor: ``"module:function"`` giving ``extract(path, *, level, report) -> Graph``
            (``convkit.graph.model``): the layers, ops or objects ``inspect --graph/--metrics``
            draws and measures, without TensorFlow, from the file or its inspect ``report``
            (a dict, or None); None: nothing to draw.
    """

    name: str
    description: str
    accept: Callable[[Path], bool]
    inspect: Callable[..., Any] | None = None
    extensions: tuple[str, ...] = ()
    title: str = ""
    configs: Callable[[Path], list[Any]] | None = None
    graph: Callable[[Path], Any] | None = None
    reader: str | None = None
    no_reader: str = ""
    inference_graph: Callable[[Path, Path | None], Any] | None = None
    weights_only: Callable[[Path], bool] | None = None
    writer: str | None = None
    write_options: WriteOptions = field(default_factory=WriteOptions)
    prefix_output: bool = False
    output_suffixes: tuple[str, ...] = ()
    runner: str | None = None
    signatures: Callable[[Path], list[str]] | None = None
    smoke_runner: str | None = None
    runtime_title: str = "its runtime"
    blame: Callable[[str, Path], str | None] | None = None
    default_output: Callable[[Path, str], Path] | None = None
    holds_strings: bool = True
    graph_extractor: str | None = None

    @property
    def shown_name(self) -> str:
        """The format's name in sentences: ``title``, else ``name``."""
        return self.title or self.name

    def resolve(self, role: str) -> Callable[..., Any] | None:
        """The function a ``"module:function"`` role names (``reader``, ``runner``, ``graph_extractor``), imported."""
        target = getattr(self, role)
        if target is None:
            return None
        module, _, function = target.partition(":")
        return getattr(import_module(module), function)

    def holds_weights_only(self, path: Path) -> bool:
        """Whether the file at ``path`` holds weights without an architecture (see ``weights_only``)."""
        return self.weights_only is not None and self.weights_only(Path(path))


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


def formats() -> list[Format]:
    """All registered formats, in registration order."""
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
    refuse_links(path)  # a FIFO named model.json, a link to a device: say so by name
    known = ", ".join(f"{f.name} ({f.description})" for f in formats())
    raise DetectionError(f"{path}: not a model file convkit recognises; known formats: {known}")


def _is_checkpoint_prefix(path: Path) -> bool:
    # A checkpoint is named by its prefix (training_1/cp.ckpt), which is not a file itself.
    return path.with_name(path.name + ".index").is_file()
