"""The route engine: conversion between every TensorFlow / Keras / TF.js model format.

``convert(src, to)`` reads the source into a portable form (Keras 2 dialect
config + lazily read weights), then writes the target: ``.h5`` and TF.js
layers models are streamed without TensorFlow; ``.keras``, SavedModel,
checkpoint and TF.js graph outputs go through Keras / TensorFlow. Every output
is written to a temporary sibling and renamed into place at the end. Which
writer runs is the target format's registry record's to say (``writer``);
the writers are in :mod:`convkit.convert.routes`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

from convkit import registry
from convkit.convert.atomic import atomic_output, atomic_prefix
from convkit.convert.streaming import DEFAULT_SHARD_SIZE, QUANTIZE_DTYPES
from convkit.errors import MismatchError, UsageError, WriteError
from convkit.formats import _policy
from convkit.progress import Progress, no_progress

__all__ = ["ConvertResult", "convert", "default_output", "DEFAULT_SHARD_SIZE", "ONNX_ROUTES", "QUANTIZE_DTYPES", "TFJS_KINDS"]

TFJS_KINDS = ("layers", "graph")
ONNX_ROUTES = ("native", "tf2onnx")


class Verifier(Protocol):
    """What proves a conversion, supplied from above ``convert`` and ``check`` (:class:`convkit.verify.OutputVerifier`)."""

    def run_once(self, path: Path, target: str, *, final: Path, like: Path | None, allow_unsafe: bool) -> None:
        """Loads the output written at ``path`` in its target runtime and runs it once.

        Raises:
            VerifyError: the runtime cannot load or run it (the output is then not put in place).
        """

    def compare(self, src: Path, out: Path, like: str | Path | None) -> dict[str, Any]:
        """Checks the written copy against its source; returns the check report as a dict."""


@dataclass(frozen=True)
class ConvertResult:
    """What a conversion wrote.

    Attributes:
        src: the source path.
        out: the output path (a checkpoint prefix for ``ckpt``).
        src_format: registry name of the source format.
        to: registry name of the target format.
        kind: what exactly was written (``layers``/``graph`` for tfjs,
            ``keras2-h5``, ``keras3``, ``keras-savedmodel``/``export``/``copy``,
            ``weights``, ``native-opset-17``/``tf2onnx-opset-17`` for onnx, the route (and quantization) for
            tflite such as ``builtin`` or ``builtin-int8``).
        warnings: what the target could not hold or had to change.
        seconds: wall time of the conversion.
        check: the equivalence report (``to_dict()``) when ``check=True``.
    """

    src: Path
    out: Path
    src_format: str
    to: str
    kind: str
    warnings: tuple[str, ...]
    seconds: float
    check: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The ``convert --json`` document (docs/json.md); keys are spelled out so renames stay internal."""
        return {
            "src": str(self.src),
            "out": str(self.out),
            "src_format": self.src_format,
            "to": self.to,
            "kind": self.kind,
            "warnings": list(self.warnings),
            "seconds": self.seconds,
            "check": self.check,
        }


