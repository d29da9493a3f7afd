"""The smoke run: a written model loaded in its target runtime and run once, before it is put in place.

``convert`` smoke-runs every output while it still sits in its temporary
sibling: TF.js models in real @tensorflow/tfjs, ``.h5``/``.keras`` files in
Keras (the generation that wrote the dialect, then the other), SavedModels
through tf_keras or their serving signature, checkpoints restored into the
source's architecture, ONNX in onnxruntime, TFLite in LiteRT; each through the
runtime its format's registry record names, on a few sample inputs made from
its own input spec (:func:`convkit.data.samples.smoke_inputs`). A failure
raises :class:`~convkit.errors.VerifyError` carrying the runtime's own message
and the layer or op it names, so the output is never renamed into place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convkit._tf import runtime_logs_hidden
from convkit.errors import ConvkitError, RuntimeMissingError, UnsafeModelError, VerifyError, WriteError, error_text
from convkit.policy.safe_mode import plain_load
from convkit.registry import Format
from convkit.data.samples import SMOKE_SAMPLES, smoke_inputs
from convkit.runtimes.open import open_with


def smoke_run(path: Path, fmt: Format, *, final: Path | None = None, like: Path | None = None,
              allow_unsafe: bool = False) -> str:
    """Loads ``path`` (a written ``fmt`` file) in its runtime and runs it once on smoke inputs.

    Args:
        path: the written output (a folder, a file, or a checkpoint prefix).
        fmt: the registry record of its format.
        final: where the output will be renamed to, for messages; default ``path``.
        like: a model file with the architecture, for weights-only outputs (checkpoints).
        allow_unsafe: let the runtime build Lambda layers the source held (given with ``--unsafe``).

    Returns:
        The runtime that ran it (``TF.js 4.22.0 layers``, ``Keras 3.15.1``).

    Raises:
        VerifyError: the runtime cannot load or run the output.
    """
    path = Path(path)
    final = Path(final) if final is not None else path
    try:
        # loaded as the users of the output will load it: Keras' load_model without custom objects
        with runtime_logs_hidden(), plain_load():
            runner = open_with(fmt, path, like=like, allow_unsafe=allow_unsafe, role="smoke_runner")
            runner.load()
            _run_once(runner)
        return str(runner.runtime)
    except (UnsafeModelError, RuntimeMissingError, VerifyError):
        raise  # the runtime is not installed: no fault of the written model
    except ConvkitError as error:
        reason = _strip_path(str(error), path)
    except Exception as error:  # the runtime's own failure: the whole point is to report it, not crash
        reason = f"{type(error).__name__}: {error_text(error, limit=400)}"
    culprit = fmt.blame(reason, path) if fmt.blame is not None else None
    where = f" ({culprit})" if culprit else ""
    raise VerifyError(
        f"{final}: the written {fmt.name} model does not load or run in {fmt.runtime_title}{where}: {reason}; "
        "nothing was written (pass --no-verify to keep an unverified output)",
        reason,
        culprit,
    )


def _run_once(runner: Any) -> None:
    outputs = runner.infer(smoke_inputs(runner.inputs).arrays)
    if not outputs:
        raise WriteError("the model produced no outputs")
    for name, value in outputs.items():
        array = np.asarray(value)
        if array.shape[:1] != (SMOKE_SAMPLES,):
            raise WriteError(f"output {name!r} has shape {list(array.shape)} for {SMOKE_SAMPLES} samples")
        # A runtime that lacks what an op needs may answer NaN instead of failing (TF.js' batch norm without
        # statistics): no model that works gives NaN for every finite input.
        if array.dtype.kind == "f" and array.size and np.isnan(array).all():
            raise WriteError(f"output {name!r} is NaN for every one of {SMOKE_SAMPLES} finite sample inputs")


def _strip_path(message: str, path: Path) -> str:
    # The temporary sibling's path means nothing to the user; the message names the final output.
    for prefix in (f"{path / 'model.json'}: ", f"{path}: "):
        message = message.replace(prefix, "")
    return message.replace(str(path), "<output>")
