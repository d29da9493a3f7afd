"""Images as inputs: folders, globs and files decoded with Pillow, fitted to each kind of image input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convkit.containers import limits
from convkit.containers.tensors import TensorSpec
from convkit.data.loader import load_inputs
from convkit.data.preprocess import IMAGENET_CAFFE_MEAN_BGR, IMAGENET_TORCH_MEAN, IMAGENET_TORCH_STD, preprocessing
from convkit.errors import ReadError, UsageError
from tests.data._assert import one_line

GRAY = TensorSpec("image", (None, 8, 8, 1), "float32")
RGB = TensorSpec("image", (None, 8, 8, 3), "float32")


def write_images(folder: Path, count: int, *, size: tuple[int, int] = (8, 8), mode: str = "L", seed: int = 0,
                 suffix: str = ".png") -> list[np.ndarray]:
    """``count`` random images named 000.png, 001.png, ...; returns their pixels in name order."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = []
    for index in range(count):
        shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], len(mode))
        array = rng.integers(0, 256, size=shape, dtype=np.uint8)
        Image.fromarray(array, mode).save(folder / f"{index:03d}{suffix}")
        pixels.append(array)
    return pixels




def test_a_folder_of_grayscale_pngs_feeds_a_channels_last_input_in_name_order(tmp_path):
    pixels = write_images(tmp_path / "digits", 5)
    (tmp_path / "digits" / "README.txt").write_text("not an image")
    feed = load_inputs([GRAY], str(tmp_path / "digits"))
    values = feed.arrays["image"]
    assert values.shape == (5, 8, 8, 1) and values.dtype == np.float32
    np.testing.assert_allclose(values[..., 0], np.stack(pixels) / 255, rtol=1e-6)
    assert "5 images from" in feed.source and "8x8 grayscale" in feed.source and "unit: x/255" in feed.source
    assert "1 other files skipped" in feed.source


def test_subfolders_globs_single_files_and_the_limit(tmp_path):
    first = write_images(tmp_path / "set" / "a", 2, seed=1)
    second = write_images(tmp_path / "set" / "b", 2, seed=2)
    walked = load_inputs([GRAY], str(tmp_path / "set")).arrays["image"][..., 0]
    np.testing.assert_allclose(walked, np.stack(first + second) / 255, rtol=1e-6)
    globbed = load_inputs([GRAY], str(tmp_path / "set" / "*" / "001.png")).arrays["image"][..., 0]
    np.testing.assert_allclose(globbed, np.stack([first[1], second[1]]) / 255, rtol=1e-6)
    single = load_inputs([GRAY], str(tmp_path / "set" / "b" / "000.png")).arrays["image"]
    assert single.shape == (1, 8, 8, 1)
    limited = load_inputs([GRAY], str(tmp_path / "set"), limit=3)
    assert limited.count == 3


def test_images_are_resized_and_converted_to_the_inputs_channels(tmp_path):
    write_images(tmp_path / "rgb", 2, size=(20, 12), mode="RGB")
    gray = load_inputs([GRAY], str(tmp_path / "rgb"), preprocessing=preprocessing("raw")).arrays["image"]
    with Image.open(tmp_path / "rgb" / "000.png") as image:
        expected = np.asarray(image.convert("L").resize((8, 8), Image.Resampling.BILINEAR), np.float32)
    np.testing.assert_array_equal(gray[0, ..., 0], expected)
    write_images(tmp_path / "gray", 2)
    rgb = load_inputs([RGB], str(tmp_path / "gray"), preprocessing=preprocessing("raw")).arrays["image"]
    assert rgb.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_channels_first_flat_and_rank_3_inputs_get_the_same_pixels_in_their_layout(tmp_path):
    write_images(tmp_path / "rgb", 3, mode="RGB")
    hwc = load_inputs([RGB], str(tmp_path / "rgb")).arrays["image"]
    chw = load_inputs([TensorSpec("x", (None, 3, 8, 8))], str(tmp_path / "rgb")).arrays["x"]
    np.testing.assert_array_equal(chw, hwc.transpose(0, 3, 1, 2))
    flat_rgb = load_inputs([TensorSpec("x", (None, 192))], str(tmp_path / "rgb")).arrays["x"]
    np.testing.assert_array_equal(flat_rgb, hwc.reshape(3, -1))
    write_images(tmp_path / "gray", 2)
    flat = load_inputs([TensorSpec("x", (None, 64))], str(tmp_path / "gray"))
    rank3 = load_inputs([TensorSpec("x", (None, 8, 8))], str(tmp_path / "gray")).arrays["x"]
    np.testing.assert_array_equal(flat.arrays["x"], rank3.reshape(2, 64))
    assert "flattened" in flat.source


