"""The ONNX writer: tf2onnx over the model's serving function, then one run in onnxruntime.

tf2onnx (``from_function``) converts the function of
:mod:`convkit.convert.serving`, so the graph's inputs and outputs carry the
Keras names and the batch dimension stays open. The written file is loaded
in onnxruntime and run once on inputs made from its own input spec before it
is renamed into place: a file that onnxruntime refuses is an error, not an
output.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from convkit._tf import silenced_stderr
from convkit.convert.serving import Serving
from convkit.errors import UsageError, WriteError, error_text
from convkit.formats.onnx import ORT_TYPES

DEFAULT_OPSET = 17
# tf2onnx 1.17 writes opsets up to 18; below 13 many Keras ops have no ONNX form.
OPSETS = range(13, 19)


def check_opset(opset: int | None) -> int:
    """``opset`` or the default, refusing what tf2onnx cannot write."""
    if opset is None:
        return DEFAULT_OPSET
    if opset not in OPSETS:
        raise UsageError(f"--opset {opset} is outside what tf2onnx 1.17 writes ({OPSETS.start}..{OPSETS.stop - 1})")
    return opset


def write_onnx(serving: Serving, target: Path, source: Path, *, opset: int | None = None) -> int:
    """Writes ``serving`` as an ONNX model at ``target`` and runs it once in onnxruntime.

    Args:
        serving: the model as a named function.
        target: the ``.onnx`` file to write (does not exist yet).
        source: the source path, for messages.
        opset: ONNX opset; default 17.

    Returns:
        The opset written.

    Raises:
        WriteError: tf2onnx cannot convert the model, or onnxruntime cannot load or run the result.
    """
    opset = check_opset(opset)
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
    run_once(target)
    return opset


def smoke_inputs(inputs: list[Any]) -> dict[str, Any]:
    """One small sample per onnxruntime input: batch 1, other open dimensions 2, zeros for integers."""
    import numpy as np

    rng = np.random.default_rng(0)
    feed = {}
    for node in inputs:
        dims = [d if isinstance(d, int) and d > 0 else (1 if i == 0 else 2) for i, d in enumerate(node.shape or [])]
        dtype = np.dtype(ORT_TYPES.get(node.type, "float32"))
        feed[node.name] = rng.random(dims).astype(dtype) if dtype.kind == "f" else np.zeros(dims, dtype)
    return feed


def run_once(path: Path) -> None:
    """Loads ``path`` in onnxruntime and runs it on one sample made from its input spec.

    Raises:
        WriteError: with onnxruntime's own message.
    """
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        session.run(None, smoke_inputs(session.get_inputs()))
    except Exception as error:  # onnxruntime raises its own exception classes per failure
        raise WriteError(f"{path.name}: onnxruntime cannot run the converted model ({error_text(error)})") from None
