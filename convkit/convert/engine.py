"""The route engine: conversion between every TensorFlow / Keras / TF.js / ONNX / TFLite model format.

One straight route: ``convert(src, to)`` checks the request against the
target's write options, screens the source once with the code policy, hands
the conversion to the writer the target format's registry record names (which
reads the source once, into the in-memory model, and writes the output to a
temporary sibling that is smoke-run in its target runtime before it is renamed
into place), and reports what was written. The writers are in
:mod:`convkit.convert.writers`.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from convkit import registry
from convkit.convert.conversion import Conversion, ConvertRequest, Source, Written
from convkit.convert.serving import parse_input_shape
from convkit.data.loader import InputsLike
from convkit.data.preprocess import Preprocessing, preprocessing
from convkit.errors import UsageError
from convkit.policy import screening
from convkit.profile import stage
from convkit.progress import Progress, no_progress

__all__ = ["ConvertRequest", "ConvertResult", "convert", "default_output"]


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
            ``weights``, ``opset-17`` for onnx, the route (and quantization) for
            tflite such as ``builtin`` or ``builtin-int8``).
        warnings: what the target could not hold or had to change.
        seconds: wall time of the conversion.
        check: the equivalence report (``to_dict()``) when ``check=True``.
        lost: the parts of the source the target does not hold (also among ``warnings``).
        calibration: for a calibrated quantization (TFLite int8), what it calibrated on: ``source``
            and ``count``; else None.
    """

    src: Path
    out: Path
    src_format: str
    to: str
    kind: str
    warnings: tuple[str, ...]
    seconds: float
    check: dict[str, Any] | None = field(default=None)
    lost: tuple[str, ...] = ()
    calibration: dict[str, Any] | None = None

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
            "calibration": self.calibration,
            "check": self.check,
        }


