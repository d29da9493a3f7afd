"""LiteRT, the runtime of TFLite models: a ``.tflite`` file in the standalone interpreter (``ai_edge_litert``).

Models holding TensorFlow (Flex) ops cannot run there; those alone run in
TensorFlow's ``tf.lite.Interpreter``, which links the Flex delegate, and the
report says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convkit.errors import ReadError, RunError, UsageError, error_text
from convkit.runtimes.base import DEFAULT_BATCH_SIZE, Runner, TensorSpec, batch_count

DEFAULT_SIGNATURE = "serving_default"


def _spec(name: str, detail: dict) -> TensorSpec:
    dims = detail.get("shape_signature")
    if dims is None or len(dims) == 0:
        dims = detail["shape"]
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = detail.get("quantization") or (0.0, 0)
    # an integer tensor with a scale holds quantized float values (an int8 model with --io-type int8/uint8)
    quantized = dtype.kind in "iu" and scale > 0
    return TensorSpec(name=name, shape=tuple(int(d) if d >= 0 else None for d in dims), dtype=dtype.name,
                      quantization=(float(scale), int(zero_point)) if quantized else None)


class TfliteRunner(Runner):
    """Runs a TFLite model's signature (``serving_default``, or its only one) in LiteRT.

    A model converted with a fixed batch is fed in slices of exactly that
    size, the last one padded with zeros and the padding dropped from the outputs.
    Integer inputs and outputs that carry a scale (``--io-type int8``/``uint8``)
    state it in their specs' ``quantization``, so ``check`` feeds them quantized
    values and compares their outputs dequantized.

    Args:
        path: the ``.tflite`` file.
        batch_size: samples per invocation when the batch is open. Default 256.
        signature: the signature key to run. Default ``serving_default``, else the first.
    """

    def __init__(self, path: Path, *, batch_size: int = DEFAULT_BATCH_SIZE, signature: str | None = None) -> None:
        super().__init__(path, "tflite")
        self.batch_size = batch_size
        self.signature_key = signature
        self._file = Path(path)
        self._runner: Any = None
        self._fixed_batch: int | None = None

    def _load(self) -> None:
        from convkit.formats import tflite

        flex = tflite.uses_flex_ops(self._file)
        self.quantization = tflite.quantization(self._file)
        try:
            if flex:
                import tensorflow as tf

                interpreter = tf.lite.Interpreter(model_path=str(self.path))
                self.runtime = f"tf.lite.Interpreter (TF {tf.__version__}, Flex ops)"
                self.notes.append("holds TensorFlow (Flex) ops, which the LiteRT interpreter cannot run; "
                                  "ran in tf.lite.Interpreter")
            else:
                import ai_edge_litert
                from ai_edge_litert.interpreter import Interpreter

                interpreter = Interpreter(model_path=str(self.path))
                self.runtime = f"LiteRT {ai_edge_litert.__version__}"
            signatures = interpreter.get_signature_list()
            key = self.signature_key or (DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in signatures
                                         else next(iter(signatures), ""))
            if key and key not in signatures:
                raise UsageError(f"{self.path}: the TFLite model has no signature {key!r}; its signatures: "
                                 f"{', '.join(signatures) or 'none'}")
            if not key:
                raise ReadError(f"{self.path}: the TFLite model has no signature, so its inputs have no names to feed")
            self._runner = interpreter.get_signature_runner(key)
            if key != DEFAULT_SIGNATURE:
                self.runtime += f" {key}"
        except (ReadError, UsageError):
            raise
        except Exception as error:  # the interpreter raises ValueError/RuntimeError with its own message
            raise RunError(f"{self.path}: the TFLite interpreter could not load the model ({error_text(error)})") from None
        self._inputs = [_spec(name, detail) for name, detail in self._runner.get_input_details().items()]
        self._outputs = [_spec(name, detail) for name, detail in self._runner.get_output_details().items()]
        fixed = {spec.shape[0] for spec in self._inputs if spec.shape and spec.shape[0] is not None}
        if len(fixed) == 1:
            self._fixed_batch = fixed.pop()
            self.notes.append(f"batch fixed to {self._fixed_batch} in the model; fed in slices of that size")

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        total = batch_count(feed)
        size = self._fixed_batch or self.batch_size
        names = [spec.name for spec in self._outputs]
        pieces: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for start in range(0, max(total, 1), size):
            part = {name: np.ascontiguousarray(array[start : start + size]) for name, array in feed.items()}
            count = batch_count(part)
            if self._fixed_batch and count < size:
                part = {name: np.concatenate([array, np.zeros((size - count, *array.shape[1:]), array.dtype)])
                        for name, array in part.items()}
            try:
                result = self._runner(**part)
            except Exception as error:  # the interpreter raises ValueError/RuntimeError with its kernel's message
                raise RunError(f"{self.path}: {self.runtime} could not run the model ({error_text(error)})") from None
            for name in names:
                pieces[name].append(np.asarray(result[name])[:count])
        return {name: np.concatenate(pieces[name], axis=0) for name in names}

    def _release(self) -> None:
        self._runner = None


def open_tflite(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool,
                signature: str | None = None) -> Runner:
    """The standalone LiteRT interpreter (TensorFlow's ``tf.lite.Interpreter`` for Flex ops), on ``signature``."""
    return TfliteRunner(path, signature=signature)
