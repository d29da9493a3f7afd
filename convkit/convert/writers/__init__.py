"""One writer per target format, each named by its format's registry record (``writer``).

Each takes a :class:`~convkit.convert.conversion.Conversion` and returns a
:class:`~convkit.convert.conversion.Written`:

- :mod:`~convkit.convert.writers.tfjs`: TF.js layers models (:mod:`~convkit.convert.writers.tfjs_layers`,
  streamed without TensorFlow) or graph models (:mod:`~convkit.convert.writers.tfjs_graph`, tensorflowjs).
- :mod:`~convkit.convert.writers.h5`: Keras 2 style ``.h5`` files, streamed without TensorFlow.
- :mod:`~convkit.convert.writers.keras`: Keras 3 ``.keras`` archives.
- :mod:`~convkit.convert.writers.savedmodel`: SavedModels (tf_keras, else a Keras 3 export).
- :mod:`~convkit.convert.writers.checkpoint`: TF checkpoints in the tf_keras object layout.
- :mod:`~convkit.convert.writers.onnx`: ONNX, by convkit's own writer from the Keras config
  (:mod:`~convkit.convert.writers.onnx_native`, streamed without TensorFlow) or through tf2onnx;
  :mod:`~convkit.convert.writers.tflite`: TFLite through TFLiteConverter; these two from the model as one
  function (:mod:`convkit.convert.serving`).
"""

from __future__ import annotations


def producer() -> str:
    """``convkit <version>``, what written files name as their producer (TF.js ``convertedBy``, ONNX ``producer``)."""
    from importlib import metadata

    try:
        return f"convkit {metadata.version('convkit')}"
    except metadata.PackageNotFoundError:
        return "convkit 0"
