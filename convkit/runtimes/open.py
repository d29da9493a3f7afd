"""``open_runner(path)``: the runner of a model file, as its format's registry record names it.

Keras 3 for ``.keras`` and HDF5 files written by Keras 3, tf_keras for files
written by Keras 2 (HDF5 ``keras_version`` 2.x, SavedModels with
``keras_metadata.pb``), TensorFlow signatures for other SavedModels, TF.js
under Node for ``model.json``, onnxruntime for ``.onnx``, LiteRT for
``.tflite``, and the architecture of ``like`` for weights-only files. The code
policy (:mod:`convkit.policy`) judges every file before a runtime sees it.
"""

from __future__ import annotations

from pathlib import Path

from convkit.errors import UsageError
from convkit.policy import screening
from convkit.registry import Format, detect
from convkit.runtimes.base import Runner
from convkit.runtimes.keras.runner import KerasModelRunner


def open_runner(
    path: str | Path,
    *,
    like: str | Path | None = None,
    allow_unsafe: bool = False,
    training: bool = False,
    signature: str | None = None,
) -> Runner:
    """The runner for the model file at ``path`` (not yet loaded for TF/TF.js runners).

    Args:
        path: any model file convkit detects.
        like: a model file giving the architecture for weights-only files.
        allow_unsafe: load models whose Lambda layers run code from the file. Default ``False``.
        training: run Keras models in training mode (dropout on). Default ``False``.
        signature: the signature to run, for files that hold signatures (SavedModels, TFLite); a file
            holding only one runs that one. Default: ``serving_default``, else the only one.

    Raises:
        DetectionError: the path is not a model file.
        UsageError: weights-only file without ``like``; ``training`` for a non-Keras runtime.
        ReadError, UnsafeModelError: the file cannot be loaded, or holds code.
    """
    path = Path(path)
    return open_with(detect(path), path, like=like, allow_unsafe=allow_unsafe, training=training, signature=signature)


def open_with(fmt: Format, path: Path, *, like: str | Path | None = None, allow_unsafe: bool = False,
              training: bool = False, role: str = "runner", signature: str | None = None) -> Runner:
    """The runner of the ``fmt`` file at ``path``, after the code policy has screened it.

    Args:
        role: the record's opener to use: ``runner``, or ``smoke_runner`` (falling back to ``runner``).
        signature: the signature to run where the format holds signatures (see :func:`open_runner`);
            ignored for formats without.

    Raises:
        UsageError: the file holds several signatures, none of them ``signature`` (the message lists them).
    """
    screening.screen(path, fmt.name, allow_unsafe)
    opener = fmt.resolve(role) if role != "runner" else None
    opener = opener or fmt.resolve("runner")
    if opener is None:
        raise UsageError(f"{path}: convkit check has no runtime for {fmt.name} files")
    options = {}
    note = None
    if signature is not None and fmt.signatures is not None:
        keys = fmt.signatures(path)
        if signature in keys:
            options["signature"] = signature
        elif len(keys) == 1:
            note = f"holds one signature, {keys[0]!r}, and ran it for --signature {signature}"
        else:
            raise UsageError(f"{path}: the {fmt.shown_name} model has no signature {signature!r}; its signatures: "
                             f"{', '.join(keys) or 'none'}")
    runner: Runner = opener(path, like=Path(like) if like is not None else None, allow_unsafe=allow_unsafe,
                            training=training, **options)
    if note:
        runner.notes.append(note)
    if training and not isinstance(runner, KerasModelRunner):
        raise UsageError(f"{path}: training mode applies to Keras models only, not to {fmt.name} files")
    runner.format_name = fmt.name
    return runner