def test_open_height_and_width_take_the_images_own_size(tmp_path):
    write_images(tmp_path / "same", 2, size=(10, 6), mode="RGB")
    values = load_inputs([TensorSpec("x", (None, None, None, 3))], str(tmp_path / "same")).arrays["x"]
    assert values.shape == (2, 6, 10, 3)


@pytest.mark.parametrize(("preset", "expected"), [
    ("raw", lambda p: p),
    ("unit", lambda p: p / 255),
    ("tf", lambda p: p / 127.5 - 1),
    ("imagenet-caffe", lambda p: p[..., ::-1] - np.array(IMAGENET_CAFFE_MEAN_BGR)),
    ("imagenet-torch", lambda p: (p / 255 - np.array(IMAGENET_TORCH_MEAN)) / np.array(IMAGENET_TORCH_STD)),
])
def test_presets_compute_the_usual_preprocessings(tmp_path, preset, expected):
    pixels = np.stack(write_images(tmp_path / "rgb", 2, mode="RGB")).astype(np.float64)
    values = load_inputs([RGB], str(tmp_path / "rgb"), preprocessing=preprocessing(preset)).arrays["image"]
    np.testing.assert_allclose(values, expected(pixels), rtol=1e-5, atol=1e-4)


def test_explicit_numbers_replace_the_presets(tmp_path):
    pixels = np.stack(write_images(tmp_path / "rgb", 2, mode="RGB")).astype(np.float64)
    chosen = preprocessing("unit", offset=-0.5, mean="0.1,0.2,0.3", std="2")
    values = load_inputs([RGB], str(tmp_path / "rgb"), preprocessing=chosen).arrays["image"]
    np.testing.assert_allclose(values, (pixels / 255 - 0.5 - np.array([0.1, 0.2, 0.3])) / 2, rtol=1e-5, atol=1e-6)
    scaled = load_inputs([RGB], str(tmp_path / "rgb"), preprocessing=preprocessing(scale=2.0)).arrays["image"]
    np.testing.assert_allclose(scaled, pixels * 2, rtol=1e-6)


def test_integer_inputs_get_raw_pixels(tmp_path):
    pixels = np.stack(write_images(tmp_path / "gray", 2))
    values = load_inputs([TensorSpec("x", (None, 8, 8, 1), "uint8")], str(tmp_path / "gray")).arrays["x"]
    assert values.dtype == np.uint8
    np.testing.assert_array_equal(values[..., 0], pixels)


# ---------------------------------------------------------------- every image error: one line, the file, the input


def test_an_integer_input_refuses_fractional_preprocessing(tmp_path):
    write_images(tmp_path / "gray", 2)
    with pytest.raises(UsageError) as error:
        load_inputs([TensorSpec("x", (None, 8, 8, 1), "uint8")], str(tmp_path / "gray"),
                    preprocessing=preprocessing("unit"))
    one_line(error, "gray", "'x'", "uint8", "not whole")


def test_inputs_that_take_no_image_are_named(tmp_path):
    write_images(tmp_path / "gray", 1)
    for spec, why in ((TensorSpec("x", (None, 5, 5, 5)), "channels"), (TensorSpec("x", (None, 10)), "square"),
                      (TensorSpec("x", (None, 2, 2, 2, 2)), "dimensions")):
        with pytest.raises(UsageError) as error:
            load_inputs([spec], str(tmp_path / "gray"))
        one_line(error, "gray", "'x'", why)


