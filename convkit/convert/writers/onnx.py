"""The ONNX writer: tf2onnx over the model's serving function, smoke-run in onnxruntime.

tf2onnx (``from_function``) converts the function of
:mod:`convkit.convert.serving`, so the graph's inputs and outputs carry the
Keras names and the batch dimension stays open. Like every output, the written
file is smoke-run in its runtime (onnxruntime) before it is renamed into
place: a file that onnxruntime refuses is an error, not an output.
"""

from __future__ import annotations

import logging
from pathlib import Path


from convkit._tf import silenced_stderr
from convkit.convert.conversion import Conversion, Written
from convkit.convert.serving import Serving, serving_of
from convkit.errors import WriteError, error_text


def write(conversion: Conversion) -> Written:
    """Writes the conversion's source as an ONNX model; returns ``opset-N``."""
    notes = conversion.notes()
    serving, _unrolled = serving_of(conversion, notes)
    with conversion.output() as temp:
        write_onnx(serving, temp, conversion.request.src, opset=conversion.opset)
    return notes.written(f"opset-{conversion.opset}")


def write_onnx(serving: Serving, target: Path, source: Path, *, opset: int) -> None:
    """Writes ``serving`` as an ONNX model at ``target``.

    Args:
        serving: the model as a named function.
        target: the ``.onnx`` file to write (does not exist yet).
        source: the source path, for messages.
        opset: ONNX opset.

    Raises:
        WriteError: tf2onnx cannot convert the model.
    """
    import tf2onnx

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    tf2onnx.logging.set_level(logging.ERROR)
    try:
        with silenced_stderr(replay=False):
            tf2onnx.convert.from_function(serving.function(), input_signature=serving.specs(), opset=opset,
                                          output_path=str(target))
    except Exception as error:  # tf2onnx raises bare Exceptions, ValueErrors and KeyErrors alike
        raise WriteError(f"{source}: tf2onnx cannot convert this model to ONNX opset {opset} "
                         f"({type(error).__name__}: {error_text(error)})") from None
