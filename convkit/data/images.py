"""Images as model inputs: a folder, a glob or one file, decoded with Pillow and fitted to one input.

Pillow (the maintained Python imaging library) decodes every format it knows
(PNG, JPEG, BMP, GIF, TIFF, WebP, PPM); a file is recognised by its content,
and a folder's files by the extensions Pillow registers (others are skipped
and counted in a note). Files are taken in the order of their paths, folders
walked without following a link (a link is refused by name).

Each image is converted to the input's channels (1: grayscale, 3: RGB, 4:
RGBA), resized (bilinear) to the input's height and width, and laid out as
the input is: ``[H, W, C]`` for channels-last inputs, ``[C, H, W]`` for
channels-first ones, ``[H, W]`` for rank-3 inputs, flattened for a rank-2
input whose size is a square (``784``: a 28x28 grayscale image) or three
times one (RGB). Pixel values then go through the preprocessing
(:mod:`convkit.data.preprocess`). A header declaring more than
:data:`~convkit.containers.limits.MAX_IMAGE_PIXELS` pixels is refused before
anything is decoded.
"""

from __future__ import annotations

import glob
import math
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convkit.containers import limits
from convkit.containers.files import kind_of, open_regular
from convkit.containers.tensors import TensorSpec
from convkit.data.preprocess import Preprocessing
from convkit.errors import ReadError, UsageError

GLOB_CHARACTERS = "*?["
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def image_extensions() -> frozenset[str]:
    """File name endings Pillow registers a decoder for (``.png``, ``.jpg``, ...)."""
    from PIL import Image

    Image.init()
    return frozenset(extension.lower() for extension, name in Image.registered_extensions().items()
                     if name in Image.OPEN)


