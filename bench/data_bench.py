"""Loading 1000 images as a model's input: convkit's loader against the code users would otherwise write.

Setup (not timed): 1000 JPEG photos-like images (500x375 RGB, smooth gradients
and noise, quality 90) in one folder, as ImageNet-style data comes.

Timed, each a fresh process, median of --runs (wall time, CPU time, peak RSS):
  convkit:  convkit.data.loader.load_inputs on the folder for a [None, 224, 224, 3] float32 input,
            --preprocess imagenet-torch (what check --inputs and convert --calibrate do)
  PIL loop: the obvious script: for each file, Image.open, convert("RGB"), resize to 224x224
            bilinear, np.asarray, then the same arithmetic on the stacked array
  Keras:    keras.utils.image_dataset_from_directory(folder, labels=None, image_size=(224, 224),
            batch_size=None) collected into one array, then the same arithmetic

Printed: each tool's figures, the ratios against convkit, and the largest difference between
convkit's array and the PIL loop's (the same decoder and resize: 0 expected).

Usage: python bench/data_bench.py [--runs 3] [--count 1000] [--json] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = (500, 375)
TARGET = 224
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

CONVKIT = """
import sys, numpy as np
from convkit.containers.tensors import TensorSpec
from convkit.data.loader import load_inputs
from convkit.data.preprocess import preprocessing
feed = load_inputs([TensorSpec("image", (None, 224, 224, 3))], sys.argv[1], preprocessing=preprocessing("imagenet-torch"))
if len(sys.argv) > 2:
    np.save(sys.argv[2], feed.arrays["image"])
"""
PIL_LOOP = """
import sys, pathlib, numpy as np
from PIL import Image
arrays = []
for path in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    with Image.open(path) as image:
        arrays.append(np.asarray(image.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR), np.uint8))
values = np.stack(arrays).astype(np.float32) / 255
values = (values - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
if len(sys.argv) > 2:
    np.save(sys.argv[2], values)
"""
KERAS = """
import os, sys, numpy as np
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
dataset = keras.utils.image_dataset_from_directory(sys.argv[1], labels=None, image_size=(224, 224), batch_size=None,
                                                   shuffle=False, verbose=False)
values = np.stack([np.asarray(image) for image in dataset]) / 255
values = (values - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
"""


def make_images(folder: Path, count: int) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    width, height = SIZE
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    for index in range(count):
        colour = rng.random((1, 1, 3), dtype=np.float32)
        smooth = 255 * (0.5 * colour + 0.3 * x * colour[..., ::-1] + 0.2 * y)
        pixels = np.clip(smooth + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(folder / f"{index:05d}.jpg", quality=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="convkit-data-bench-") as temporary:
        work = args.work or Path(temporary)
        folder = work / "images"
        if not folder.is_dir() or len(list(folder.iterdir())) != args.count:
            make_images(folder, args.count)
        python = sys.executable
        env = {"PYTHONPATH": str(ROOT)}
        ours = measure("convkit", [python, "-c", CONVKIT, str(folder)], args.runs, env=env)
        loop = measure("PIL loop", [python, "-c", PIL_LOOP, str(folder)], args.runs, env=env)
        keras = measure("Keras image_dataset_from_directory", [python, "-c", KERAS, str(folder)], args.runs, env=env)
        subprocess.run([python, "-c", CONVKIT, str(folder), str(work / "convkit.npy")], check=True, env=env)
        subprocess.run([python, "-c", PIL_LOOP, str(folder), str(work / "loop.npy")], check=True)
        import numpy as np

        difference = float(np.abs(np.load(work / "convkit.npy") - np.load(work / "loop.npy")).max())
    rows = [ours, loop, keras]
    result = {
        "count": args.count, "size": list(SIZE), "target": TARGET,
        "measurements": [row.to_dict() for row in rows],
        "ratios": {row.label: {"time": round(row.seconds / ours.seconds, 2), "memory": round(row.peak_mib / ours.peak_mib, 2)}
                   for row in rows[1:]},
        "max_abs_difference_convkit_vs_pil_loop": difference,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.count} JPEGs {SIZE[0]}x{SIZE[1]} -> [{args.count}, {TARGET}, {TARGET}, 3] float32, imagenet-torch "
          f"(median of {args.runs} runs, fresh processes)")
    for row in rows:
        print(f"  {row.label:36s} {row.seconds:6.2f} s wall  {row.cpu_seconds:6.2f} s CPU  {row.peak_mib:7.0f} MiB")
    for row in rows[1:]:
        print(f"  {row.label} / convkit: {row.seconds / ours.seconds:.1f}x time, {row.peak_mib / ours.peak_mib:.2f}x memory")
    print(f"  largest difference, convkit vs the PIL loop: {difference:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
