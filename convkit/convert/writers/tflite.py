"""The TFLite writer: TensorFlow's ``TFLiteConverter`` on the serving function, smoke-run in LiteRT.

Routes, tried in this order (recurrent Keras models start with the
second); the first whose output needs no TensorFlow (Flex) ops (decided from
the file, :func:`convkit.formats.tflite.flex_ops`) and passes its smoke run in
the standalone LiteRT interpreter (``ai_edge_litert``) is kept, and the result
says which; with ``--no-verify``, the first that converts and needs no Flex ops:

1. ``builtin``: builtin ops, batch dimension open. Feed-forward models (MLP,
   CNN, multi-input) land here.
2. ``builtin-unrolled``: recurrent layers unrolled over their fixed number of
   time steps (``unroll=True``, same weights), batch open: plain builtin ops
   (FULLY_CONNECTED, LOGISTIC, TANH, ...). Recurrent layers with an open batch
   otherwise lower to TensorFlow list ops that only the Flex delegate runs.
3. ``builtin-batch-1``: builtin ops with the batch fixed to 1, for recurrent
   models whose number of steps is open: the converter fuses LSTMs into
   ``UNIDIRECTIONAL_SEQUENCE_LSTM`` and GRUs into ``WHILE`` loops. The fused
   LSTM kernel was measured 1e-1 away from Keras on a small LSTM (where the
   unrolled route matched within 1e-7), so a warning asks for ``convkit check``.
4. ``flex``: builtin plus TensorFlow (``SELECT_TF_OPS``) ops. LiteRT cannot run
   these; the file is smoke-run in TensorFlow's ``tf.lite.Interpreter`` and a
   warning says that deployment needs an interpreter with the Flex delegate.

Quantization (``quantize``): ``dynamic`` (int8 weights, float activations),
``float16`` (float16 weights) or ``int8`` (int8 weights and activations,
calibrated on a representative dataset: the user's data (``--calibrate``,
loaded by :mod:`convkit.data.loader`, up to 500 samples unless ``--limit``
says), else up to 100 of the inputs ``convkit check`` would feed (MNIST test
digits for 784-input models, else seeded random samples). Ops without an int8
kernel stay float. Inputs and outputs stay float32 unless ``--io-type int8``
or ``uint8`` asks for integers, which a mobile pipeline feeds camera pixels
as; the file's tensors then carry the scale and zero point that map them to
the float values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from convkit._tf import quiet_tensorflow, silenced_stderr
from convkit.containers.tensors import TensorSpec
from convkit.convert.conversion import Conversion, Written
from convkit.convert.serving import Serving, serving_of, variable_holder
from convkit.data.samples import InputSet
from convkit.errors import VerifyError, WriteError, error_text
from convkit.formats.tflite import flex_ops

if TYPE_CHECKING:
    from convkit.data.loader import InputsLike
    from convkit.data.preprocess import Preprocessing

REPRESENTATIVE_SAMPLES = 100
CALIBRATION_LIMIT = 500
FIXED_BATCH = 1


@dataclass(frozen=True)
class Route:
    """One way to convert: ``kind`` names it in results, ``batch`` fixes the batch, ``flex`` allows TF ops."""

    kind: str
    batch: int | None
    flex: bool


ROUTES = (Route("builtin", None, False), Route("builtin-unrolled", None, False),
          Route(f"builtin-batch-{FIXED_BATCH}", FIXED_BATCH, False), Route("flex", None, True))


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as a TFLite flatbuffer; returns the route, and quantization (``builtin-int8``)."""
    request, notes = conversion.request, conversion.notes()
    serving, unrolled = serving_of(conversion, notes)
    calibration = None
    if request.quantize in conversion.target.write_options.calibrated:
        conversion.say("loading calibration data")
        samples = calibration_samples(serving, request.calibrate, preprocess=request.preprocess, limit=request.limit)
        notes.calibration = {"source": samples.source, "count": samples.count}
        calibration = samples.arrays
    with conversion.output(smoke_run=False) as temp:  # each route's file is smoke-run below
        kind, warnings = write_tflite(serving, temp, request.src, quantize=request.quantize, unrolled=unrolled,
                                      smoke_run=conversion.smoke_run, calibration=calibration,
                                      io_type=request.io_type)
    for warning in warnings:
        notes.warn(warning)
    return notes.written(f"{kind}-{request.quantize}" if request.quantize else kind)