def is_image(path: Path) -> bool:
    """Whether Pillow recognises the file at ``path`` by its content."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open_regular(path) as handle, Image.open(handle):
            return True
    except (UnidentifiedImageError, ReadError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def is_pattern(text: str) -> bool:
    """Whether ``text`` is a glob pattern (``digits/*.png``) rather than a path."""
    return any(character in text for character in GLOB_CHARACTERS) and not Path(text).exists()


@dataclass(frozen=True)
class ImageFiles:
    """The images of one source.

    Attributes:
        source: the folder, pattern or file as given.
        paths: the image files, in order.
        skipped: files of a folder that are not images by name (not counted in ``paths``).
    """

    source: str
    paths: tuple[Path, ...]
    skipped: int = 0


def find_images(source: str, limit: int | None = None) -> ImageFiles:
    """The image files a folder (walked recursively), a glob pattern or one file names, by path order.

    Raises:
        ReadError: nothing found, or a link or special file among them.
    """
    extensions = image_extensions()
    path = Path(source)
    skipped = 0
    if is_pattern(source):
        found = sorted(Path(match) for match in glob.glob(source, recursive=True))
        for match in found:
            _refuse_special(match)
        paths = [match for match in found if match.is_file()]
        if not paths:
            raise ReadError(f"{source}: no file matches the pattern")
    elif path.is_dir() and not path.is_symlink():
        paths = []
        for folder, folders, files in os.walk(path, followlinks=False):
            folders.sort()
            for name in [*folders, *files]:
                _refuse_special(Path(folder) / name)
            for name in files:
                if Path(name).suffix.lower() in extensions:
                    paths.append(Path(folder) / name)
                else:
                    skipped += 1
        paths.sort(key=lambda item: item.relative_to(path).parts)
        if not paths:
            raise ReadError(f"{source}: the folder holds no image files ({', '.join(sorted(extensions)[:6])}, ...)")
    else:
        _refuse_special(path)
        if not path.exists():
            raise ReadError(f"{source}: no such file or folder")
        paths = [path]
    if limit is not None:
        paths = paths[:limit]
    return ImageFiles(source, tuple(paths), skipped)


def _refuse_special(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ReadError(f"{path}: is {kind_of(mode)}, not a regular file; convkit reads no links or special files")


@dataclass(frozen=True)
class Geometry:
    """How an input takes an image.

    Attributes:
        height, width: the input's size (None where it leaves it open: the images' own).
        channels: 1, 3 or 4.
        layout: ``hwc`` (channels last), ``chw`` (channels first), ``hw`` (rank 3, grayscale) or ``flat``.
    """

    height: int | None
    width: int | None
    channels: int
    layout: str

    def describe(self, height: int, width: int) -> str:
        colour = {1: "grayscale", 3: "RGB", 4: "RGBA"}[self.channels]
        where = {"hwc": "", "chw": ", channels first", "hw": "", "flat": ", flattened"}[self.layout]
        return f"{width}x{height} {colour}{where}"


def geometry(spec: TensorSpec, source: str) -> Geometry:
    """How the input ``spec`` takes images.

    Raises:
        UsageError: the input's shape takes no image (naming the input and its shape).
    """
    dims = spec.shape[1:]

    def refuse(why: str) -> UsageError:
        return UsageError(f"{source}: input {spec.name!r} takes {list(spec.shape)} {spec.dtype}, which is not an "
                          f"image ({why}); give an .npy, .npz or CSV file for it")

    if len(dims) == 3:
        if dims[2] in _MODES:
            return Geometry(dims[0], dims[1], int(dims[2]), "hwc")
        if dims[0] in _MODES:
            return Geometry(dims[1], dims[2], int(dims[0]), "chw")
        raise refuse("neither its first nor its last dimension holds 1, 3 or 4 channels")
    if len(dims) == 2:
        return Geometry(dims[0], dims[1], 1, "hw")
    if len(dims) == 1 and dims[0] is not None:
        size = int(dims[0])
        for channels in (1, 3):
            side = math.isqrt(size // channels)
            if size % channels == 0 and side * side * channels == size:
                return Geometry(side, side, channels, "flat")
        raise refuse(f"{size} values are neither a square grayscale image nor a square RGB one")
    raise refuse("an image input has 2 or 3 dimensions after the batch, or a square number of values")


def load_images(files: ImageFiles, spec: TensorSpec, preprocessing: Preprocessing) -> tuple[np.ndarray, str]:
    """The images of ``files`` as values for the input ``spec``, and a description for the report.

    Raises:
        ReadError: a file Pillow cannot decode, or over the pixel limit (naming the file).
        UsageError: the images differ in size where the input leaves the size open; the arrays
            would exceed ``MAX_INPUT_BYTES``; the preprocessing does not fit the channels.
    """
    shape = geometry(spec, files.source)
    height, width = shape.height, shape.width
    if height is None or width is None:
        first = _header_size(files.paths[0])
        height, width = height or first[1], width or first[0]
    count = len(files.paths)
    total = count * height * width * shape.channels * 4
    if total > limits.MAX_INPUT_BYTES:
        raise UsageError(f"{files.source}: {count} images of {width}x{height}x{shape.channels} make {total} bytes of "
                         f"input, over convkit's limit of {limits.MAX_INPUT_BYTES}; take fewer with --limit")
    pixels = np.empty((count, height, width, shape.channels), np.uint8)
    open_size = shape.height is None or shape.width is None

    def decode(index: int) -> None:
        pixels[index] = _decode(files.paths[index], width, height, shape.channels, open_size, spec.name)

    workers = min(count, os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:  # Pillow lets go of the GIL while it decodes and resizes
            list(pool.map(decode, range(count)))
    else:
        for index in range(count):
            decode(index)
    resolved = preprocessing.resolved(spec.dtype)
    values = resolved.apply(pixels, shape.channels, 3, source=files.source, input_name=spec.name)
    if shape.layout == "chw":
        values = np.ascontiguousarray(values.transpose(0, 3, 1, 2))
    elif shape.layout == "hw":
        values = values[..., 0]
    elif shape.layout == "flat":
        values = values.reshape(count, -1)
    skipped = f"; {files.skipped} other files skipped" if files.skipped else ""
    described = (f"{count} images from {files.source} ({shape.describe(height, width)}, "
                 f"{resolved.describe()}{skipped})")
    return values, described


def _header_size(path: Path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with open_regular(path) as handle, Image.open(handle) as image:
            return image.size
    except ReadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ReadError(f"{path}: not an image Pillow can read ({error})") from None


def _decode(path: Path, width: int, height: int, channels: int, same_size: bool, input_name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with open_regular(path) as handle, Image.open(handle) as image:
            if image.width * image.height > limits.MAX_IMAGE_PIXELS:
                raise ReadError(f"{path}: the image declares {image.width}x{image.height} pixels, over convkit's "
                                f"limit of {limits.MAX_IMAGE_PIXELS}")
            if same_size and image.size != (width, height):
                raise UsageError(f"{path}: input {input_name!r} leaves its size open and the images must share one; "
                                 f"this one is {image.width}x{image.height}, the first {width}x{height}")
            mode = _MODES[channels]
            if image.size != (width, height) and image.format == "JPEG":
                image.draft(mode, (width, height))  # decode at a reduced scale where the JPEG allows it
            converted: Any = image.convert(mode) if image.mode != mode else image
            if converted.size != (width, height):
                converted = converted.resize((width, height), Image.Resampling.BILINEAR)
            array = np.asarray(converted, dtype=np.uint8)
    except (ReadError, UsageError):
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        raise ReadError(f"{path}: not an image Pillow can read ({error})") from None
    return array.reshape(height, width, channels)



def names_images(text: str) -> bool:
    """Whether the source ``text`` names images: a glob pattern, a folder, or a file Pillow recognises."""
    path = Path(text)
    if is_pattern(text) or (path.is_dir() and not path.is_symlink()):
        return True
    return path.is_file() and not path.is_symlink() and is_image(path)