def default_output(src: Path, to: str) -> Path:
    """Where ``convert`` writes when no ``out`` is given: next to ``src``.

    ``my_model.h5 --to tfjs`` -> ``my_model_tfjs/``; ``--to keras`` ->
    ``my_model.keras``; ``--to savedmodel`` -> ``my_model_savedmodel/``;
    ``--to ckpt`` -> ``my_model_ckpt/ckpt``; ``--to h5`` -> ``my_model.h5``;
    ``--to onnx`` -> ``my_model.onnx``; ``--to tflite`` -> ``my_model.tflite``.
    A default that would be the source itself gets ``_converted``.
    """
    src = Path(src)
    base = src
    if src.name == "model.json":
        base = src.parent
    name = base.name
    for suffix in (".weights.h5", ".h5", ".keras", ".ckpt", ".index", ".json"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if name in ("", "."):
        name = "model"
    parent = base.parent
    fmt = registry.get_format(to)
    out = fmt.default_output(parent, name) if fmt.default_output else parent / f"{name}_{to}"
    if out.resolve() == src.resolve() or (to == "ckpt" and out.parent.resolve() == src.resolve()):
        out = out.with_name(out.name.replace(name, f"{name}_converted", 1))
    return out


def convert(
    src: str | Path,
    to: str,
    out: str | Path | None = None,
    *,
    like: str | Path | None = None,
    tfjs_kind: str | None = None,
    quantize: str | None = None,
    quantize_weights: Sequence[str] = (),
    shard_size: int = DEFAULT_SHARD_SIZE,
    keep_optimizer: bool = True,
    overwrite: bool = False,
    strict: bool = False,
    allow_unsafe: bool = False,
    check: bool = False,
    progress: Progress | None = None,
    verify: Verifier | None = None,
    opset: int | None = None,
    onnx_route: str | None = None,
) -> ConvertResult:
    """Converts the model at ``src`` to the format ``to``.

    Args:
        src: model file or folder of any registered format.
        to: registry name of the target: ``ckpt``, ``savedmodel``, ``h5``, ``keras``, ``tfjs``, ``onnx`` or ``tflite``.
        out: output path; default next to ``src`` (see :func:`default_output`).
        like: a model file giving the architecture for weights-only sources.
        tfjs_kind: ``layers`` or ``graph``; default layers for Keras sources
            (graph when TF.js layers cannot hold the model), graph for plain SavedModels.
        quantize: ``float16``, ``uint8`` or ``uint16`` weights in TF.js outputs;
            ``dynamic``, ``float16`` or ``int8`` for TFLite outputs.
        quantize_weights: glob patterns of weight names to quantize; default all.
        shard_size: bytes per TF.js weight shard; default 4 MiB.
        keep_optimizer: carry optimizer state where the target holds it; default True.
        overwrite: replace an existing ``out``; default False.
        strict: fail instead of warning when the target cannot hold part of the source.
        allow_unsafe: allow Lambda layers and custom functions (runs code from the file).
        check: compare the output's predictions with the source's after converting (through ``verify``).
        progress: told the stage (``loading``, ``writing``, ``verifying``) and, while weights are
            written, bytes done/total.
        verify: what proves the output: each output is loaded and run once in its target runtime
            before it is renamed into place (a TF.js layers output that fails falls back to a
            graph model unless ``tfjs_kind`` is ``layers``), and ``check`` compares it with the
            source. :func:`convkit.convert` passes :class:`convkit.verify.OutputVerifier`.
            Default None: outputs are written unverified.
        opset: ONNX opset of ``onnx`` outputs; default 17.
        onnx_route: ``native`` (convkit's own writer, no TensorFlow) or ``tf2onnx``; default the native
            writer where it covers every layer of a Keras source, else tf2onnx (with a warning).

    Raises:
        ConvkitError: a usage, read, write or safety problem (one-sentence message);
            MismatchError when ``check`` finds different predictions.
    """
    started = time.perf_counter()
    src = Path(src)
    target = registry.get_format(to).name
    src_format = registry.detect(src).name
    if tfjs_kind is not None and tfjs_kind not in TFJS_KINDS:
        raise UsageError(f"unknown TF.js model kind {tfjs_kind!r}; choose one of {', '.join(TFJS_KINDS)}")
    if target != "tfjs" and (tfjs_kind or quantize_weights or (quantize and target != "tflite")):
        raise UsageError("--tfjs-kind, --quantize and --quantize-weights apply to --to tfjs only "
                         "(and --quantize to --to tflite)")
    if opset is not None and target != "onnx":
        raise UsageError("--opset applies to --to onnx only")
    if onnx_route is not None and (target != "onnx" or onnx_route not in ONNX_ROUTES):
        raise UsageError(f"--onnx-route takes {' or '.join(ONNX_ROUTES)} and applies to --to onnx only")
    if target == "tflite":
        from convkit.convert.to_tflite import check_quantization

        check_quantization(quantize)
    elif target == "onnx":
        from convkit.convert.to_onnx import check_opset

        check_opset(opset)
    elif quantize is not None and quantize not in QUANTIZE_DTYPES:
        raise UsageError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZE_DTYPES)}")
    if quantize_weights and not quantize:
        raise UsageError("--quantize-weights needs --quantize")
    out = Path(out) if out is not None else default_output(src, target)
    if out.resolve() == src.resolve():
        raise UsageError(f"{out}: the output would replace the source; choose another --out")
    if check and verify is None:
        raise UsageError("check=True needs a verifier; convkit.convert passes the check engine's")
    say = progress or no_progress
    say("loading")
    _policy.screen(src, src_format, allow_unsafe)
    job = Job(src, src_format, target, out, like=Path(like) if like else None, tfjs_kind=tfjs_kind,
               quantize=quantize, quantize_weights=tuple(quantize_weights), shard_size=shard_size,
               keep_optimizer=keep_optimizer, overwrite=overwrite, strict=strict,
               allow_unsafe=allow_unsafe, progress=progress, opset=opset, onnx_route=onnx_route, verify=verify)
    say("writing")
    kind = job.run()
    report = None
    if check and verify is not None:
        say("verifying")
        report = verify.compare(src, out, like)
    result = ConvertResult(src, out, src_format, target, kind, tuple(job.warnings),
                           round(time.perf_counter() - started, 3), report)
    if report is not None and not report.get("passed", False):
        error = MismatchError(f"{out}: predicts differently from {src} (see convkit check {src} {out})")
        error.result = result  # type: ignore[attr-defined]  # the CLI prints the report whatever the verdict
        raise error
    return result


