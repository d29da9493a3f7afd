"""A Keras model as data: a Keras 2 dialect config plus lazily read weights.

``.h5`` files of both Keras generations, ``.keras`` archives and TF.js layers
models are read into a :class:`ModelData` without TensorFlow (each format's
reader, named by its registry record); the TF.js layers and ``.h5`` writers
stream its weights one tensor at a time, so a 1 GB model never sits in memory
whole. Weights-only files (checkpoints, weights-only ``.h5``, Keras 3
``export()`` SavedModels) are mapped into the architecture of a template model
(:mod:`~convkit.keras_model.weights`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np


class NeedsKeras(Exception):
    """The file holds something only a live Keras model can translate (the caller loads it in Keras).

    Attributes:
        generation: the Keras generation that reads it (2: tf_keras, 3: Keras 3).
    """

    def __init__(self, message: str, generation: int = 3, weights_only: bool = False) -> None:
        super().__init__(message)
        self.generation = generation
        self.weights_only = weights_only


@dataclass
class Weight:
    """One weight tensor, read on demand.

    Attributes:
        name: Keras 2 style name without ``:0`` (``dense/kernel``, ``lstm/lstm_cell/kernel``).
        shape: tensor shape.
        dtype: numpy dtype name.
        read: returns the array.
        trainable: False for moving statistics and frozen layers.
        raw_span: (file, byte offset) when the tensor is stored as plain
            little-endian bytes in a file, so writers may copy it without
            decoding (``os.copy_file_range``); None otherwise.
    """

    name: str
    shape: tuple[int, ...]
    dtype: str
    read: Callable[[], np.ndarray]
    trainable: bool = True
    raw_span: tuple[str, int] | None = None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass
class ModelData:
    """Architecture (Keras 2 dialect) and weights of a Keras model.

    Attributes:
        config: ``{"class_name", "config"}`` in the Keras 2 dialect.
        layer_weights: top-level layer name -> its weights, in ``.h5`` order.
        generation: Keras generation of the source (2 or 3).
        keras_version: version string written by the source.
        training_config: the source's compile settings, if any.
        optimizer_weights: names of optimizer tensors in the source (not carried by every target).
        raw_config: the source's own config (Keras 3 dialect for Keras 3 files).
        training_code: the code the source's training configuration held (a custom optimizer), which
            was dropped with it; None when nothing was dropped.
        notes: what reading changed so that today's Keras builds the model (a CuDNNLSTM read as an LSTM),
            one sentence each, told as warnings by every conversion of it.
    """

    config: dict[str, Any]
    layer_weights: dict[str, list[Weight]]
    generation: int
    keras_version: str
    training_config: dict[str, Any] | None = None
    optimizer_weights: list[str] = field(default_factory=list)
    raw_config: dict[str, Any] | None = None
    training_code: str | None = None
    notes: list[str] = field(default_factory=list)

    def weights(self) -> Iterator[Weight]:
        for items in self.layer_weights.values():
            yield from items

    def total_bytes(self) -> int:
        return sum(weight.nbytes for weight in self.weights())


# A reader's ``template``: the architecture of ``like`` as ModelData, read when first needed.
Template = Callable[[], ModelData]
