"""One conversion as its writer sees it: a typed request in, the source read once, outputs smoke-run before
they appear, and a typed result (:class:`Written`) out.

The route engine (:mod:`convkit.convert.engine`) builds a :class:`Conversion`
and hands it to the writer the target format's registry record names; the
writer asks its :class:`Source` for the model (read on first use, once) and
writes through :meth:`Conversion.output`, which runs the output once in its
target runtime (:func:`convkit.runtimes.smoke.smoke_run`) before renaming it
into place.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from convkit.convert.atomic import atomic_output, atomic_prefix
from convkit.errors import UsageError, WriteError
from convkit.profile import stage
from convkit.progress import Progress, no_progress
from convkit.registry import Format

if TYPE_CHECKING:
    from convkit.data.loader import InputsLike
    from convkit.data.preprocess import Preprocessing
    from convkit.graph_model.model import GraphModel
    from convkit.keras_model.data import ModelData


@dataclass(frozen=True)
class ConvertRequest:
    """Everything a conversion was asked for, checked against the target's write options.

    Attributes:
        src: the source model file or folder.
        src_format: registry name of the source's format.
        to: registry name of the target format.
        out: where the output goes (a checkpoint prefix for prefix outputs).
        like: a model file lending its architecture to weights-only sources.
        kind: the model kind, for targets that write more than one (TF.js ``layers`` or ``graph``).
        quantize: the weight quantization, one of the target's.
        quantize_weights: glob patterns of the weights to quantize; empty: all.
        shard_size: bytes per weight shard; None: the target's default.
        keep_optimizer: carry optimizer state where the target holds it.
        overwrite: replace an existing ``out``.
        strict: fail instead of warning when the target cannot hold part of the source.
        allow_unsafe: the user's ``--unsafe`` (code from the file may run).
        smoke_run: load and run the output once in its target runtime before it appears.
        opset: the opset, for opset-versioned targets; None: the target's default.
        calibrate: the data a calibrated quantization (TFLite ``int8``) calibrates on, as
            :func:`convkit.data.loader.load_inputs` takes it; None: the inputs ``check`` would feed.
        preprocess: how the calibration images' pixels become values; None: by the input's dtype.
        limit: at most this many calibration samples; None: the writer's default.
        io_type: the number type of a calibrated model's inputs and outputs (``float32``, ``int8``,
            ``uint8``); None: ``float32``.
        nchw: inputs and outputs to write channels first (``[N, C, H, W]`` for ``[N, H, W, C]``); empty: none.
        external_data: write the weights to a data file beside the model whatever their size.
        input_shapes: ``(input name, dims)`` the output's inputs take, batch included (None: open; name
            ``""``: the only input); empty: the model's own, batch open.
        route: the writer, for targets written more than one way (ONNX: ``native`` or ``tf2onnx``); None:
            the target's writer picks.
        progress: told each stage and, while weights are written, bytes done/total.
        inputs: a graph's inputs, ``NAME[:SHAPE],...`` as given (``--inputs``); None: the signature's, else inferred.
        outputs: a graph's outputs, ``NAME,...`` as given (``--outputs``); None: the signature's, else inferred.
        signature: the signature of a source with several (``--signature``); None: ``serving_default``.
        tag: the meta graph of a SavedModel with several (``--tag``); None: ``serve``, else the only one.
    """

    src: Path
    src_format: str
    to: str
    out: Path
    like: Path | None = None
    kind: str | None = None
    quantize: str | None = None
    quantize_weights: tuple[str, ...] = ()
    shard_size: int | None = None
    keep_optimizer: bool = True
    overwrite: bool = False
    strict: bool = False
    allow_unsafe: bool = False
    smoke_run: bool = True
    opset: int | None = None
    calibrate: InputsLike | None = None
    preprocess: Preprocessing | None = None
    limit: int | None = None
    io_type: str | None = None
    nchw: tuple[str, ...] = ()
    external_data: bool = False
    input_shapes: tuple[tuple[str, tuple[int | None, ...]], ...] = ()
    route: str | None = None
    progress: Progress | None = None
    inputs: str | None = None
    outputs: str | None = None
    signature: str | None = None
    tag: str | None = None

    @property
    def graph_options(self) -> list[str]:
        """The options that apply to sources converted as graphs, as the command line spells those given."""
        given = (("--inputs", self.inputs), ("--outputs", self.outputs), ("--signature", self.signature),
                 ("--tag", self.tag))
        return [flag for flag, value in given if value]


@dataclass(frozen=True)
class Written:
    """What a writer wrote.

    Attributes:
        kind: what exactly (``layers``/``graph`` for TF.js, ``keras2-h5``, ``opset-17``, ``builtin-int8``, ...).
        warnings: what the target could not hold or had to change, in the order it came up.
        lost: the parts of the source the target does not hold (also among ``warnings``).
        calibration: what a calibrated quantization calibrated on (``source``, ``count``), or None.
    """

    kind: str
    warnings: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    calibration: dict[str, Any] | None = None


class Notes:
    """What a writer says about its output while it writes, returned as :class:`Written`."""

    def __init__(self, request: ConvertRequest, target: Format) -> None:
        self._request = request
        self._target = target
        self.warnings: list[str] = []
        self.lost: list[str] = []
        self.calibration: dict[str, Any] | None = None

    def warn(self, text: str) -> None:
        """A change the output needed or a part it lacks that is no loss (a checkpoint holds no architecture)."""
        self.warnings.append(text)

    def lose(self, what: str, warning: str | None = None) -> None:
        """Something of the source the target cannot hold.

        Raises:
            WriteError: with ``--strict``, before anything is written.
        """
        if self._request.strict:
            raise WriteError(f"{self._request.out}: a {self._target.name} output cannot hold {what}, and --strict "
                             "forbids leaving it out")
        self.lost.append(what)
        self.warnings.append(warning if warning is not None else f"left out of the {self._target.name} output: {what}")

    def optimizer(self, model: ModelData, carried: bool, training_carried: bool | None = None) -> None:
        """The source's optimizer state and training configuration, lost unless the output carries them."""
        if not self._request.keep_optimizer:
            return  # --no-optimizer: leaving training state out is what the user asked for
        if model.training_code:
            self.lose("the training configuration (compile settings) of the source",
                      f"left out of the {self._target.name} output: the training configuration of the source, which "
                      f"holds {model.training_code} (code that only training runs)")
            carried = False
        if model.optimizer_weights and not carried:
            self.lose("the optimizer state of the source")
        if model.training_config and not (carried if training_carried is None else training_carried):
            self.lose("the training configuration (compile settings) of the source")

    def mark(self) -> tuple[int, int]:
        """Where the notes stand, for :meth:`rollback`."""
        return len(self.warnings), len(self.lost)

    def rollback(self, mark: tuple[int, int]) -> None:
        """Forgets what was noted since ``mark`` (an attempt given up for another route)."""
        del self.warnings[mark[0]:], self.lost[mark[1]:]

    def written(self, kind: str) -> Written:
        """The writer's result."""
        return Written(kind, tuple(self.warnings), tuple(self.lost), self.calibration)


