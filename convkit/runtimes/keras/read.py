"""Any Keras-bearing model file as the in-memory model (:class:`~convkit.keras_model.data.ModelData`).

Through the reader its format's registry record names (without TensorFlow),
with ``like`` lending its architecture to weights-only files; where only Keras
can read a file (a tf_keras SavedModel, a ``.keras`` archive with layers
convkit cannot name), through Keras itself. The caller has screened the file
with the code policy (:func:`convkit.policy.screening.screen`); ``like`` is
screened here, before it is read.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from convkit import registry
from convkit.errors import MALFORMED, ReadError, UsageError, error_text
from convkit.keras_model.data import ModelData, NeedsKeras, Template, Weight
from convkit.policy import screening
from convkit.policy.code import code_objects
from convkit.runtimes.keras.build import KERAS_REFUSALS, build_model, load_whole, model_data_of


def read_model(
    path: Path,
    stack: contextlib.ExitStack,
    *,
    like: Path | None = None,
    allow_unsafe: bool = False,
    fmt: str | None = None,
) -> ModelData:
    """Architecture and weights of ``path`` (with ``like`` for weights-only files); weights are read when asked for.

    Args:
        path: a model file the caller has screened.
        stack: keeps the files open while the weights are read.
        like: a model file lending its architecture to weights-only files (screened here).
        allow_unsafe: the user's ``--unsafe``, for ``like`` and for files only Keras reads.
        fmt: the registry name of ``path``'s format; default: detected.

    Raises:
        UsageError: a weights-only source without ``like``, or a source with no Keras model.

    A training configuration holding code (a custom optimizer) is dropped, unless ``allow_unsafe``
    (``training_code`` says what it held).
        UnsafeModelError: code in ``like`` without ``allow_unsafe``.
        ReadError: the file is damaged or malformed, now or when a weight is read later.
    """
    record = registry.get_format(fmt) if fmt else registry.detect(path)
    template: Template | None = None
    if like is not None:
        like_path = Path(like)

        def template() -> ModelData:
            like_format = registry.detect(like_path).name
            screening.screen(like_path, like_format, allow_unsafe)
            return read_model(like_path, stack, allow_unsafe=allow_unsafe, fmt=like_format)

    try:
        model = _read(record, path, stack, like, template)
    except NeedsKeras as error:
        if error.weights_only:
            assert template is not None and like is not None
            return _weights_through_keras(path, template(), Path(like), allow_unsafe)
        return model_data_of(load_whole(path, record.name, error.generation, allow_unsafe), path)
    except MALFORMED as error:
        raise ReadError(f"{path}: malformed or damaged {record.name} file ({error_text(error, with_type=True)})") from None
    for weight in model.weights():
        weight.read = _guarded_read(weight, path)
    if model.training_config and not allow_unsafe:
        # the screening judged the forward pass; code only training uses goes, with the training configuration
        found = code_objects(model.training_config)
        if found:
            model.training_config, model.training_code = None, found[0].describe()
    return model


def _read(record: registry.Format, path: Path, stack: contextlib.ExitStack, like: Path | None,
          template: Template | None) -> ModelData:
    reader = record.resolve("reader")
    if reader is None and record.no_reader:
        raise UsageError(f"{path}: convkit does not read Keras models back from {record.name} files "
                         f"({record.no_reader}); keep the Keras source and convert that")
    if reader is None:
        raise UsageError(f"{path}: convkit cannot read Keras models from {record.name} files")
    model: ModelData = reader(path, stack, like=like, template=template)
    return model


def _guarded_read(weight: Weight, path: Path) -> Any:
    read = weight.read

    def guarded() -> Any:
        try:
            return read()
        except ReadError as error:
            if str(path) in str(error):
                raise
            raise ReadError(f"{path}: weight {weight.name!r}: {error}") from None
        except MALFORMED as error:
            raise ReadError(f"{path}: cannot read weight {weight.name!r} ({error_text(error, with_type=True)})") from None

    return guarded


def _weights_through_keras(path: Path, template: ModelData, like: Path, allow_unsafe: bool) -> ModelData:
    """Keras 3 ``.weights.h5`` for layers convkit cannot name: let Keras 3 load them into ``like``."""
    live = build_model(template, 3, like, allow_unsafe)
    try:
        live.load_weights(path)
    except KERAS_REFUSALS as error:
        raise UsageError(f"{path}: does not fit the architecture of {like} ({error_text(error)})") from None
    return model_data_of(live, path)
