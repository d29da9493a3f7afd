"""Conversion between every TensorFlow / Keras / TF.js model format.

``convert(src, to)`` reads the source into a portable form (Keras 2 dialect
config + lazily read weights), then writes the target: ``.h5`` and TF.js
layers models are streamed without TensorFlow; ``.keras``, SavedModel,
checkpoint and TF.js graph outputs go through Keras / TensorFlow. Every output
is written to a temporary sibling and renamed into place at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from convkit import registry
from convkit._callable import make_package_callable
from convkit.convert import tfjs_layers
from convkit.convert.atomic import atomic_output
from convkit.convert.streaming import DEFAULT_SHARD_SIZE, QUANTIZE_DTYPES
from convkit.errors import MismatchError, UsageError, WriteError

__all__ = ["ConvertResult", "convert", "default_output", "DEFAULT_SHARD_SIZE", "QUANTIZE_DTYPES", "TFJS_KINDS"]

TFJS_KINDS = ("layers", "graph")
Progress = Callable[[int, int], None]


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
            ``weights``).
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
        document = asdict(self)
        document["src"] = str(self.src)
        document["out"] = str(self.out)
        document["warnings"] = list(self.warnings)
        return document


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
    candidates = {
        "tfjs": parent / f"{name}_tfjs",
        "keras": parent / f"{name}.keras",
        "savedmodel": parent / f"{name}_savedmodel",
        "ckpt": parent / f"{name}_ckpt" / "ckpt",
        "h5": parent / f"{name}.h5",
        "onnx": parent / f"{name}.onnx",
        "tflite": parent / f"{name}.tflite",
    }
    out = candidates.get(to, parent / f"{name}_{to}")
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
    opset: int | None = None,
) -> ConvertResult:
    """Converts the model at ``src`` to the format ``to``.

    Args:
        src: model file or folder of any registered format.
        to: registry name of the target: ``ckpt``, ``savedmodel``, ``h5``, ``keras`` or ``tfjs``.
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
        check: compare the output's predictions with the source's after converting.
        progress: called with (bytes done, bytes total) while weights are written.
        opset: ONNX opset of ``--to onnx`` outputs; default 17.

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
    job = _Job(src, src_format, target, out, like=Path(like) if like else None, tfjs_kind=tfjs_kind,
               quantize=quantize, quantize_weights=tuple(quantize_weights), shard_size=shard_size,
               keep_optimizer=keep_optimizer, overwrite=overwrite, strict=strict,
               allow_unsafe=allow_unsafe, progress=progress, opset=opset)
    kind = job.run()
    report = None
    if check:
        report = _check(src, out, like)
    result = ConvertResult(src, out, src_format, target, kind, tuple(job.warnings),
                           round(time.perf_counter() - started, 3), report)
    if report is not None and not report.get("passed", False):
        raise MismatchError(f"{out}: predicts differently from {src} (see convkit check {src} {out})")
    return result


def _check(src: Path, out: Path, like: str | Path | None) -> dict[str, Any]:
    try:
        from convkit.check import check as run_check
    except ImportError:
        raise UsageError("--check needs the convkit check engine, which is not installed") from None
    if out.name and not out.exists() and out.with_name(out.name + ".index").exists():
        like = like or src
    report = run_check(src, [out], like=like)
    return report.to_dict()


