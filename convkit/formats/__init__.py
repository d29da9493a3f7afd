"""One module per on-disk format; importing this package registers them all.

Order matters for detection: the first format whose ``accept`` says yes wins.
"""

from __future__ import annotations

from convkit.formats import metagraph  # noqa: F401  (registers "metagraph"; before "ckpt", whose files it shares)
from convkit.formats import checkpoint  # noqa: F401  (registers "ckpt")
from convkit.formats import savedmodel  # noqa: F401  (registers "savedmodel")
from convkit.formats import hdf5  # noqa: F401  (registers "h5")
from convkit.formats import keras_archive  # noqa: F401  (registers "keras")
from convkit.formats import tfjs  # noqa: F401  (registers "tfjs")
from convkit.formats import tfjs_pb  # noqa: F401  (registers "tfjs-pb"; before "pb", whose kind of file it holds)
from convkit.formats import frozen_graph  # noqa: F401  (registers "pb")
from convkit.formats import onnx  # noqa: F401  (registers "onnx")
from convkit.formats import tflite  # noqa: F401  (registers "tflite")
