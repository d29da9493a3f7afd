"""The native ONNX writer, layer by layer, against Keras on random inputs.

Each case is a small model built in both Keras generations (tf_keras saved as
``.h5``, Keras 3 as ``.keras``), with random weights (moving statistics
included); convkit reads the file (no TensorFlow), writes ONNX natively, and
onnxruntime's output must match the Keras prediction within 1e-4 of the
output's scale. The cases cover the awkward corners: TensorFlow's asymmetric
SAME padding with stride 2, dilations, ``channels_first``, Flatten after a
convolution, transposed convolutions, GRU ``reset_after`` both ways, LSTM
``go_backwards``/``return_state``, Bidirectional, TimeDistributed, Keras 2 and
Keras 3 ``hard_sigmoid``. A representative subset runs in ``make test``; the
rest is marked slow.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

RELATIVE_TOLERANCE = 1e-4
SAMPLES = 3


@dataclass(frozen=True)
class Case:
    build: Callable[[Any], Any]
    generations: tuple[int, ...] = (2, 3)
    fast: bool = False  # in make test


def _seq(K: Any, shape: tuple[int, ...], *layers: Any, dtype: str = "float32") -> Any:
    return K.Sequential([K.Input(shape, dtype=dtype), *layers])


def _functional(K: Any, shapes: list[tuple[int, ...]], body: Callable[..., Any]) -> Any:
    inputs = [K.Input(shape, name=f"in_{index}") for index, shape in enumerate(shapes)]
    outputs = body(*inputs)
    return K.Model(inputs, outputs)


# ---------------------------------------------------------------- the cases


def dense_stack(K: Any) -> Any:
    L = K.layers
    return _seq(K, (12,), L.Dense(16, activation="relu"), L.Dropout(0.5), L.Dense(8, use_bias=False),
                L.BatchNormalization(), L.Dense(5, activation="softmax"))


def conv_same_stride2(K: Any) -> Any:
    L = K.layers
    return _seq(K, (11, 10, 3), L.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
                L.Conv2D(5, 4, strides=2, padding="same"), L.Conv2D(3, (2, 3), strides=(1, 2), padding="same"))


def conv_dilated(K: Any) -> Any:
    L = K.layers
    return _seq(K, (13, 12, 2), L.Conv2D(4, 3, dilation_rate=2, padding="same"),
                L.Conv2D(3, 3, dilation_rate=(2, 3), padding="valid", activation="tanh"))


def conv_channels_first(K: Any) -> Any:
    L = K.layers
    first = {"data_format": "channels_first"}
    return _seq(K, (3, 10, 9), L.Conv2D(4, 3, strides=2, padding="same", **first),
                L.MaxPooling2D(2, padding="same", **first), L.BatchNormalization(axis=1),
                L.Flatten(**first), L.Dense(4))


def flatten_after_conv(K: Any) -> Any:
    L = K.layers
    return _seq(K, (6, 5, 3), L.Conv2D(4, 2), L.Flatten(), L.Dense(7))


def conv1d_and_3d(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((9, 3))
    x = L.Conv1D(4, 3, padding="causal", dilation_rate=2)(inputs)
    x = L.Conv1D(5, 2, strides=2, padding="same")(x)
    x = L.SeparableConv1D(3, 3, padding="same", depth_multiplier=2)(x)
    x = L.GlobalMaxPooling1D()(x)
    volume = K.Input((5, 6, 4, 2))
    y = L.Conv3D(3, 2, strides=(1, 2, 1), padding="same")(volume)
    y = L.MaxPooling3D(2, padding="same")(y)
    y = L.AveragePooling3D((1, 2, 2), padding="valid")(y)
    y = L.GlobalAveragePooling3D()(y)
    return K.Model([inputs, volume], [x, y])


def grouped_and_depthwise(K: Any) -> Any:
    L = K.layers
    return _seq(K, (9, 9, 4), L.Conv2D(6, 3, groups=2, padding="same"),
                L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", activation="relu6"),
                L.SeparableConv2D(5, 3, padding="same", depth_multiplier=2), L.GlobalAveragePooling2D())


def transposed(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((5, 4, 3))
    a = L.Conv2DTranspose(4, 3, strides=2, padding="same")(inputs)
    b = L.Conv2DTranspose(2, 3, strides=2, padding="valid")(inputs)
    c = L.Conv2DTranspose(2, 2, strides=3, padding="same")(inputs)
    d = L.Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1)(inputs)
    e = L.Conv2DTranspose(2, 3, dilation_rate=2, padding="same")(inputs)
    sequence = K.Input((6, 2))
    f = L.Conv1DTranspose(3, 4, strides=2, padding="same")(sequence)
    return K.Model([inputs, sequence], [a, b, c, d, e, f])


def batch_norm_axes(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((6, 5))
    a = L.BatchNormalization(axis=1)(inputs)
    b = L.BatchNormalization(center=False, scale=False)(inputs)
    image = K.Input((6, 6, 3))
    c = L.Conv2D(4, 3)(image)
    c = L.BatchNormalization(epsilon=1e-2)(c)
    c = L.BatchNormalization(scale=False)(L.Activation("relu")(c))
    return K.Model([inputs, image], [a, b, c])


def pooling(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((9, 7, 3))
    a = L.AveragePooling2D(3, strides=2, padding="same")(inputs)
    b = L.MaxPooling2D(3, strides=2, padding="same")(inputs)
    c = L.AveragePooling2D((2, 3), padding="valid")(inputs)
    d = L.GlobalAveragePooling2D(keepdims=True)(L.Conv2D(2, 1)(inputs))
    e = L.GlobalMaxPooling2D()(inputs)
    sequence = K.Input((11, 4))
    f = L.AveragePooling1D(3, strides=2, padding="same")(sequence)
    g = L.MaxPooling1D(2)(sequence)
    h = L.GlobalAveragePooling1D()(sequence)
    return K.Model([inputs, sequence], [a, b, c, d, e, f, g, h])


def pools_after_zero_padding(K: Any) -> Any:
    """ResNetV2's stem (a convolution's signed output, ZeroPadding2D, MaxPooling2D(3, 2)) and its kin: the
    padded zeros take part in the pools, where every real value of a border window is negative."""
    L = K.layers
    inputs = K.Input((8, 8, 3))
    x = L.Conv2D(8, 3, padding="same")(inputs)
    a = L.MaxPooling2D(3, strides=2)(L.ZeroPadding2D(1)(x))
    b = L.MaxPooling2D(2, padding="same")(L.ZeroPadding2D(((0, 1), (1, 0)))(x))
    c = L.AveragePooling2D(3, strides=2)(L.ZeroPadding2D(((1, 0), (2, 1)))(x))
    d = L.AveragePooling2D(3, strides=2, padding="same")(L.ZeroPadding2D(1)(x))
    return K.Model(inputs, [a, b, c, d])


def padding_cropping_upsampling(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((6, 5, 3))
    x = L.Conv2D(4, 1)(inputs)
    x = L.ZeroPadding2D(((1, 2), (0, 3)))(x)
    x = L.Cropping2D(((2, 1), (1, 0)))(x)
    a = L.UpSampling2D((2, 3))(x)
    b = L.UpSampling2D(2, interpolation="bilinear")(x)
    sequence = K.Input((5, 2))
    c = L.UpSampling1D(3)(L.ZeroPadding1D((2, 1))(L.Cropping1D((1, 1))(sequence)))
    volume = K.Input((3, 2, 4, 2))
    d = L.UpSampling3D((2, 1, 2))(L.ZeroPadding3D(1)(L.Cropping3D(((1, 0), (0, 0), (1, 1)))(volume)))
    return K.Model([inputs, sequence, volume], [a, b, c, d])


def reshape_permute(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((4, 6, 2))
    x = L.Conv2D(3, 1)(inputs)
    x = L.Permute((2, 1, 3))(x)
    a = L.Reshape((-1, 3))(x)
    b = L.Conv2D(2, 2)(x)  # a convolution over the permuted axes
    c = L.Permute((3, 1, 2))(x)
    vector = K.Input((5,))
    d = L.RepeatVector(3)(vector)
    return K.Model([inputs, vector], [a, b, L.Flatten()(c), d])


def merges(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((5, 5, 3))
    a, b, c = (L.Conv2D(4, 1, name=f"branch_{i}")(inputs) for i in range(3))
    outputs = [L.Concatenate()([a, b, c]), L.Concatenate(axis=1)([a, b]), L.Add()([a, b, c]),
               L.Subtract()([a, b]), L.Multiply()([a, b]), L.Average()([a, b, c]), L.Maximum()([a, b]),
               L.Minimum()([a, c])]
    return K.Model(inputs, [L.Flatten()(o) for o in outputs[:2]] + outputs[2:])


def _activations(K: Any, names: list[str]) -> Any:
    L = K.layers
    inputs = K.Input((6,))
    x = L.Dense(6)(inputs)
    return K.Model(inputs, [L.Activation(name, name=f"act_{name}")(x) for name in names])


ACTIVATIONS = ["relu", "relu6", "elu", "selu", "gelu", "swish", "silu", "hard_sigmoid", "softmax", "softplus",
               "softsign", "tanh", "sigmoid", "exponential", "linear", "mish", "log_softmax"]


def activations_k2(K: Any) -> Any:
    return _activations(K, ACTIVATIONS)


def activations_k3(K: Any) -> Any:
    return _activations(K, [*ACTIVATIONS, "leaky_relu", "hard_silu", "hard_swish", "celu", "hard_tanh",
                            "log_sigmoid", "tanh_shrink", "squareplus", "soft_shrink", "hard_shrink"])


def activation_layers(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((4, 6))
    x = L.Dense(6)(inputs)
    outputs = [L.ReLU()(x), L.ReLU(max_value=1.5)(x), L.ReLU(negative_slope=0.1, threshold=0.2)(x),
               L.ReLU(max_value=2.0, negative_slope=0.3)(x), L.LeakyReLU()(x), L.PReLU()(x),
               L.PReLU(shared_axes=[1])(x), L.ELU(alpha=0.7)(x), L.Softmax(axis=1)(x), L.Softmax()(x)]
    if hasattr(L, "ThresholdedReLU"):
        outputs.append(L.ThresholdedReLU(theta=0.3)(x))
    return K.Model(inputs, outputs)


def layer_norm(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((4, 5, 3))
    a = L.LayerNormalization()(inputs)
    b = L.LayerNormalization(axis=[1, 2], center=False)(inputs)
    c = L.LayerNormalization(epsilon=1e-6)(L.Conv2D(4, 1)(inputs))  # channels of a channels-first tensor
    d = L.LayerNormalization(axis=[1, 2, 3], scale=False)(inputs)
    return K.Model(inputs, [a, b, c, d])


def recurrent(K: Any, reset_after: bool) -> Any:
    L = K.layers
    inputs = K.Input((7,), dtype="int32")
    x = L.Embedding(20, 6)(inputs)
    a = L.LSTM(5, return_sequences=True)(x)
    b = L.GRU(4, reset_after=reset_after, return_sequences=True, go_backwards=True)(a)
    c = L.GRU(3, reset_after=reset_after)(x)
    d = L.SimpleRNN(4, return_sequences=True, activation="relu")(x)
    e, h, cell = L.LSTM(3, return_state=True, go_backwards=True)(x)
    f = L.LSTM(3, recurrent_activation="hard_sigmoid", use_bias=False)(x)
    return K.Model(inputs, [b, c, d, e, h, cell, f])


def bidirectional(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((6, 4))
    a = L.Bidirectional(L.LSTM(3, return_sequences=True))(inputs)
    b = L.Bidirectional(L.GRU(2), merge_mode="sum")(inputs)
    c = L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="ave")(a)
    d = L.Bidirectional(L.GRU(2, return_sequences=True, reset_after=False), merge_mode="mul")(inputs)
    return K.Model(inputs, [a, b, c, d])


def time_distributed(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((3, 6, 5, 2))
    x = L.TimeDistributed(L.Conv2D(3, 2, strides=2, padding="same"))(inputs)
    x = L.TimeDistributed(L.Flatten())(x)
    x = L.TimeDistributed(L.Dense(4))(x)
    return K.Model(inputs, L.LSTM(2)(x))


def attention(K: Any) -> Any:
    L = K.layers
    query, context = K.Input((5, 6), name="query"), K.Input((4, 3), name="context")
    a = L.MultiHeadAttention(num_heads=2, key_dim=3)(query, query)
    b = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, output_shape=5)(query, context)
    c = L.MultiHeadAttention(num_heads=2, key_dim=4)(query, query, use_causal_mask=True)
    return K.Model([query, context], [a, b, c])


def preprocessing(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((5, 4, 3))
    x = L.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = L.Normalization(mean=[0.1, 0.2, 0.3], variance=[1.5, 2.0, 0.5])(x)
    adapted = L.Normalization()
    y = adapted(x)
    adapted.adapt(np.random.default_rng(0).normal(0.3, 2.0, (8, 5, 4, 3)).astype("float32"))
    return K.Model(inputs, [L.Conv2D(2, 1)(y), L.Normalization(invert=True, mean=0.5, variance=4.0)(x)])


def operations(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((6, 6, 3))
    x = L.Conv2D(4, 3)(inputs)
    y = L.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
    z = L.Multiply()([x, y]) - x
    w = 2.0 - x / 4.0
    return K.Model(inputs, [y, z, w, L.Conv2D(2, 1)(K.ops.abs(w) if hasattr(K, "ops") else abs_(K, w))])


def abs_(K: Any, x: Any) -> Any:
    import tensorflow as tf

    return tf.math.abs(x)


def functions(K: Any) -> Any:
    """Functions beyond those the generations translate: tanh-approximate GELU, SiLU, softmax, erf, log, rsqrt."""
    inputs = K.Input((3, 5))
    x = K.layers.Dense(5)(inputs)
    positive = K.layers.Activation("softplus")(x)
    if hasattr(K, "ops"):
        o = K.ops
        return K.Model(inputs, [o.gelu(x, approximate=True), o.gelu(x, approximate=False), o.silu(x),
                                o.softmax(x, axis=1), o.erf(x), o.log(positive), o.rsqrt(positive)])
    import tensorflow as tf

    return K.Model(inputs, [tf.nn.gelu(x, approximate=True), tf.nn.gelu(x), tf.nn.silu(x), tf.nn.softmax(x, axis=1),
                            tf.math.erf(x), tf.math.log(positive), tf.math.rsqrt(positive)])


def nested(K: Any) -> Any:
    L = K.layers
    stem = K.Sequential([K.Input((6, 6, 3)), L.Conv2D(4, 3, name="stem_conv"), L.BatchNormalization(name="stem_bn")],
                        name="stem")
    head_in = K.Input((16,), name="head_in")
    head = K.Model(head_in, L.Dense(3, name="head_dense")(head_in), name="head")
    shared = L.Dense(16, name="shared")
    left, right = K.Input((6, 6, 3), name="left"), K.Input((6, 6, 3), name="right")
    a = shared(L.Flatten()(stem(left)))
    b = shared(L.Flatten()(stem(right)))
    return K.Model([left, right], [head(a), head(b), L.Add()([a, b])])


def teachable_machine(K: Any) -> Any:
    """A Sequential of two Sequentials, as Teachable Machine exports its image models."""
    L = K.layers
    features = K.Sequential([K.Input((8, 8, 3)), L.Conv2D(4, 3, strides=2, padding="same"),
                             L.DepthwiseConv2D(3, padding="same"), L.ReLU(6.0), L.GlobalAveragePooling2D()],
                            name="sequential_1")
    head = K.Sequential([K.Input((4,)), L.Dense(5, activation="relu"), L.Dropout(0.5), L.Dense(2, use_bias=False),
                         L.Softmax()], name="sequential_3")
    return K.Sequential([K.Input((8, 8, 3)), features, head])


CASES = {
    "dense_stack": Case(dense_stack, fast=True),
    "conv_same_stride2": Case(conv_same_stride2, fast=True),
    "conv_dilated": Case(conv_dilated),
    "conv_channels_first": Case(conv_channels_first, fast=True),
    "flatten_after_conv": Case(flatten_after_conv, fast=True),
    "conv1d_and_3d": Case(conv1d_and_3d),
    "grouped_and_depthwise": Case(grouped_and_depthwise),
    "transposed": Case(transposed, fast=True),
    "batch_norm_axes": Case(batch_norm_axes),
    "pooling": Case(pooling, fast=True),
    "pools_after_zero_padding": Case(pools_after_zero_padding, fast=True),
    "padding_cropping_upsampling": Case(padding_cropping_upsampling),
    "reshape_permute": Case(reshape_permute),
    "merges": Case(merges),
    "activations_k2": Case(activations_k2, generations=(2,), fast=True),
    "activations_k3": Case(activations_k3, generations=(3,), fast=True),
    "activation_layers": Case(activation_layers),
    "layer_norm": Case(layer_norm),
    "gru_reset_after": Case(lambda K: recurrent(K, True), fast=True),
    "gru_reset_before": Case(lambda K: recurrent(K, False), fast=True),
    "bidirectional": Case(bidirectional, fast=True),
    "time_distributed": Case(time_distributed, fast=True),
    "attention": Case(attention),
    "preprocessing": Case(preprocessing),
    "operations": Case(operations, fast=True),
    "functions": Case(functions),
    "nested": Case(nested, fast=True),
    "teachable_machine": Case(teachable_machine),
}


# ---------------------------------------------------------------- running a case


def _keras(generation: int) -> Any:
    if generation == 2:
        import tf_keras

        return tf_keras
    import keras

    return keras


def _adapted_statistics(model: Any) -> set[int]:
    """Variables of Normalization layers: Keras copies them at adapt() time, so they stay as adapted."""
    found: set[int] = set()
    for layer in getattr(model, "layers", []):
        if type(layer).__name__ == "Normalization":
            found.update(id(variable) for variable in layer.weights)
        found |= _adapted_statistics(layer)
    return found


def randomize(model: Any, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    adapted = _adapted_statistics(model)
    for variable in model.weights:
        name = str(getattr(variable, "path", variable.name))
        dtype = np.dtype(getattr(variable.dtype, "name", str(variable.dtype)))
        if not np.issubdtype(dtype, np.floating) or id(variable) in adapted:
            continue
        value = rng.normal(0.0, 0.4, size=tuple(variable.shape))
        if "variance" in name:
            value = np.abs(value) + 0.5
        variable.assign(value.astype(dtype))


def sample_inputs(model: Any, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = []
    for tensor in model.inputs:
        shape = (SAMPLES, *(int(d) for d in tuple(tensor.shape)[1:]))
        dtype = np.dtype(getattr(tensor.dtype, "name", str(tensor.dtype)))
        feeds.append(rng.integers(0, 20, shape).astype(dtype) if dtype.kind in "iu"
                     else rng.normal(0.0, 1.0, shape).astype(dtype))
    return feeds


def save(model: Any, generation: int, folder: Path) -> Path:
    path = folder / ("model.h5" if generation == 2 else "model.keras")
    model.save(path)
    return path


def native_onnx(src: Path, out: Path, opset: int = 17) -> Any:
    from convkit.convert.writers import onnx_native
    from convkit.runtimes.keras.read import read_model

    with contextlib.ExitStack() as stack:
        return onnx_native.write(read_model(src, stack), out, opset=opset)


def run_onnx(path: Path, feeds: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [node.name for node in session.get_inputs()]
    return session.run(None, dict(zip(names, feeds)))


def assert_close(got: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(got) == len(expected)
    for index, (ours, theirs) in enumerate(zip(got, expected)):
        theirs = np.asarray(theirs)
        assert ours.shape == theirs.shape, f"output {index}: shape {ours.shape} != Keras {theirs.shape}"
        scale = max(float(np.max(np.abs(theirs))), 1e-6)
        error = float(np.max(np.abs(ours.astype(np.float64) - theirs))) / scale
        assert error <= RELATIVE_TOLERANCE, f"output {index}: relative error {error:.3g}"


def check_case(case: Case, generation: int, folder: Path, opset: int = 17) -> None:
    check_case_from(case.build, generation, folder, opset)


def check_case_from(build: Callable[[Any], Any], generation: int, folder: Path, opset: int = 17,
                    through_tfjs: bool = False) -> None:
    """Builds the model in Keras ``generation``, saves it, writes ONNX natively from the file, compares."""
    K = _keras(generation)
    K.utils.set_random_seed(0)
    model = build(K)
    randomize(model)
    feeds = sample_inputs(model)
    expected = model(feeds if len(feeds) > 1 else feeds[0], training=False)
    expected = [np.asarray(e) for e in (expected if isinstance(expected, (list, tuple)) else [expected])]
    folder.mkdir(parents=True, exist_ok=True)
    src = save(model, generation, folder)
    if through_tfjs:
        from convkit.convert import convert

        src = convert(src, "tfjs", folder / "model_tfjs", smoke_run=False).out  # convkit's own TF.js layers writer
    native_onnx(src, folder / "model.onnx", opset)
    assert_close(run_onnx(folder / "model.onnx", feeds), expected)


def _params() -> list[Any]:
    params = []
    for name, case in CASES.items():
        for generation in case.generations:
            marks = () if case.fast else (pytest.mark.slow,)
            params.append(pytest.param(name, generation, id=f"{name}-k{generation}", marks=marks))
    return params


@pytest.mark.parametrize(("name", "generation"), _params())
def test_layers_match_keras(name: str, generation: int, tmp_path: Path) -> None:
    check_case(CASES[name], generation, tmp_path)


@pytest.mark.parametrize("opset", [13, 18])
def test_other_opsets(opset: int, tmp_path: Path) -> None:
    """Below opset 17 layer normalisation is spelled out; from 18 reductions take their axes as inputs."""
    check_case(Case(layer_norm), 3, tmp_path / "a", opset)
    check_case(Case(activations_k3), 3, tmp_path / "b", opset)


def test_teachable_machine_tfjs_model(tmp_path: Path) -> None:
    """A TF.js layers model, Sequential of Sequentials as Teachable Machine exports them, straight to ONNX."""
    check_case_from(teachable_machine, 2, tmp_path, through_tfjs=True)


@pytest.mark.parametrize("generation", [2, 3])
def test_masks_are_refused_naming_the_layer(generation: int, tmp_path: Path) -> None:
    from convkit.convert.writers import onnx_native
    from convkit.runtimes.keras.read import read_model

    K = _keras(generation)
    L = K.layers
    model = K.Sequential([K.Input((5, 3)), L.Masking(name="padding_mask"), L.LSTM(2, name="reader")])
    src = save(model, generation, tmp_path)
    with contextlib.ExitStack() as stack, pytest.raises(onnx_native.Uncovered) as raised:
        onnx_native.build(read_model(src, stack))
    assert raised.value.layer == "padding_mask" and raised.value.class_name == "Masking"


def conv_bn_shared(K: Any) -> Any:
    L = K.layers
    inputs = K.Input((6, 6, 3))
    folded = L.BatchNormalization(name="folded")(L.Conv2D(4, 3, name="conv_a")(inputs))
    raw = L.Conv2D(4, 3, name="conv_b")(inputs)
    kept = L.BatchNormalization(name="kept")(raw)  # conv_b's output is an output too: nothing to fold into
    return K.Model(inputs, [folded, raw, kept])


def test_batch_norm_folds_into_a_convolution_only_it_reads(tmp_path: Path) -> None:
    import onnx

    check_case_from(conv_bn_shared, 3, tmp_path)
    ops = [node.op_type for node in onnx.load(tmp_path / "model.onnx").graph.node]
    assert ops.count("Conv") == 2 and ops.count("BatchNormalization") == 1
