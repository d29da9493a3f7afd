"""The convert routes: one writer per target format, named by that format's registry record.

Each ``to_<format>(job)`` reads the source through :mod:`convkit.live` (configs
judged by the code policy first) and writes ``job.out`` atomically. Two sources
take their own route whatever the target: a TF.js graph model (copied) and a
SavedModel without a Keras config (copied, or converted to a TF.js graph),
except that ONNX and TFLite outputs are written from any SavedModel's serving
signature.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from convkit.formats import keras_dialect
from convkit.convert.atomic import atomic_output, copy_model_tree
from convkit.errors import UsageError, VerifyError, WriteError
from convkit.formats import hdf5

if TYPE_CHECKING:
    from convkit.convert.engine import Job
    from convkit.convert.serving import Serving

# Targets written from the model as one named function (convert/serving.py), which a
# SavedModel's serving signature gives without a Keras config.
SERVING_TARGETS = ("onnx", "tflite")


def version() -> str:
    """convkit's installed version, for ``generatedBy`` fields."""
    from importlib import metadata

    try:
        return metadata.version("convkit")
    except metadata.PackageNotFoundError:
        return "0"


def source_route(job: Job) -> str | None:
    """The route a source takes whatever the target (TF.js graph models, plain SavedModels), or None."""
    from convkit.formats import tfjs

    if job.src_format == "tfjs" and tfjs.is_graph_model(job.src):
        return _from_tfjs_graph(job)
    if _is_plain_saved_model(job) and job.target not in SERVING_TARGETS:
        return _from_plain_saved_model(job)
    return None


def _is_plain_saved_model(job: Job) -> bool:
    from convkit.formats import savedmodel

    return job.src_format == "savedmodel" and not savedmodel.has_keras_metadata(job.src) and job.options["like"] is None


def _from_tfjs_graph(job: Job) -> str:
    if job.target != "tfjs" or job.options["tfjs_kind"] == "layers" or job.options["quantize"]:
        raise UsageError(
            f"{job.src}: is a TF.js graph model, an inference graph without Keras layers; convkit converts it "
            f"to nothing but a copy of itself (tensorflowjs 4.22 has no graph-model-to-SavedModel converter)"
        )
    with job.output() as temp:
        copy_model_tree(job.src if job.src.is_dir() else job.src.parent, temp)
    return "graph"


def _from_plain_saved_model(job: Job) -> str:
    from convkit.convert import writers
    from convkit.formats.savedmodel import read_saved_model

    read_saved_model(job.src)  # a damaged saved_model.pb fails here, with one line, before TensorFlow sees it
    if job.target == "savedmodel":
        with job.output() as temp:
            copy_model_tree(job.src, temp)
        return "copy"
    if job.target == "tfjs" and job.options["tfjs_kind"] != "layers":
        with job.output() as temp:
            writers.write_tfjs_graph(job.src, temp, shard_size=job.options["shard_size"],
                                     quantize=job.options["quantize"],
                                     quantize_weights=job.options["quantize_weights"])
        return "graph"
    raise UsageError(
        f"{job.src}: is a SavedModel without a Keras config (e.g. from Keras 3 model.export), so it converts "
        f"to {job.target} only with --like MODEL naming a model of the same architecture"
    )


def to_tfjs(job: Job) -> str:
    """Writes ``job``'s source as tfjs at ``job.out``; returns the kind written."""
    from convkit.convert import streaming

    kind = job.options["tfjs_kind"] or "layers"
    with contextlib.ExitStack() as stack:
        model = job.portable(stack)
        reasons = keras_dialect.tfjs_unsupported(model.config, model.generation)
        if kind == "layers" and reasons:
            if job.options["tfjs_kind"] == "layers":
                raise UsageError(f"{job.src}: TF.js layers cannot hold this model: {reasons[0]}; "
                                 "use --tfjs-kind graph")
            job.warnings.append(f"{reasons[0]}; wrote a TF.js graph model instead")
            kind = "graph"
        if kind == "layers":
            # TF.js compiles a model whose model.json has a trainingConfig and fails on
            # Keras optimizer names (Custom>Adam), so neither optimizer nor training config goes in.
            job.note_optimizer(model, carried=False)
            job.enforce_strict()
            noted = (len(job.warnings), len(job.losses))
            try:
                with job.output() as temp:
                    written = streaming.write_tfjs_layers(
                        model, temp, shard_size=job.options["shard_size"], quantize=job.options["quantize"],
                        quantize_weights=job.options["quantize_weights"],
                        generated_by=f"convkit {version()}", progress=job.options["progress"])
                    job.warnings.extend(written.warnings)
                    job.losses.extend(written.warnings)
                    job.enforce_strict()
                return "layers"
            except VerifyError as error:  # the fallback: what TF.js layers cannot run, a graph model may
                if job.options["tfjs_kind"] == "layers":
                    raise
                del job.warnings[noted[0]:], job.losses[noted[1]:]
                blamed = f"{error.culprit}: {error.reason}" if error.culprit else error.reason
                job.warnings.append(f"TF.js layers cannot run this model ({blamed}); wrote a TF.js graph model instead")
        job.lose("the Keras architecture and optimizer state (a TF.js graph model is an inference graph)")
        job.enforce_strict()
        return _graph_from_portable(job, model)


