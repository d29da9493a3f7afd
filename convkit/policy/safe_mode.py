"""The permission to run code from a file, scoped to one load: Keras safe mode and plain loads."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

from convkit.policy.shipped import keras_shipped_layers


@contextlib.contextmanager
def unsafe_scope(allow_unsafe: bool, generations: tuple[int, ...] = (2, 3)) -> Iterator[None]:
    """Keras safe mode set for one load: off with ``allow_unsafe``, on otherwise; restored afterwards.

    Safe mode is Keras' own refusal of Lambda bytecode. The previous setting comes
    back however the block ends, so ``--unsafe`` never outlives the load it was given for.

    Args:
        allow_unsafe: the user's ``--unsafe``.
        generations: the Keras generations the block loads with (2: tf_keras, 3: Keras 3).
    """
    with contextlib.ExitStack() as stack:
        if 3 in generations:
            from keras.src.saving.serialization_lib import SafeModeScope

            stack.enter_context(SafeModeScope(not allow_unsafe))
        if 2 in generations:
            from tf_keras.src.saving.serialization_lib import SafeModeScope as LegacySafeModeScope

            stack.enter_context(LegacySafeModeScope(not allow_unsafe))
        yield


_PLAIN_LOAD: contextvars.ContextVar[bool] = contextvars.ContextVar("convkit_plain_load", default=False)


def loading_custom_objects(generation: int) -> dict[str, type]:
    """The ``custom_objects`` a runner passes Keras' ``load_model``: the classes of :func:`keras_shipped_layers`.

    Within :func:`plain_load` none, so that a load is what a user's plain ``load_model`` does.
    """
    return {} if _PLAIN_LOAD.get() else keras_shipped_layers(generation)


def in_plain_load() -> bool:
    """Whether runners load as a user's plain ``load_model`` would (inside :func:`plain_load`)."""
    return _PLAIN_LOAD.get()


@contextlib.contextmanager
def plain_load() -> Iterator[None]:
    """Runners in the block load as a user's plain ``load_model`` would, without Keras-shipped classes.

    ``convert`` verifies its outputs this way: a file that loads only with ``custom_objects``
    is not one its users can load.
    """
    token = _PLAIN_LOAD.set(True)
    try:
        yield
    finally:
        _PLAIN_LOAD.reset(token)