class _Job:
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

    def _lose(self, what: str) -> None:
        """Records something the target cannot hold; fatal with --strict."""
        self.losses.append(what)
        self.warnings.append(f"left out of the {self.target} output: {what}")

    def _enforce_strict(self) -> None:
        if self.options["strict"] and self.losses:
            raise WriteError(f"{self.out}: a {self.target} output cannot hold {self.losses[0]}, and --strict forbids leaving it out")

    def _portable(self, stack: contextlib.ExitStack) -> Any:
        from convkit.convert.loading import read_portable

        return read_portable(self.src, stack, like=self.options["like"], allow_unsafe=self.options["allow_unsafe"],
                             fmt=self.src_format)

    def _is_plain_saved_model(self) -> bool:
        from convkit.convert.loading import has_keras_metadata

        return self.src_format == "savedmodel" and not has_keras_metadata(self.src)

    def _is_tfjs_graph(self) -> bool:
        if self.src_format != "tfjs":
            return False
        from convkit.formats.tfjs import read_model_json

        return read_model_json(self.src).get("format") == "graph-model"

    def _note_optimizer(self, model: Any, carried: bool, training_carried: bool | None = None) -> None:
        if not self.options["keep_optimizer"]:
            return  # --no-optimizer: leaving training state out is what the user asked for
        if model.optimizer_weights and not carried:
            self._lose("the optimizer state of the source")
        if model.training_config and not (carried if training_carried is None else training_carried):
            self._lose("the training configuration (compile settings) of the source")

    # ------------------------------------------------------------ routes

    def run(self) -> str:
        if self.src_format in ("onnx", "tflite"):
            return self._from_inference_format()
        if self._is_tfjs_graph():
            return self._from_tfjs_graph()
        if self.target in ("onnx", "tflite"):
            return getattr(self, f"_to_{self.target}")()
        if self._is_plain_saved_model() and self.options["like"] is None:
            return self._from_plain_saved_model()
        route = getattr(self, f"_to_{self.target}")
        return route()

    def _from_tfjs_graph(self) -> str:
        if self.target != "tfjs" or self.options["tfjs_kind"] == "layers" or self.options["quantize"]:
            raise UsageError(
                f"{self.src}: is a TF.js graph model, an inference graph without Keras layers; convkit converts it "
                f"to nothing but a copy of itself (tensorflowjs 4.22 has no graph-model-to-SavedModel converter)"
            )
        with atomic_output(self.out, self.options["overwrite"]) as temp:
            shutil.copytree(self.src if self.src.is_dir() else self.src.parent, temp)
        return "graph"

    def _from_plain_saved_model(self) -> str:
        from convkit.convert import writers
        from convkit.formats.savedmodel import read_saved_model

        read_saved_model(self.src)  # a damaged saved_model.pb fails here, with one line, before TensorFlow sees it
        if self.target == "savedmodel":
            with atomic_output(self.out, self.options["overwrite"]) as temp:
                shutil.copytree(self.src, temp)
            return "copy"
        if self.target == "tfjs" and self.options["tfjs_kind"] != "layers":
            with atomic_output(self.out, self.options["overwrite"]) as temp:
                writers.write_tfjs_graph(self.src, temp, shard_size=self.options["shard_size"],
                                         quantize=self.options["quantize"],
                                         quantize_weights=self.options["quantize_weights"])
            return "graph"
        raise UsageError(
            f"{self.src}: is a SavedModel without a Keras config (e.g. from Keras 3 model.export), so it converts "
            f"to {self.target} only with --like MODEL naming a model of the same architecture"
        )

    def _to_tfjs(self) -> str:
        from convkit.convert import streaming

        kind = self.options["tfjs_kind"] or "layers"
        with contextlib.ExitStack() as stack:
            model = self._portable(stack)
            reasons = tfjs_layers.tfjs_unsupported(model.config)
            if kind == "layers" and reasons:
                if self.options["tfjs_kind"] == "layers":
                    raise UsageError(f"{self.src}: TF.js layers cannot hold this model: {reasons[0]}; "
                                     "use --tfjs-kind graph")
                self.warnings.append(f"{reasons[0]}; wrote a TF.js graph model instead")
                kind = "graph"
            if kind == "layers":
                # TF.js compiles a model whose model.json has a trainingConfig and fails on
                # Keras optimizer names (Custom>Adam), so neither optimizer nor training config goes in.
                self._note_optimizer(model, carried=False)
                self._enforce_strict()
                with atomic_output(self.out, self.options["overwrite"]) as temp:
                    written = streaming.write_tfjs_layers(
                        model, temp, shard_size=self.options["shard_size"], quantize=self.options["quantize"],
                        quantize_weights=self.options["quantize_weights"],
                        generated_by=f"convkit {_version()}", progress=self.options["progress"])
                    self.warnings.extend(written.warnings)
                    self.losses.extend(written.warnings)
                    self._enforce_strict()
                return "layers"
            self._lose("the Keras architecture and optimizer state (a TF.js graph model is an inference graph)")
            self._enforce_strict()
            return self._graph_from_portable(model)

    def _graph_from_portable(self, model: Any) -> str:
        from convkit.convert import writers

        with atomic_output(self.out, self.options["overwrite"]) as temp:
            with tempfile.TemporaryDirectory(prefix="convkit-export-") as scratch:
                saved_model = Path(scratch) / "saved_model"
                writers.export_for_graph(model, saved_model, self.src, self.options["allow_unsafe"])
                writers.write_tfjs_graph(saved_model, temp, shard_size=self.options["shard_size"],
                                         quantize=self.options["quantize"],
                                         quantize_weights=self.options["quantize_weights"])
        return "graph"

    def _from_inference_format(self) -> str:
        reason = (
            "no maintained ONNX-to-Keras or ONNX-to-SavedModel converter works offline within convkit's pins: "
            "onnx2tf 1.28.8 imports onnx_graphsurgeon and sng4onnx, which it does not declare, and downloads "
            "calibration images at run time"
            if self.src_format == "onnx" else
            "TensorFlow has no TFLite-to-SavedModel or TFLite-to-Keras converter"
        )
        raise UsageError(
            f"{self.src}: is an inference graph without Keras layers ({self.src_format}), which convkit does not "
            f"convert back ({reason}); keep the Keras source and convert that"
        )

    def _serving(self, stack: contextlib.ExitStack) -> tuple[Any, Any]:
        """The source as a named function, and a builder of its unrolled form (None without recurrent layers)."""
        from convkit.convert import serving

        if self._is_plain_saved_model() and self.options["like"] is None:
            from convkit.formats.savedmodel import read_saved_model

            read_saved_model(self.src)  # a damaged saved_model.pb fails here, with one line, before TensorFlow sees it
            return serving.from_saved_model(self.src), None
        model = self._portable(stack)
        self._note_optimizer(model, carried=False)
        self._enforce_strict()
        unsafe = self.options["allow_unsafe"]
        unrolled = None
        if serving.recurrent_layers(model):
            unrolled = lambda: serving.from_portable(serving.unrolled(model), self.src, unsafe)  # noqa: E731
        return serving.from_portable(model, self.src, unsafe), unrolled

    def _to_onnx(self) -> str:
        from convkit.convert.to_onnx import write_onnx

        with contextlib.ExitStack() as stack:
            live, _ = self._serving(stack)
            with atomic_output(self.out, self.options["overwrite"]) as temp:
                opset = write_onnx(live, temp, self.src, opset=self.options["opset"])
        return f"opset-{opset}"

    def _to_tflite(self) -> str:
        from convkit.convert.to_tflite import write_tflite

        with contextlib.ExitStack() as stack:
            live, unrolled = self._serving(stack)
            with atomic_output(self.out, self.options["overwrite"]) as temp:
                written = write_tflite(live, temp, self.src, quantize=self.options["quantize"], unrolled=unrolled)
            self.warnings.extend(written.warnings)
        quantize = self.options["quantize"]
        return f"{written.kind}-{quantize}" if quantize else written.kind

    def _to_h5(self) -> str:
        from convkit.convert import streaming

        with contextlib.ExitStack() as stack:
            model = self._portable(stack)
            keep = self.options["keep_optimizer"] and model.generation == 2 and self.src_format == "h5"
            training = model.training_config if keep else None
            self._note_optimizer(model, carried=keep)
            self._enforce_strict()
            with atomic_output(self.out, self.options["overwrite"]) as temp:
                streaming.write_keras2_h5(model, temp, training_config=training, progress=self.options["progress"])
                if keep and model.optimizer_weights:
                    _copy_h5_group(self.src, temp, "optimizer_weights")
        return "keras2-h5"

    def _to_keras(self) -> str:
        from convkit.convert import writers

        if self.src_format == "keras" and self.options["keep_optimizer"]:
            with atomic_output(self.out, self.options["overwrite"]) as temp:
                with contextlib.ExitStack() as stack:
                    self._portable(stack)  # config and weights layout under convkit's limits; refuses code layers
                shutil.copyfile(self.src, temp)
            return "keras3"
        with contextlib.ExitStack() as stack:
            model = self._portable(stack)
            self._note_optimizer(model, carried=False)
            self._enforce_strict()
            with atomic_output(self.out, self.options["overwrite"]) as temp:
                writers.write_keras_archive(model, temp, self.src, self.options["allow_unsafe"])
        return "keras3"

    def _to_savedmodel(self) -> str:
        from convkit.convert import writers

        with contextlib.ExitStack() as stack:
            model = self._portable(stack)
            self._note_optimizer(model, carried=False)
            self._enforce_strict()
            with atomic_output(self.out, self.options["overwrite"]) as temp:
                kind = writers.write_saved_model(model, temp, self.src, self.options["allow_unsafe"])
            if kind == "export":
                self.warnings.append("tf_keras cannot build this architecture, so the SavedModel is a Keras 3 "
                                     "export (inference only, no Keras config)")
        return kind

    def _to_ckpt(self) -> str:
        from convkit.convert import writers

        with contextlib.ExitStack() as stack:
            model = self._portable(stack)
            # Weights only is what a checkpoint is; say so, but --strict is about losses beyond that.
            self.warnings.append("the architecture is not stored (a checkpoint holds weights only; "
                                 "convert it back with --like MODEL)")
            self._note_optimizer(model, carried=False)
            self._enforce_strict()
            prefix = self.out
            if not prefix.parent.exists():
                with atomic_output(prefix.parent, self.options["overwrite"]) as temp:
                    temp.mkdir()
                    writers.write_checkpoint(model, temp / prefix.name, self.src, self.options["allow_unsafe"])
                return "weights"
            _write_prefix_atomically(prefix, self.options["overwrite"],
                                     lambda p: writers.write_checkpoint(model, p, self.src, self.options["allow_unsafe"]))
        return "weights"


def _write_prefix_atomically(prefix: Path, overwrite: bool, write: Callable[[Path], None]) -> None:
    """Writes a checkpoint at ``prefix`` inside an existing folder: data shards first, index last."""
    index = prefix.with_name(prefix.name + ".index")
    if index.exists() and not overwrite:
        raise WriteError(f"{prefix}: a checkpoint with this prefix already exists; pass --overwrite to replace it")
    with atomic_output(prefix.with_name(prefix.name + ".convkit-staging"), overwrite=True) as temp:
        temp.mkdir()
        write(temp / prefix.name)
        staged = sorted(temp.glob(prefix.name + ".*"), key=lambda p: p.name.endswith(".index"))
        for path in staged:
            os.replace(path, prefix.with_name(path.name))


def _copy_h5_group(source: Path, target: Path, name: str) -> None:
    import h5py

    with h5py.File(source, "r") as src, h5py.File(target, "a") as dst:
        if name in src:
            src.copy(src[name], dst, name=name)


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("convkit")
    except metadata.PackageNotFoundError:
        return "0"


make_package_callable(__name__, convert)