class Source:
    """The source of a conversion: its format's record, and its model, read on first use and only once.

    Args:
        request: the conversion's request.
        record: the source format's registry record.
        stack: keeps the source's files open while its weights are read.
    """

    def __init__(self, request: ConvertRequest, record: Format, stack: contextlib.ExitStack) -> None:
        self.path = request.src
        self.format = record
        self._request = request
        self._stack = stack
        self._graph: Any = None
        self._graph_known = False
        self._model: ModelData | None = None
        self._graph_model: GraphModel | None = None

    @property
    def graph(self) -> Any:
        """The source as an inference graph without a Keras model (the record's ``inference_graph``), or None."""
        if not self._graph_known:
            finder = self.format.inference_graph
            self._graph = finder(self.path, self._request.like) if finder is not None else None
            self._graph_known = True
        return self._graph

    @property
    def read_notes(self) -> tuple[str, ...]:
        """What reading changed in the source's model (a CuDNNLSTM read as an LSTM), if it was read."""
        return tuple(self._model.notes) if self._model is not None else ()

    def graph_model(self, *, as_graph: bool = False) -> GraphModel | None:
        """The source as a frozen TensorFlow graph, read on first use and only once; None when it does not convert as
        one. A graph-level source (a :class:`~convkit.graph_model.model.GraphSource`) always does; a SavedModel
        without a Keras config when the request names graph options or ``as_graph`` asks (a writer of graphs).

        Raises:
            ReadError: the graph cannot be read or rebuilt; UsageError: the graph options do not fit it.
        """
        from convkit.graph_model.model import GraphSource

        if self._graph_model is None:
            graph = self.graph
            if graph is not None and not isinstance(graph, GraphSource) and hasattr(graph, "as_graph") \
                    and (as_graph or self._request.graph_options):
                graph = graph.as_graph()
            if not isinstance(graph, GraphSource):
                return None
            request = self._request
            self._graph_model = graph.read(inputs=request.inputs, outputs=request.outputs,
                                           signature=request.signature, tag=request.tag)
        return self._graph_model

    def model(self) -> ModelData:
        """Architecture and weights of the source (``like`` lending the architecture to weights-only files).

        Raises:
            UsageError: the source is an inference graph without a Keras model, or holds none.
        """
        if self._model is None:
            if self.graph is not None:
                raise UsageError(self.graph.refusal(self._request.to))
            from convkit.keras_model.config import string_inputs
            from convkit.registry import get_format
            from convkit.runtimes.keras.read import read_model

            with stage("read"):
                model = read_model(self.path, self._stack, like=self._request.like,
                                   allow_unsafe=self._request.allow_unsafe, fmt=self.format.name)
            target = get_format(self._request.to)
            strings = string_inputs(model.config)
            if strings and not target.holds_strings:
                raise UsageError(
                    f"{self.path}: the model takes strings (input {strings[0]!r}: text preprocessing inside the "
                    f"model), which convkit cannot carry into {target.shown_name} (its string operations have no "
                    f"counterpart there), so no {target.name} output is written; convert to "
                    f"{', '.join(f.name for f in _string_targets())} instead, or move the text preprocessing out of "
                    "the model")
            self._model = model
        return self._model


