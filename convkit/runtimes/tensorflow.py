"""TensorFlow, the runtime of SavedModels: a signature (``serving_default``) called through ``tf.saved_model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from convkit.errors import ReadError, RunError, UsageError, error_text
from convkit.graph_model.analysis import natural_key
from convkit.runtimes.base import (
    DEFAULT_BATCH_SIZE,
    Runner,
    TensorSpec,
    fixed_batch,
    in_batches,
    load_failures,
    shape_tuple,
)

DEFAULT_SIGNATURE = "serving_default"


class SavedModelRunner(Runner):
    """Calls one signature of a SavedModel loaded with ``tf.saved_model.load``.

    Inputs are the signature's keyword arguments (from its
    ``structured_input_signature``), outputs its ``structured_outputs`` keys.
    Signatures are traced in inference mode, so dropout is off. A signature
    that fixes the batch is fed in slices of that size, the last one padded.

    Args:
        path: the SavedModel directory.
        signature: the signature key. Default ``serving_default``; when the
            model has exactly one other signature, that one.
        batch_size: samples per call. Default 256.
    """

    def __init__(self, path: Path, *, signature: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        super().__init__(path, "savedmodel")
        self.signature_key = signature
        self.batch_size = batch_size
        self._function: Any = None

    def _load(self) -> None:
        import tensorflow as tf

        self.runtime = f"TF {tf.__version__}"
        try:
            loaded = tf.saved_model.load(str(self.path))
        except load_failures() as error:  # a file TensorFlow cannot load; anything else is a bug
            raise RunError(f"{self.path}: TensorFlow could not load the SavedModel ({error_text(error)})") from None
        signatures = dict(loaded.signatures)
        key = self.signature_key
        if key is None:
            if DEFAULT_SIGNATURE in signatures:
                key = DEFAULT_SIGNATURE
            elif len(signatures) == 1:
                key = next(iter(signatures))
        if key is None or key not in signatures:
            known = ", ".join(sorted(signatures)) or "none"
            raise UsageError(
                f"{self.path}: the SavedModel has no signature {key or DEFAULT_SIGNATURE!r} to run "
                f"(signatures: {known})"
            )
        self.signature_key = key
        self.runtime += f" {key}"
        function = signatures[key]
        self._keep_alive = loaded  # the signature needs its object alive
        self._function = function
        args, kwargs = function.structured_input_signature
        if args:
            raise ReadError(f"{self.path}: signature {key!r} takes positional inputs, which convkit cannot name")
        self._inputs = [
            TensorSpec(name=name, shape=shape_tuple(spec.shape.as_list() if spec.shape.rank is not None else None),
                       dtype=spec.dtype.name)
            for name, spec in kwargs.items()
        ]
        outputs = function.structured_outputs
        if not isinstance(outputs, dict):
            raise ReadError(f"{self.path}: signature {key!r} does not return named outputs")
        # A signature's outputs come from a protobuf map, in no set order: output_2 before output_10, by name.
        self._outputs = [
            TensorSpec(name=name, shape=shape_tuple(spec.shape.as_list() if spec.shape.rank is not None else None),
                       dtype=spec.dtype.name)
            for name, spec in sorted(outputs.items(), key=lambda item: natural_key(item[0]))
        ]

    def _infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import tensorflow as tf

        input_dtypes = {spec.name: spec.dtype for spec in self._inputs}
        output_names = [spec.name for spec in self._outputs]

        def run(part: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            tensors = {name: tf.constant(part[name], dtype=input_dtypes[name]) for name in input_dtypes}
            result = self._function(**tensors)
            return {name: result[name].numpy() for name in output_names}

        fixed = fixed_batch(self._inputs)
        return in_batches(feed, run, fixed or self.batch_size, fixed=fixed is not None)

    def _release(self) -> None:
        import gc

        self._function = None
        self._keep_alive = None
        gc.collect()


def open_savedmodel(path: Path, *, like: Path | None, allow_unsafe: bool, training: bool,
                    signature: str | None = None) -> Runner:
    """tf_keras for Keras SavedModels, else (or when tf_keras cannot) the serving signature in TensorFlow;
    the signature ``signature`` in TensorFlow when one is named. A TF1 SavedModel runs as its graph."""
    from convkit.formats.savedmodel import has_keras_metadata, inference_graph
    from convkit.graph_model.model import GraphSource

    if isinstance(inference_graph(path, None), GraphSource):
        # A TF1 SavedModel runs as its graph, whatever its tags and signatures (it may have neither serve nor one).
        from convkit.runtimes.graph import GraphRunner

        return GraphRunner(path, "savedmodel")
    if signature is not None:
        return SavedModelRunner(path, signature=signature)
    if has_keras_metadata(path):
        from convkit.runtimes.keras.tf_keras import load_tf_keras

        try:
            return load_tf_keras(path, allow_unsafe=allow_unsafe, training=training)
        except ReadError as error:
            if training:
                raise
            # The Keras metadata may be beyond tf_keras; the serving signature still runs in TensorFlow.
            runner = SavedModelRunner(path)
            runner.notes.append(f"ran its serving signature because {error}")
            return runner
    return SavedModelRunner(path)