def _graph_from_portable(job: Job, model: Any) -> str:
    from convkit.convert import writers

    with job.output() as temp:
        with tempfile.TemporaryDirectory(prefix="convkit-export-") as scratch:
            saved_model = Path(scratch) / "saved_model"
            writers.export_for_graph(model, saved_model, job.src, job.options["allow_unsafe"])
            writers.write_tfjs_graph(saved_model, temp, shard_size=job.options["shard_size"],
                                     quantize=job.options["quantize"],
                                     quantize_weights=job.options["quantize_weights"])
    return "graph"


def to_h5(job: Job) -> str:
    """Writes ``job``'s source as h5 at ``job.out``; returns the kind written."""
    from convkit.convert import builtin_layers, streaming

    with contextlib.ExitStack() as stack:
        model, rewritten = builtin_layers.with_builtin_layers(job.portable(stack))
        if rewritten:
            job.warnings.append(builtin_layers.describe(rewritten))
        keep = job.options["keep_optimizer"] and model.generation == 2 and job.src_format == "h5"
        training = model.training_config if keep else None
        job.note_optimizer(model, carried=keep)
        job.enforce_strict()
        with job.output() as temp:
            try:
                streaming.write_keras2_h5(model, temp, training_config=training, progress=job.options["progress"])
            except OSError as error:
                if "message is too large" not in str(error):
                    raise
                # HDF5 keeps an attribute (the layer list, the model config) in a 64 KiB object header.
                raise WriteError(f"{job.src}: an .h5 file cannot hold this model's layer list or config (an HDF5 "
                                 f"attribute over 64 KiB), so {job.out} was not written; convert to keras or tfjs "
                                 "instead") from None
            if keep and model.optimizer_weights:
                hdf5.copy_group(job.src, temp, "optimizer_weights")
    return "keras2-h5"


def to_keras(job: Job) -> str:
    """Writes ``job``'s source as keras at ``job.out``; returns the kind written."""
    from convkit.convert import writers

    if job.src_format == "keras" and job.options["keep_optimizer"]:
        with contextlib.ExitStack() as stack:
            # config and weights layout under convkit's limits; refuses code layers
            generation = job.portable(stack).generation
        if generation == 3:  # a tf_keras .keras (TFOpLambda layers) is rewritten for Keras 3 below
            with job.output() as temp:
                copy_model_tree(job.src, temp)
            return "keras3"
    with contextlib.ExitStack() as stack:
        model = job.portable(stack)
        job.note_optimizer(model, carried=False)
        renamed = {} if model.generation == 3 and model.raw_config else keras_dialect.keras3_renamed_layers(model.config)
        if renamed:
            first, new = next(iter(renamed.items()))
            more = f" and {len(renamed) - 1} more" if len(renamed) > 1 else ""
            job.warnings.append(f"layers renamed, since Keras 3 allows no '/' in a name: {first!r} -> {new!r}{more}")
        job.enforce_strict()
        with job.output() as temp:
            writers.write_keras_archive(model, temp, job.src, job.options["allow_unsafe"])
    return "keras3"


def to_savedmodel(job: Job) -> str:
    """Writes ``job``'s source as savedmodel at ``job.out``; returns the kind written."""
    from convkit.convert import writers

    with contextlib.ExitStack() as stack:
        model = job.portable(stack)
        job.note_optimizer(model, carried=False)
        job.enforce_strict()
        with job.output() as temp:
            kind = writers.write_saved_model(model, temp, job.src, job.options["allow_unsafe"])
        if kind == "export":
            job.warnings.append("tf_keras cannot build this architecture, so the SavedModel is a Keras 3 "
                                 "export (inference only, no Keras config)")
    return kind


