"""A small CNN trained on the bundled digits, and the digits as PNG files, for the tests that feed real data.

The CNN (Conv 16 -> pool -> Conv 32 -> pool -> Dense 10 logits, Keras 3,
8 epochs on the 1000 bundled training digits, seed 0) reaches about 90% on
the 1000 test digits: enough for int8 calibration to matter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

EPOCHS = 8
SEED = 0


def train_cnn(out: Path) -> None:
    """Writes ``out/cnn.keras``."""
    import keras

    from convkit.train.data import load_mnist

    mnist = load_mnist()
    keras.utils.set_random_seed(SEED)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input((28, 28, 1), name="image"), layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(), layers.Flatten(), layers.Dense(10),
    ], name="digits_cnn")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(mnist.x_train.reshape(-1, 28, 28, 1), mnist.y_train, epochs=EPOCHS, batch_size=32, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "cnn.keras")


def write_pngs(folder: Path, digits: np.ndarray, labels: np.ndarray) -> Path:
    """``digits`` (floats in [0, 1], 784 or 28x28 each) as 8-bit grayscale PNGs named ``00042_7.png``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, (digit, label) in enumerate(zip(digits, labels)):
        pixels = np.round(np.asarray(digit).reshape(28, 28) * 255).astype(np.uint8)
        Image.fromarray(pixels, "L").save(folder / f"{index:05d}_{int(label)}.png")
    return folder
