"""A SavedModel and a TFLite file holding two signatures, for check and convert --signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def build_two_signatures(folder: Path) -> dict[str, Path]:
    """``two/``: a SavedModel whose ``scores`` signature is a dense layer and ``offsets`` adds a vector, over one
    shared variable; ``two.tflite``: both signatures in one TFLite file; ``one/``: ``scores`` alone, as its
    ``serving_default``."""
    import tensorflow as tf

    rng = np.random.default_rng(0)

    class Scorer(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = tf.Variable(rng.normal(size=(4, 3)).astype("float32"))
            self.bias = tf.Variable(rng.normal(size=(3,)).astype("float32"))

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="features")])
        def scores(self, features):
            return {"scores": tf.matmul(features, self.kernel) + self.bias}

        @tf.function(input_signature=[tf.TensorSpec((None, 3), tf.float32, name="values")])
        def offsets(self, values):
            return {"shifted": values * 2.0 + self.bias}

    module = Scorer()
    paths = {"two": folder / "two", "one": folder / "one", "tflite": folder / "two.tflite"}
    tf.saved_model.save(module, str(paths["two"]), signatures={"scores": module.scores, "offsets": module.offsets})
    tf.saved_model.save(module, str(paths["one"]), signatures={"serving_default": module.scores})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(paths["two"]), signature_keys=["scores", "offsets"])
    paths["tflite"].write_bytes(converter.convert())
    return paths