def default_output(src: Path, to: str) -> Path:
    """Where ``convert`` writes when no ``out`` is given: next to ``src``.

    ``my_model.h5 --to tfjs`` -> ``my_model_tfjs/``; ``--to keras`` ->
    ``my_model.keras``; ``--to savedmodel`` -> ``my_model_savedmodel/``;
    ``--to ckpt`` -> ``my_model_ckpt/ckpt``; ``--to h5`` -> ``my_model.h5``;
    ``--to pb`` -> ``my_model.pb``; ``--to onnx`` -> ``my_model.onnx``; ``--to tflite`` -> ``my_model.tflite``.
    A default that would be the source itself gets ``_converted``.
    """
    src = Path(src)
    base = src
    if src.name == "model.json":
        base = src.parent
    name = base.name
    for suffix in (".weights.h5", ".h5", ".keras", ".ckpt", ".index", ".json", ".pb"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if name in ("", "."):
        name = "model"
    parent = base.parent
    fmt = registry.get_format(to)
    out = fmt.default_output(parent, name) if fmt.default_output else parent / f"{name}_{to}"
    if out.resolve() == src.resolve() or (fmt.prefix_output and out.parent.resolve() == src.resolve()):
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
    shard_size: int | None = None,
    keep_optimizer: bool = True,
    overwrite: bool = False,
    strict: bool = False,
    allow_unsafe: bool = False,
    progress: Progress | None = None,
    smoke_run: bool = True,
    opset: int | None = None,
    calibrate: InputsLike | None = None,
    preprocess: str | Preprocessing | None = None,
    limit: int | None = None,
    io_type: str | None = None,
    nchw: Sequence[str] = (),
    external_data: bool = False,
    input_shapes: Sequence[str] = (),
    inputs: str | Sequence[str] | None = None,
    outputs: str | Sequence[str] | None = None,
    signature: str | None = None,
    tag: str | None = None,
    onnx_route: str | None = None,
) -> ConvertResult:
    """Converts the model at ``src`` to the format ``to``.

    Args:
        src: model file or folder of any registered format.
        to: registry name of the target: ``ckpt``, ``savedmodel``, ``h5``, ``keras``, ``tfjs``, ``pb``, ``onnx`` or
            ``tflite``.
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
        progress: told the stage (``loading``, ``writing``, ``verifying``) and, while weights are
            written, bytes done/total.
        smoke_run: load and run each output once in its target runtime before it is renamed into
            place (a TF.js layers output that fails falls back to a graph model unless ``tfjs_kind``
            is ``layers``); default True. False (``--no-verify``) keeps unverified outputs, for every target.
        opset: ONNX opset of ``onnx`` outputs; default 17.
        calibrate: with ``quantize="int8"`` (TFLite), the data to calibrate on, as ``check``'s ``inputs``
            takes it (an ``.npz``, ``.npy``, images, CSV, ``NAME=SOURCE``, or arrays); default: up to 100
            of the inputs ``check`` would feed.
        preprocess: how calibration images' pixels become values (a preset name or a ``Preprocessing``).
        limit: calibrate on at most this many samples; default 500 of ``calibrate``'s.
        io_type: ``float32`` (default), ``int8`` or ``uint8``: the number type of an int8 TFLite model's
            inputs and outputs.
        nchw: names of inputs and outputs an ONNX output takes and gives channels first (``[N, C, H, W]``
            for the model's ``[N, H, W, C]``); recorded in the file, so ``check`` feeds it transposed data.
        external_data: an ONNX output's weights go to ``<name>.onnx.data`` beside it whatever their size
            (always past 960 MiB), each at a 4 KiB-aligned offset, which onnxruntime maps instead of reading.
        input_shapes: ``NAME=DIMS`` per input (``image=1x28x28x1``; ``-1`` or ``?`` for an open dimension;
            no ``NAME=`` for a model's only input), for targets that record shapes (SavedModel, ONNX, TFLite,
            TF.js graph models); default: the model's shapes with the batch open.
        inputs: for graph-level sources, the inputs as ``NAME[:SHAPE],...`` (``x:0`` and
            ``x:1x28x28x1`` forms); default: the signature's, else the graph's placeholders.
        outputs: for graph-level sources, the outputs as ``NAME,...``; default: the signature's,
            else the nodes nobody consumes.
        signature: the signature to convert, where a source has several; default ``serving_default``, else
            the only one. A SavedModel's is converted alone (the output's only signature); a key the source
            lacks is refused with its keys.
        tag: the SavedModel meta graph's tag set (``serve``, ``train,gpu``); default ``serve``, else the only one.
        onnx_route: ``native`` (convkit's own ONNX writer, no TensorFlow) or ``tf2onnx``; default the native
            writer where it covers every layer of a Keras source, else tf2onnx (with a warning).

    Raises:
        ConvkitError: a usage, read, write or safety problem (one-sentence message);
            VerifyError when the output does not load or run in its runtime.
    """
    started = time.perf_counter()
    src = Path(src)
    target = registry.get_format(to)
    source_format = registry.detect(src)
    _check_options(target, tfjs_kind, quantize, tuple(quantize_weights), opset, onnx_route)
    if isinstance(preprocess, Preprocessing) and not preprocess.given:
        preprocess = None
    _check_calibration(target, quantize, calibrate, preprocess, limit, io_type)
    nchw = tuple(dict.fromkeys(name.strip() for item in nchw for name in item.split(",") if name.strip()))
    shapes = tuple(parse_input_shape(item) for item in input_shapes)
    if shapes and not target.write_options.input_shapes:
        takers = ", ".join(f"--to {fmt.name}" for fmt in registry.formats() if fmt.write_options.input_shapes)
        raise UsageError(f"--input-shape applies to targets that record input shapes ({takers}), not --to {target.name}")
    if nchw:
        _refuse_unless_written(target, "channels_first", "--nchw")
    if external_data:
        _refuse_unless_written(target, "external_data", "--external-data")
    _check_signature(source_format, src, signature)
    if isinstance(preprocess, str):
        preprocess = preprocessing(preprocess)
    out = Path(out) if out is not None else default_output(src, target.name)
    if out.resolve() == src.resolve():
        raise UsageError(f"{out}: the output would replace the source; choose another --out")
    request = ConvertRequest(
        src=src, src_format=source_format.name, to=target.name, out=out, like=Path(like) if like else None,
        kind=tfjs_kind, quantize=quantize, quantize_weights=tuple(quantize_weights), shard_size=shard_size,
        keep_optimizer=keep_optimizer, overwrite=overwrite, strict=strict, allow_unsafe=allow_unsafe,
        smoke_run=smoke_run, opset=opset, calibrate=calibrate, preprocess=preprocess, limit=limit, io_type=io_type,
        nchw=nchw, external_data=external_data, input_shapes=shapes, route=onnx_route, progress=progress, inputs=_joined(inputs),
        outputs=_joined(outputs), signature=signature, tag=tag,
    )
    say = progress or no_progress
    say("loading")
    with stage("screen"):
        screening.screen(src, source_format.name, allow_unsafe)
    writer = target.resolve("writer")
    if writer is None:
        raise UsageError(f"convkit does not write {target.name} files")
    with contextlib.ExitStack() as stack:
        conversion = Conversion(request, Source(request, source_format, stack), target)
        # --signature also serves a SavedModel that converts through its Keras layers (serving.py picks it).
        refused = [flag for flag in request.graph_options if flag != "--signature" or source_format.signatures is None]
        if refused and conversion.source.graph_model() is None:
            raise UsageError(f"{src}: {refused[0]} applies to sources converted as graphs (TF.js graph "
                             "models, frozen graphs, MetaGraphs, SavedModels without Keras layers; without --like), "
                             "not to this one")
        if shapes and conversion.source.graph_model() is not None:
            raise UsageError(f"{src}: a source converted as a graph takes its input shapes with --inputs "
                             "NAME:SHAPE, not --input-shape")
        say("writing")
        written: Written = writer(conversion)
    warnings = (*conversion.source.read_notes, *written.warnings)
    return ConvertResult(src, out, source_format.name, target.name, written.kind, warnings,
                         round(time.perf_counter() - started, 3), lost=written.lost, calibration=written.calibration)


