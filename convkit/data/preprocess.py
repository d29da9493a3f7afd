"""How image pixels become a model's input values: presets for the usual preprocessings, and explicit numbers.

One formula for every image input, applied per channel after the channels are
put in order (RGB, or BGR for Caffe-trained models)::

    value = (pixel * scale + offset - mean[c]) / std[c]        pixel in 0..255

A preset fills in the numbers; ``--scale``, ``--offset``, ``--mean`` and
``--std`` given beside it replace the preset's. Without a preset, float inputs
get ``unit`` and integer inputs (``uint8`` images) ``raw``.

| preset | values | as in |
| --- | --- | --- |
| ``raw`` | 0..255 | models with their own ``Rescaling`` layer (EfficientNet, ConvNeXt) |
| ``unit`` | 0..1 | the tutorial's digits, most hand-made models |
| ``tf`` | -1..1 | ``preprocess_input`` of MobileNet(V2), Inception, Xception |
| ``imagenet-caffe`` | BGR, ImageNet mean subtracted | ``preprocess_input`` of VGG, ResNet50 |
| ``imagenet-torch`` | 0..1, ImageNet mean and std | ``preprocess_input`` of DenseNet; PyTorch pipelines |
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from convkit.errors import UsageError

IMAGENET_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
IMAGENET_TORCH_MEAN = (0.485, 0.456, 0.406)
IMAGENET_TORCH_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """The numbers of the formula above; None where the preset (or the default) decides.

    Attributes:
        preset: ``raw``, ``unit``, ``tf``, ``imagenet-caffe`` or ``imagenet-torch``; None: by the input's dtype.
        scale, offset: ``pixel * scale + offset``.
        mean, std: subtracted, then divided by, per channel (one value for every channel, or one per channel).
        bgr: channels in BGR order (Caffe).
    """

    preset: str | None = None
    scale: float | None = None
    offset: float | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    bgr: bool | None = None

    @property
    def given(self) -> bool:
        """Whether anything was asked for (a preset or a number)."""
        return any(value is not None for value in dataclasses.astuple(self))

    def resolved(self, dtype: str) -> Preprocessing:
        """Every number filled in: the preset's (default ``unit`` for float inputs, ``raw`` for integer
        ones), replaced where this one gives its own."""
        preset = self.preset or ("raw" if np.issubdtype(np.dtype(dtype), np.integer) else "unit")
        base = PRESETS[preset]
        chosen = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        return Preprocessing(**{name: value if value is not None else getattr(base, name)
                                for name, value in chosen.items()} | {"preset": preset})

    def describe(self) -> str:
        """``unit: x/255``, ``imagenet-torch: (x/255 - mean) / std``: for the report."""
        scale, offset = self.scale if self.scale is not None else 1.0, self.offset or 0.0
        text = "x" if scale == 1 else f"x/{1 / scale:g}" if abs(1 / scale - round(1 / scale, 3)) < 1e-9 else f"x*{scale:g}"
        if offset:
            text += f" {'+' if offset > 0 else '-'} {abs(offset):g}"
        if self.mean is not None and any(self.mean):
            text = f"({text} - mean {_values(self.mean)})"
        if self.std is not None and any(value != 1 for value in self.std):
            text += f" / std {_values(self.std)}"
        order = "BGR, " if self.bgr else ""
        return f"{self.preset or 'custom'}: {order}{text}"

    def apply(self, pixels: np.ndarray, channels: int, channel_axis: int, *, source: str, input_name: str) -> np.ndarray:
        """``pixels`` (uint8, channels along ``channel_axis``) as float32 input values.

        Raises:
            UsageError: ``mean`` or ``std`` gives a number of values other than 1 or ``channels``,
                or a ``std`` of 0.
        """
        for numbers, what in ((self.mean, "--mean"), (self.std, "--std")):
            if numbers is not None and len(numbers) not in (1, channels):
                raise UsageError(f"{source}: input {input_name!r} has {channels} channel(s), but {what} gives "
                                 f"{len(numbers)} values ({_values(numbers)}); give 1 or {channels}")
        if self.std is not None and any(number == 0 for number in self.std):
            raise UsageError(f"{source}: --std {_values(self.std)} divides the values of input {input_name!r} by 0")
        # One multiply and one add per value: (p * scale + offset - mean) / std = p * a + b, per channel.
        mean = np.broadcast_to(np.asarray(self.mean if self.mean is not None else (0.0,), np.float64), (channels,))
        std = np.broadcast_to(np.asarray(self.std if self.std is not None else (1.0,), np.float64), (channels,))
        scale = self.scale if self.scale is not None else 1.0
        shape = [1] * pixels.ndim
        shape[channel_axis] = channels
        a = (scale / std).astype(np.float32).reshape(shape)
        b = (((self.offset or 0.0) - mean) / std).astype(np.float32).reshape(shape)
        if self.bgr and channels >= 3:
            index = [slice(None)] * pixels.ndim
            index[channel_axis] = [2, 1, 0, *range(3, channels)]  # type: ignore[call-overload]
            pixels = pixels[tuple(index)]
        values = np.multiply(pixels, a, dtype=np.float32)
        values += b
        return values


PRESETS = {
    "raw": Preprocessing(scale=1.0, offset=0.0, bgr=False),
    "unit": Preprocessing(scale=1 / 255, offset=0.0, bgr=False),
    "tf": Preprocessing(scale=1 / 127.5, offset=-1.0, bgr=False),
    "imagenet-caffe": Preprocessing(scale=1.0, offset=0.0, mean=IMAGENET_CAFFE_MEAN_BGR, bgr=True),
    "imagenet-torch": Preprocessing(scale=1 / 255, offset=0.0, mean=IMAGENET_TORCH_MEAN, std=IMAGENET_TORCH_STD,
                                    bgr=False),
}
PRESET_NAMES = tuple(PRESETS)


def preprocessing(preset: str | None = None, *, scale: float | None = None, offset: float | None = None,
                  mean: str | tuple[float, ...] | None = None, std: str | tuple[float, ...] | None = None) -> Preprocessing:
    """A :class:`Preprocessing` from the command line's words (``--mean 0.485,0.456,0.406``).

    Raises:
        UsageError: an unknown preset, or a ``--mean``/``--std`` that is not a list of numbers.
    """
    if preset is not None and preset not in PRESETS:
        raise UsageError(f"unknown --preprocess {preset!r}; choose one of {', '.join(PRESET_NAMES)}")
    return Preprocessing(preset=preset, scale=scale, offset=offset, mean=_numbers(mean, "--mean"),
                         std=_numbers(std, "--std"))


def _numbers(value: str | tuple[float, ...] | None, flag: str) -> tuple[float, ...] | None:
    if value is None or isinstance(value, tuple):
        return value
    try:
        numbers = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise UsageError(f"{flag} takes numbers separated by commas (one, or one per channel), not {value!r}") from None
    if not numbers or not all(np.isfinite(numbers)):
        raise UsageError(f"{flag} takes finite numbers, not {value!r}")
    return numbers


def _values(numbers: tuple[float, ...]) -> str:
    return ",".join(f"{number:g}" for number in numbers)