def write_tflite(
    serving: Serving,
    target: Path,
    source: Path,
    *,
    quantize: str | None = None,
    unrolled: Callable[[], Serving] | None = None,
    smoke_run: Callable[[Path], None] = lambda path: None,
    calibration: dict[str, np.ndarray] | None = None,
    io_type: str | None = None,
) -> tuple[str, list[str]]:
    """Writes ``serving`` as a TFLite flatbuffer at ``target``, by the first route LiteRT runs.

    Args:
        serving: the model as a named function.
        target: the ``.tflite`` file to write (does not exist yet).
        source: the source path, for messages.
        quantize: ``dynamic``, ``float16`` or ``int8``; default None (float32).
        unrolled: builds the model with its recurrent layers unrolled; None
            (no recurrent layers, or not a Keras source) skips that route.
        smoke_run: runs a route's file once in its runtime, raising ``VerifyError`` when it cannot
            (the conversion's, which does nothing with ``--no-verify``). Default: no smoke run.
        calibration: for ``int8``, the samples to calibrate on, keyed by input name; default up to 100
            of the inputs ``convkit check`` would feed.
        io_type: for ``int8``, the inputs' and outputs' type: ``float32`` (default), ``int8`` or ``uint8``.

    Returns:
        The route's kind and the warnings to show.

    Raises:
        WriteError: no route gives a file that its interpreter loads and runs;
            the message carries the last converter or interpreter error.
    """
    quiet_tensorflow()
    failures: list[str] = []
    # A recurrent model goes unrolled first: with a loop, the open-batch route fails only after a long conversion.
    routes = [r for r in ROUTES if r.kind == "builtin-unrolled"] + [r for r in ROUTES if r.kind != "builtin-unrolled"]
    for route in routes if unrolled is not None else ROUTES:
        if route.kind == "builtin-unrolled" and unrolled is None:
            continue
        try:
            model = unrolled() if unrolled is not None and route.kind == "builtin-unrolled" else serving
            data = _convert(model, route, quantize, calibration, io_type)
        except Exception as error:  # the converter raises ConverterError, ValueError, RuntimeError...
            failures.append(f"{route.kind}: {error_text(error)}")
            continue
        target.write_bytes(data)
        needs_flex = flex_ops(target)
        if needs_flex and not route.flex:
            failures.append(f"{route.kind}: the LiteRT interpreter cannot run the converted model (it holds "
                            f"TensorFlow Flex ops: {', '.join(needs_flex[:5])})")
            target.unlink()
            continue
        try:
            smoke_run(target)
        except VerifyError as error:
            failures.append(f"{route.kind}: {error.reason}")
            target.unlink()
            continue
        warnings = []
        if route.kind == "builtin-unrolled":
            warnings.append("recurrent layers are unrolled over their time steps, so LiteRT runs them with "
                            "builtin ops (with a loop the converter needs TensorFlow Flex ops, which LiteRT "
                            "cannot run)")
        if route.batch is not None:
            warnings.append(f"the batch dimension is fixed to {route.batch} and recurrent layers use LiteRT's "
                            f"fused kernels, which can differ from Keras: run convkit check on the result")
        if route.flex:
            warnings.append("the model needs TensorFlow (Flex, SELECT_TF_OPS) ops: the standalone LiteRT "
                            "interpreter cannot run it; it runs in tf.lite.Interpreter or a LiteRT build with "
                            "the Flex delegate")
        return route.kind, warnings
    raise WriteError(f"{source}: no TFLite conversion of this model runs ({'; '.join(failures)})")


def _convert(serving: Serving, route: Route, quantize: str | None, calibration: dict[str, np.ndarray] | None,
             io_type: str | None) -> bytes:
    import tensorflow as tf

    if serving.saved_model is not None and route.batch is None:
        # The signature as saved: the converter reads it from disk, with nothing traced or saved again.
        converter = tf.lite.TFLiteConverter.from_saved_model(str(serving.saved_model),
                                                             signature_keys=[serving.signature])
    else:
        # A traced function: the converter saves it to a temporary SavedModel and converts that.
        function = serving.function(route.batch).get_concrete_function()
        converter = tf.lite.TFLiteConverter.from_concrete_functions([function], variable_holder(function))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if route.flex:
        converter.target_spec.supported_ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        converter._experimental_lower_tensor_list_ops = False
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        samples = calibration if calibration is not None else calibration_samples(serving).arrays
        converter.representative_dataset = lambda: ([samples[name][index : index + 1] for name in serving.input_names]
                                                    for index in range(len(samples[serving.input_names[0]])))
        if io_type in ("int8", "uint8"):
            converter.inference_input_type = converter.inference_output_type = tf.as_dtype(io_type)
    with silenced_stderr(replay=False):
        return converter.convert()


def calibration_samples(serving: Serving, calibrate: InputsLike | None = None, *,
                        preprocess: Preprocessing | None = None, limit: int | None = None) -> InputSet:
    """The samples int8 quantization calibrates on: ``calibrate`` loaded and fitted to the model's inputs (up
    to ``limit``, default 500), else up to 100 of the inputs ``convkit check`` would feed.

    Raises:
        UsageError, ReadError: the data does not fit the model's inputs, or cannot be read (one line naming
            the file and the input).
    """
    from convkit.data.loader import load_inputs

    specs = [TensorSpec(name, (None, *shape), dtype)
             for name, shape, dtype in zip(serving.input_names, serving.input_shapes, serving.input_dtypes)]
    if calibrate is None:
        return load_inputs(specs, preprocessing=preprocess, limit=limit or REPRESENTATIVE_SAMPLES)
    return load_inputs(specs, calibrate, preprocessing=preprocess, limit=limit or CALIBRATION_LIMIT)
