"""The tutorial's data: the first 1000 training and 1000 test MNIST digits.

Sources, in order: a file the caller names (Keras ``mnist.npz`` layout), the
Keras cache ``~/.keras/datasets/mnist.npz``, and the 2000 real MNIST digits
bundled in the package (``convkit/train/mnist``, provenance and licence in its
README). Nothing is ever downloaded.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convkit.errors import ReadError

BUNDLED_MNIST = Path(__file__).resolve().parent / "mnist" / "mnist-2000.npz"
KERAS_CACHE = Path("~/.keras/datasets/mnist.npz").expanduser()
TUTORIAL_SIZE = 1000
_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Mnist:
    """Flattened digits scaled to [0, 1] (float32, [N, 784]) and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: Path

    def __iter__(self):
        """Unpacks as ``x_train, y_train, x_test, y_test``, like ``mnist.load_data()`` flattened."""
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))


def mnist_source(path: str | Path | None = None) -> Path:
    """The file the digits come from: ``path``, else the Keras cache, else the bundled subset."""
    if path is not None:
        return Path(path)
    if KERAS_CACHE.is_file():
        return KERAS_CACHE
    return BUNDLED_MNIST


def load_mnist(path: str | Path | None = None, size: int = TUTORIAL_SIZE) -> Mnist:
    """Loads the first ``size`` training and test digits, as the tutorial does.

    Args:
        path: a Keras ``mnist.npz``-style file; default: Keras cache, then the bundled subset.
        size: digits taken from each split (default 1000, the tutorial's).

    Raises:
        ReadError: the file is missing, not an npz, lacks a key or holds too few digits.
    """
    source = mnist_source(path)
    try:
        with np.load(source, allow_pickle=False) as npz:
            missing = [key for key in _KEYS if key not in npz.files]
            if missing:
                raise ReadError(f"{source}: not an mnist.npz file (missing {', '.join(missing)})")
            arrays = {key: npz[key] for key in _KEYS}
    except FileNotFoundError:
        raise ReadError(f"{source}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise ReadError(f"{source}: cannot read MNIST data ({error})") from None
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(images) < size or len(labels) < size:
            raise ReadError(f"{source}: {split} split holds {len(images)} digits, fewer than the {size} asked for")
        if images[0].size != 784:
            raise ReadError(f"{source}: {split} images have {images[0].size} pixels, not 28x28")
    return Mnist(
        x_train=_scale(arrays["x_train"][:size]),
        y_train=arrays["y_train"][:size].astype(np.int64),
        x_test=_scale(arrays["x_test"][:size]),
        y_test=arrays["y_test"][:size].astype(np.int64),
        source=source,
    )


def _scale(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), 784).astype(np.float32) / 255.0