class Job:
    """One conversion: picks the route from (source format, target) and runs it."""

    def __init__(self, src: Path, src_format: str, target: str, out: Path, **options: Any) -> None:
        self.src = src
        self.src_format = src_format
        self.target = target
        self.out = out
        self.options = options
        self.warnings: list[str] = []
        self.losses: list[str] = []

    # ------------------------------------------------------------ helpers

    def lose(self, what: str) -> None:
        """Records something the target cannot hold; fatal with --strict."""
        self.losses.append(what)
        self.warnings.append(f"left out of the {self.target} output: {what}")

    @contextlib.contextmanager
    def output(self) -> Iterator[Path]:
        """The atomic temporary for the output; what is written there is verified before it is renamed into place."""
        with atomic_output(self.out, self.options["overwrite"]) as temp:
            yield temp
            self.prove(temp)

    @contextlib.contextmanager
    def output_prefix(self) -> Iterator[Path]:
        """The staged checkpoint prefix for the output, verified like :meth:`output`."""
        with atomic_prefix(self.out, self.options["overwrite"]) as prefix:
            yield prefix
            self.prove(prefix)

    def prove(self, written: Path) -> None:
        """Runs the written output once in its target runtime (when a verifier was given)."""
        verifier = self.options["verify"]
        if verifier is None:
            return
        (self.options["progress"] or no_progress)("verifying")
        like = self.options["like"] if self.options["like"] is not None else self.src
        # Loading runs under the user's safety setting, never more permissive: a second line of
        # defence behind the code policy's screening of the source.
        verifier.run_once(written, self.target, final=self.out, like=like, allow_unsafe=self.options["allow_unsafe"])

    def enforce_strict(self) -> None:
        """Raises when something was left out and ``--strict`` forbids it."""
        if self.options["strict"] and self.losses:
            raise WriteError(f"{self.out}: a {self.target} output cannot hold {self.losses[0]}, and --strict forbids leaving it out")

    def portable(self, stack: contextlib.ExitStack) -> Any:
        """The source as a PortableModel (``like`` lending the architecture to weights-only files)."""
        from convkit.live import read_model

        return read_model(self.src, stack, like=self.options["like"], allow_unsafe=self.options["allow_unsafe"],
                          fmt=self.src_format)

    def note_optimizer(self, model: Any, carried: bool, training_carried: bool | None = None) -> None:
        if not self.options["keep_optimizer"]:
            return  # --no-optimizer: leaving training state out is what the user asked for
        if model.optimizer_weights and not carried:
            self.lose("the optimizer state of the source")
        if model.training_config and not (carried if training_carried is None else training_carried):
            self.lose("the training configuration (compile settings) of the source")

    # ------------------------------------------------------------ routes

    def run(self) -> str:
        """Writes the output through the route the source and the target choose; returns its kind."""
        from convkit.convert import routes

        special = routes.source_route(self)
        if special is not None:
            return special
        writer = registry.get_format(self.target).resolve("writer")
        if writer is None:
            raise UsageError(f"convkit does not write {self.target} files")
        kind: str = writer(self)
        return kind