def _string_targets() -> list[Format]:
    from convkit.registry import formats

    return [fmt for fmt in formats() if fmt.writer and fmt.holds_strings]


class Conversion:
    """One conversion, as the writer of its target gets it.

    Attributes:
        request: what was asked for.
        source: the source, read on first use.
        target: the target format's registry record.
    """

    def __init__(self, request: ConvertRequest, source: Source, target: Format) -> None:
        self.request = request
        self.source = source
        self.target = target

    def notes(self) -> Notes:
        """A fresh :class:`Notes` for the writer's warnings and losses."""
        return Notes(self.request, self.target)

    def say(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        """Tells the progress display the current stage."""
        (self.request.progress or no_progress)(stage, done, total)

    @property
    def shard_size(self) -> int:
        """Bytes per weight shard: the request's, else the target's default."""
        size = self.request.shard_size
        if size is None:
            size = self.target.write_options.shard_size
        if size <= 0:
            raise UsageError(f"shard size must be a positive number of bytes, not {size}")
        return size

    @property
    def opset(self) -> int:
        """The opset to write: the request's, else the target's default."""
        opset = self.request.opset or self.target.write_options.default_opset
        assert opset is not None, f"{self.target.name} writes no opsets"
        return opset

    @contextlib.contextmanager
    def output(self, *, smoke_run: bool = True) -> Iterator[Path]:
        """The atomic temporary for the output (a staged prefix for prefix outputs); renamed into place after
        the block, when the smoke run (unless ``smoke_run`` is False: the writer runs it itself) passes.

        Raises:
            UsageError: the output's name is one the target's runtime does not load (``model_keras`` for a
                ``.keras`` archive); asked here, once the source is known to convert, before anything is written.
        """
        out, suffixes = self.request.out, self.target.output_suffixes
        if suffixes and not out.name.endswith(suffixes):
            raise UsageError(f"{out}: Keras loads a {self.target.name} file only under a name ending in "
                             f"{' or '.join(suffixes)}; choose another --out")
        staged = atomic_prefix if self.target.prefix_output else atomic_output
        with staged(self.request.out, self.request.overwrite) as temp:
            with stage("write"):
                yield temp
            if smoke_run:
                self.smoke_run(temp)

    def smoke_run(self, written: Path) -> None:
        """Loads ``written`` in the target's runtime and runs it once, unless the request says not to (``--no-verify``).

        Loading runs under the user's safety setting, never more permissive: a second line of
        defence behind the code policy's screening of the source.

        Raises:
            VerifyError: the runtime cannot load or run it.
        """
        if not self.request.smoke_run:
            return
        from convkit.runtimes.smoke import smoke_run

        self.say("verifying")
        like = self.request.like if self.request.like is not None else self.request.src
        with stage("verify"):
            smoke_run(written, self.target, final=self.request.out, like=like, allow_unsafe=self.request.allow_unsafe)
