"""The TFLite writer: TensorFlow's ``TFLiteConverter`` on the serving function, verified in LiteRT.

Routes, tried in this order (recurrent Keras models start with the
second); the first whose output the standalone LiteRT
interpreter (``ai_edge_litert``) loads and runs is kept, and the result says
which:

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
   these; the file is verified in TensorFlow's ``tf.lite.Interpreter`` and a
   warning says that deployment needs an interpreter with the Flex delegate.

Quantization (``quantize``): ``dynamic`` (int8 weights, float activations),
``float16`` (float16 weights) or ``int8`` (int8 weights and activations,
calibrated on a representative dataset drawn as ``convkit check`` draws its
inputs: MNIST test digits for 784-input models, else seeded random samples;
inputs and outputs stay float32, ops without an int8 kernel stay float).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from convkit._tf import quiet_tensorflow, silenced_stderr
from convkit.convert.serving import Serving
from convkit.errors import UsageError, WriteError, error_text

QUANTIZATIONS = ("dynamic", "float16", "int8")
REPRESENTATIVE_SAMPLES = 100
FIXED_BATCH = 1


@dataclass(frozen=True)
class Route:
    """One way to convert: ``kind`` names it in results, ``batch`` fixes the batch, ``flex`` allows TF ops."""

    kind: str
    batch: int | None
    flex: bool


ROUTES = (Route("builtin", None, False), Route("builtin-unrolled", None, False),
          Route(f"builtin-batch-{FIXED_BATCH}", FIXED_BATCH, False), Route("flex", None, True))


@dataclass(frozen=True)
class Written:
    """What :func:`write_tflite` wrote: the route's kind and the warnings to show."""

    kind: str
    warnings: tuple[str, ...]


def check_quantization(quantize: str | None) -> None:
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise UsageError(f"unknown TFLite quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")


def write_tflite(
    serving: Serving,
    target: Path,
    source: Path,
    *,
    quantize: str | None = None,
    unrolled: Callable[[], Serving] | None = None,
) -> Written:
    """Writes ``serving`` as a TFLite flatbuffer at ``target``, by the first route LiteRT runs.

    Args:
        serving: the model as a named function.
        target: the ``.tflite`` file to write (does not exist yet).
        source: the source path, for messages.
        quantize: ``dynamic``, ``float16`` or ``int8``; default None (float32).
        unrolled: builds the model with its recurrent layers unrolled; None
            (no recurrent layers, or not a Keras source) skips that route.

    Raises:
        WriteError: no route gives a file that its interpreter loads and runs;
            the message carries the last converter or interpreter error.
    """
    check_quantization(quantize)
    quiet_tensorflow()
    failures: list[str] = []
    # A recurrent model goes unrolled first: with a loop, the open-batch route fails only after a long conversion.
    routes = [r for r in ROUTES if r.kind == "builtin-unrolled"] + [r for r in ROUTES if r.kind != "builtin-unrolled"]
    for route in routes if unrolled is not None else ROUTES:
        if route.kind == "builtin-unrolled" and unrolled is None:
            continue
        try:
            model = unrolled() if unrolled is not None and route.kind == "builtin-unrolled" else serving
            data = _convert(model, route, quantize)
        except Exception as error:  # the converter raises ConverterError, ValueError, RuntimeError...
            failures.append(f"{route.kind}: {error_text(error)}")
            continue
        target.write_bytes(data)
        try:
            run_once(target, flex=route.flex)
        except WriteError as error:
            failures.append(f"{route.kind}: {error}")
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
        return Written(route.kind, tuple(warnings))
    raise WriteError(f"{source}: no TFLite conversion of this model runs ({'; '.join(failures)})")


def _convert(serving: Serving, route: Route, quantize: str | None) -> bytes:
    import tensorflow as tf

    function = serving.function(route.batch).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], serving.owner)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if route.flex:
        converter.target_spec.supported_ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
        converter._experimental_lower_tensor_list_ops = False
    if quantize is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        converter.representative_dataset = lambda: representative_samples(serving)
    with silenced_stderr(replay=False):
        return converter.convert()


def representative_samples(serving: Serving) -> Iterator[list[Any]]:
    """Calibration samples, one at a time, drawn as ``convkit check`` draws its inputs."""
    from convkit.samples import TensorSpec, default_inputs

    specs = [TensorSpec(name, (None, *shape), dtype)
             for name, shape, dtype in zip(serving.input_names, serving.input_shapes, serving.input_dtypes)]
    arrays = default_inputs(specs).arrays
    count = min(REPRESENTATIVE_SAMPLES, len(next(iter(arrays.values()))))
    for index in range(count):
        yield [arrays[name][index : index + 1] for name in serving.input_names]


def interpreter(path: Path, *, flex: bool = False) -> Any:
    """A LiteRT interpreter of ``path``; TensorFlow's ``tf.lite.Interpreter`` when the model needs Flex ops."""
    if flex:
        quiet_tensorflow()
        import tensorflow as tf

        return tf.lite.Interpreter(model_path=str(path))
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=str(path))


def run_once(path: Path, *, flex: bool = False) -> None:
    """Loads ``path`` in its interpreter and runs its default signature on one sample of batch 1.

    Raises:
        WriteError: with the interpreter's own message.
    """
    import numpy as np

    from convkit.formats.tflite import inspect

    flex_ops = inspect(path).summary["flex_ops"]
    if flex_ops and not flex:
        # Decided from the file, not by trying: in a process that has imported TensorFlow (as this one has),
        # LiteRT finds TensorFlow's Flex delegate and runs these ops; on a device it would not.
        raise WriteError(f"{path.name}: the LiteRT interpreter cannot run the converted model (it holds "
                         f"TensorFlow Flex ops: {', '.join(flex_ops[:5])})")
    try:
        with silenced_stderr(replay=False):
            runner = interpreter(path, flex=flex).get_signature_runner()
            feed = {}
            for name, detail in runner.get_input_details().items():
                shape = [d if d > 0 else 1 for d in detail.get("shape_signature", detail["shape"])]
                dtype = np.dtype(detail["dtype"])
                feed[name] = np.full(shape, 0.5, dtype) if dtype.kind == "f" else np.zeros(shape, dtype)
            runner(**feed)
    except Exception as error:  # the interpreters raise RuntimeError and ValueError with their kernel's message
        runtime = "tf.lite.Interpreter" if flex else "the LiteRT interpreter"
        raise WriteError(f"{path.name}: {runtime} cannot run the converted model ({error_text(error)})") from None