def test_images_of_different_sizes_for_an_open_size_input(tmp_path):
    write_images(tmp_path / "mixed", 1, size=(8, 8), mode="RGB")
    write_images(tmp_path / "other", 1, size=(9, 8), mode="RGB")
    os.rename(tmp_path / "other" / "000.png", tmp_path / "mixed" / "001.png")
    with pytest.raises(UsageError) as error:
        load_inputs([TensorSpec("x", (None, None, None, 3))], str(tmp_path / "mixed"))
    one_line(error, "001.png", "'x'", "9x8")


def test_a_file_that_is_not_an_image_and_a_damaged_image(tmp_path):
    write_images(tmp_path / "bad", 1)
    (tmp_path / "bad" / "001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(ReadError) as error:
        load_inputs([GRAY], str(tmp_path / "bad"))
    one_line(error, "001.png", "Pillow")
    (tmp_path / "bad" / "001.png").write_bytes((tmp_path / "bad" / "000.png").read_bytes()[:60])
    with pytest.raises(ReadError) as error:
        load_inputs([GRAY], str(tmp_path / "bad"))
    one_line(error, "001.png")


def test_empty_folders_and_patterns_matching_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(ReadError) as error:
        load_inputs([GRAY], str(tmp_path / "empty"))
    one_line(error, "empty", "no image files")
    with pytest.raises(ReadError) as error:
        load_inputs([GRAY], str(tmp_path / "empty" / "*.png"))
    one_line(error, "*.png", "no file matches")


def test_links_are_refused_by_name(tmp_path):
    write_images(tmp_path / "digits", 2)
    (tmp_path / "digits" / "002.png").symlink_to(tmp_path / "digits" / "000.png")
    with pytest.raises(ReadError) as error:
        load_inputs([GRAY], str(tmp_path / "digits"))
    one_line(error, "002.png", "symbolic link")
    (tmp_path / "linked").symlink_to(tmp_path / "digits", target_is_directory=True)
    with pytest.raises(ReadError) as error:
        load_inputs([GRAY], str(tmp_path / "linked"))
    one_line(error, "linked", "symbolic link")
    with pytest.raises(ReadError) as error:
        load_inputs([GRAY], str(tmp_path / "digits" / "*.png"))
    one_line(error, "002.png", "symbolic link")


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    write_images(tmp_path / "big", 1, size=(40, 40))
    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ReadError) as error:
        load_inputs([GRAY], str(tmp_path / "big"))
    one_line(error, "000.png", "40x40", "1000")


def test_more_image_data_than_the_input_limit(tmp_path, monkeypatch):
    write_images(tmp_path / "gray", 3)
    monkeypatch.setattr(limits, "MAX_INPUT_BYTES", 500)
    with pytest.raises(UsageError) as error:
        load_inputs([GRAY], str(tmp_path / "gray"))
    one_line(error, "gray", "--limit")


def test_mean_and_std_that_do_not_fit_the_channels(tmp_path):
    write_images(tmp_path / "gray", 1)
    with pytest.raises(UsageError) as error:
        load_inputs([GRAY], str(tmp_path / "gray"), preprocessing=preprocessing(mean="1,2,3"))
    one_line(error, "gray", "'image'", "1 channel", "--mean")
    with pytest.raises(UsageError) as error:
        load_inputs([GRAY], str(tmp_path / "gray"), preprocessing=preprocessing(std="0"))
    one_line(error, "gray", "'image'", "by 0")
    for bad in ("a,b", "1,,2", "nan"):
        with pytest.raises(UsageError) as error:
            preprocessing(mean=bad)
        one_line(error, "--mean", bad)
    with pytest.raises(UsageError) as error:
        preprocessing("imagenet")
    one_line(error, "imagenet", "imagenet-torch")