def _joined(names: str | Sequence[str] | None) -> str | None:
    """``--inputs``/``--outputs`` as one comma-separated string, whether given as one or as a list."""
    if names is None or isinstance(names, str):
        return names or None
    return ",".join(names) or None


def _check_options(target: registry.Format, kind: str | None, quantize: str | None,
                   quantize_weights: tuple[str, ...], opset: int | None, route: str | None = None) -> None:
    """Refuses options the target's writer does not take, naming the targets that do (from their records)."""
    options = target.write_options
    for given, flag, attribute in ((kind is not None, "--tfjs-kind", "kinds"),
                                   (quantize is not None, "--quantize", "quantizations"),
                                   (bool(quantize_weights), "--quantize-weights", "quantize_weights"),
                                   (opset is not None, "--opset", "opsets"),
                                   (route is not None, "--onnx-route", "routes")):
        if given and not getattr(options, attribute):
            takers = " or ".join(f"--to {fmt.name}" for fmt in registry.formats() if getattr(fmt.write_options, attribute))
            raise UsageError(f"{flag} applies to {takers} only")
    if kind is not None and kind not in options.kinds:
        raise UsageError(f"unknown {target.shown_name} model kind {kind!r}; choose one of {', '.join(options.kinds)}")
    if quantize is not None and quantize not in options.quantizations:
        raise UsageError(f"unknown {target.shown_name} quantization {quantize!r}; choose one of "
                         f"{', '.join(options.quantizations)}")
    if quantize_weights and not quantize:
        raise UsageError("--quantize-weights needs --quantize")
    if route is not None and route not in options.routes:
        raise UsageError(f"unknown {target.shown_name} route {route!r}; choose one of {', '.join(options.routes)}")
    if opset is not None and opset not in options.opsets:
        raise UsageError(f"--opset {opset} is outside the {target.shown_name} opsets convkit writes "
                         f"({min(options.opsets)}..{max(options.opsets)})")


def _refuse_unless_written(target: registry.Format, option: str, flag: str) -> None:
    """UsageError naming the targets that take ``flag`` when ``target``'s write option ``option`` is off."""
    if not getattr(target.write_options, option):
        takers = " or ".join(f"--to {fmt.name}" for fmt in registry.formats() if getattr(fmt.write_options, option))
        raise UsageError(f"{flag} applies to {takers} only")


def _check_signature(source_format: registry.Format, src: Path, signature: str | None) -> None:
    """Refuses a ``--signature`` key a source holding signatures (a SavedModel) lacks, listing its keys, read
    without TensorFlow."""
    if signature is None or source_format.signatures is None:
        return  # graph-level sources (a MetaGraph's signatures) are read, and refused, with the graph
    keys = source_format.signatures(src)
    if signature not in keys:
        raise UsageError(f"{src}: the {source_format.shown_name} model has no signature {signature!r}; its "
                         f"signatures: {', '.join(keys) or 'none'}")


def _check_calibration(target: registry.Format, quantize: str | None, calibrate: object, preprocess: object,
                       limit: int | None, io_type: str | None) -> None:
    """Refuses calibration data and input/output types where no calibrated quantization is asked for."""
    options = target.write_options
    takers = " or ".join(f"--to {fmt.name} --quantize {'/'.join(fmt.write_options.calibrated)}"
                         for fmt in registry.formats() if fmt.write_options.calibrated)
    for given, flag in ((calibrate is not None, "--calibrate"), (io_type is not None, "--io-type"),
                        (preprocess is not None, "--preprocess/--scale/--offset/--mean/--std"),
                        (limit is not None, "--limit")):
        if given and quantize not in options.calibrated:
            raise UsageError(f"{flag} applies to {takers} only")
    if io_type is not None and io_type not in options.io_types:
        raise UsageError(f"unknown {target.shown_name} input/output type {io_type!r}; choose one of "
                         f"{', '.join(options.io_types)}")
    if (preprocess is not None or limit is not None) and calibrate is None:
        raise UsageError("--preprocess, --scale, --offset, --mean, --std and --limit apply to the data given with "
                         "--calibrate")