def to_ckpt(job: Job) -> str:
    """Writes ``job``'s source as ckpt at ``job.out``; returns the kind written."""
    from convkit.convert import writers

    with contextlib.ExitStack() as stack:
        model = job.portable(stack)
        # Weights only is what a checkpoint is; say so, but --strict is about losses beyond that.
        job.warnings.append("the architecture is not stored (a checkpoint holds weights only; "
                             "convert it back with --like MODEL)")
        job.note_optimizer(model, carried=False)
        job.enforce_strict()
        with job.output_prefix() as prefix:
            writers.write_checkpoint(model, prefix, job.src, job.options["allow_unsafe"])
    return "weights"


def _serving(job: Job, stack: contextlib.ExitStack, model: Any = None
             ) -> tuple[Serving, Callable[[], Serving] | None]:
    """The source (``model`` if already read) as a named function, and a builder of its unrolled form
    (None without recurrent layers)."""
    from convkit.convert import serving

    if _is_plain_saved_model(job):
        from convkit.formats.savedmodel import read_saved_model

        read_saved_model(job.src)  # a damaged saved_model.pb fails here, with one line, before TensorFlow sees it
        return serving.from_saved_model(job.src), None
    model = model if model is not None else job.portable(stack)
    job.note_optimizer(model, carried=False)
    job.enforce_strict()
    unsafe = job.options["allow_unsafe"]
    if not serving.recurrent_layers(model):
        return serving.from_portable(model, job.src, unsafe), None

    def unrolled() -> Serving:
        return serving.from_portable(serving.unrolled(model), job.src, unsafe)

    return serving.from_portable(model, job.src, unsafe), unrolled


def to_onnx(job: Job) -> str:
    """Writes ``job``'s source as onnx at ``job.out``; returns ``native-opset-N`` or ``tf2onnx-opset-N``.

    The native writer (:mod:`convkit.convert.onnx_native`, no TensorFlow) where it covers every
    layer of a Keras source, tf2onnx otherwise (with a warning naming the first layer it does not
    cover) and for SavedModels without a Keras config; ``onnx_route`` forces one.
    """
    from convkit.convert import onnx_native
    from convkit.convert.to_onnx import check_opset, write_onnx

    route = job.options["onnx_route"]
    opset = check_opset(job.options["opset"])
    with contextlib.ExitStack() as stack:
        model = None
        if route == "native" and _is_plain_saved_model(job):
            raise UsageError(f"{job.src}: a SavedModel without a Keras config holds no layers for the native ONNX "
                             "writer; use --onnx-route tf2onnx")
        if route != "tf2onnx" and not _is_plain_saved_model(job):
            model = job.portable(stack)
            try:
                graph = onnx_native.build(model, opset)
            except onnx_native.Uncovered as error:
                if route == "native":
                    raise UsageError(f"{job.src}: the native ONNX writer does not cover {error}; "
                                     "use --onnx-route tf2onnx") from None
                job.warnings.append(f"the native ONNX writer does not cover {error}; tf2onnx wrote the model")
            else:
                job.note_optimizer(model, carried=False)
                job.enforce_strict()
                with job.output() as temp:
                    graph.write(temp, producer=f"convkit {version()}", progress=job.options["progress"])
                return f"native-opset-{opset}"
        live, _ = _serving(job, stack, model)
        # tf2onnx's output is run once in onnxruntime by write_onnx itself.
        with atomic_output(job.out, job.options["overwrite"]) as temp:
            write_onnx(live, temp, job.src, opset=opset)
    return f"tf2onnx-opset-{opset}"


def to_tflite(job: Job) -> str:
    """Writes ``job``'s source as tflite at ``job.out`` (run once in LiteRT); returns the route, and quantization."""
    from convkit.convert.to_tflite import write_tflite

    quantize = job.options["quantize"]
    with contextlib.ExitStack() as stack:
        live, unrolled = _serving(job, stack)
        with atomic_output(job.out, job.options["overwrite"]) as temp:
            written = write_tflite(live, temp, job.src, quantize=quantize, unrolled=unrolled)
        job.warnings.extend(written.warnings)
    return f"{written.kind}-{quantize}" if quantize else written.kind
