"""The tutorial's model, built with either Keras generation.

784 inputs -> Dense 512 relu -> Dropout 0.2 -> Dense 10 (logits); adam, sparse
categorical cross-entropy from logits, accuracy. ``generation=2`` uses
``tf_keras`` (the tutorial's own Keras), ``generation=3`` uses Keras 3.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from convkit._tf import quiet_tensorflow

GENERATIONS = (2, 3)


def keras_module(generation: int) -> ModuleType:
    """``tf_keras`` for generation 2, ``keras`` (Keras 3) for generation 3."""
    quiet_tensorflow()
    if generation == 2:
        import tf_keras

        return tf_keras
    if generation == 3:
        import keras

        return keras
    raise ValueError(f"Keras generation must be 2 or 3, not {generation}")


def create_model(generation: int = 3) -> Any:
    """A compiled, untrained copy of the tutorial's model.

    Args:
        generation: 2 for ``tf_keras``, 3 for Keras 3 (default).
    """
    k = keras_module(generation)
    if generation == 2:
        first = [k.layers.Dense(512, activation="relu", input_shape=(784,))]
    else:
        first = [k.Input(shape=(784,)), k.layers.Dense(512, activation="relu")]
    model = k.Sequential([*first, k.layers.Dropout(0.2), k.layers.Dense(10)])
    model.compile(
        optimizer=k.optimizers.Adam(),  # an object: Keras 3.15 drops a string optimizer from .keras compile configs
        loss=k.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[k.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def seed_everything(generation: int, seed: int) -> None:
    """Makes weight initialisation, dropout and shuffling repeat exactly for ``seed``."""
    import tensorflow as tf

    keras_module(generation).utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
