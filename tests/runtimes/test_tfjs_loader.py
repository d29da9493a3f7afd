"""The Node runner's loader: each weight read once, from its shard into the backend's storage.

Every model here runs twice in the same Node process, through the loader (``files``) and through
TF.js's own IOHandler path (``io``, what the runner did before: every shard read whole, decoded by
tf.io.decodeWeights, copied into the backend), and the outputs must be the same bits. The models cover
layers and graph models, quantized weights (uint8, uint16, float16), weights split across shards,
TF 2.2's cell names in RNN weights and a kernel constraint TF.js applies to loaded weights.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from convkit.errors import RunError
from convkit.runtimes.tfjs.node import NodeHost

pytestmark = pytest.mark.node

BATCHES = 300  # more than the runner's batch of 256: two predict calls, the last one freeing weights as it goes


@pytest.fixture(scope="module")
def host():
    node = NodeHost()
    yield node
    node.close()


@pytest.fixture(scope="module")
def mixed_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tf_keras model of an LSTM (weights named lstm/lstm_cell/... in TF.js), a Conv1D with a max-norm
    constraint, batch normalisation and a Dense head, every weight random (statistics included)."""
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((8, 6), name="seq")
    x = tf_keras.layers.LSTM(5, return_sequences=True, name="lstm")(inputs)
    x = tf_keras.layers.Conv1D(4, 3, name="conv", kernel_constraint=tf_keras.constraints.MaxNorm(0.5))(x)
    x = tf_keras.layers.BatchNormalization(name="bn")(x)
    x = tf_keras.layers.GlobalAveragePooling1D(name="pool")(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(3, name="head")(x))
    rng = np.random.default_rng(0)
    for weight in model.weights:
        values = rng.normal(size=weight.shape).astype(np.float32)
        weight.assign(np.abs(values) + 0.5 if "variance" in weight.name else values)
    path = tmp_path_factory.mktemp("mixed") / "mixed.h5"
    model.save(path)
    return path


def _tensorflowjs_layers(h5: Path, out: Path, **options) -> Path:
    from tensorflowjs.converters import converter

    converter.dispatch_keras_h5_to_tfjs_layers_model_conversion(str(h5), str(out), **options)
    return out


def _tensorflowjs_graph(saved_model: Path, out: Path, **options) -> Path:
    from tensorflowjs.converters import tf_saved_model_conversion_v2

    tf_saved_model_conversion_v2.convert_tf_saved_model(str(saved_model), str(out), **options)
    return out


def _convkit(source: Path, out: Path, **options) -> Path:
    from convkit.convert import convert

    convert(source, "tfjs", out, smoke_run=False, **options)
    return out


MODELS = {
    "tutorial layers": lambda r: r("k2_tfjs_layers"),
    "tutorial graph": lambda r: r("k3_tfjs_graph"),
    "tutorial layers uint16, 64 KiB shards": lambda r: _convkit(
        r("trained_k2") / "my_model.h5", r("tmp") / "uint16", quantize="uint16", shard_size=65536),
    "tutorial layers float16, 64 KiB shards": lambda r: _convkit(
        r("trained_k2") / "my_model.h5", r("tmp") / "float16", quantize="float16", shard_size=65536),
    "tutorial graph uint8, 64 KiB shards": lambda r: _tensorflowjs_graph(
        r("trained_k3") / "saved_model" / "my_model", r("tmp") / "graph_uint8",
        quantization_dtype_map={"uint8": True}, weight_shard_size_bytes=65536),
    "lstm conv bn, 300-byte shards": lambda r: _tensorflowjs_layers(
        r("mixed_h5"), r("tmp") / "mixed", weight_shard_size_bytes=300),
    "lstm conv bn uint8": lambda r: _tensorflowjs_layers(
        r("mixed_h5"), r("tmp") / "mixed_uint8", quantization_dtype_map={"uint8": True}),
}


@pytest.fixture(scope="module")
def models(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("loader-models")
    made: dict[str, Path] = {}

    def resolve(name: str):
        return folder if name == "tmp" else request.getfixturevalue(name)

    def model(name: str) -> Path:
        if name not in made:
            made[name] = MODELS[name](resolve)
        return made[name]

    return model


def _inputs(model: Path) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(1)
    if "mixed" in model.name:
        return [("seq", rng.normal(size=(BATCHES, 8, 6)).astype(np.float32))]
    return [("x", rng.random((BATCHES, 784), dtype=np.float32))]


@pytest.mark.parametrize("backend", ["wasm", "cpu"])
@pytest.mark.parametrize("name", list(MODELS))
def test_outputs_are_the_bits_tfjs_own_loader_gives(host, models, name, backend):
    model = models(name)
    tensors = _inputs(model)
    header, outputs = host.run(model / "model.json", tensors, backend)
    old_header, old_outputs = host.run(model / "model.json", tensors, backend, loader="io")
    assert header["profile"]["load"]["inPlace"] is True
    assert old_header["profile"]["load"]["inPlace"] is False
    assert list(outputs) == list(old_outputs)
    for key, values in outputs.items():
        assert values.shape[0] == BATCHES
        np.testing.assert_array_equal(values, old_outputs[key])
    if "quantized" in name or "uint" in name or "float16" in name:
        manifest = json.loads((model / "model.json").read_text())["weightsManifest"]
        assert any("quantization" in weight for group in manifest for weight in group["weights"])
    if "shards" in name:
        assert len(json.loads((model / "model.json").read_text())["weightsManifest"][0]["paths"]) > 1


def _edited(source: Path, out: Path, edit) -> Path:
    shutil.copytree(source, out)
    document = json.loads((out / "model.json").read_text())
    edit(document["weightsManifest"][0]["weights"])
    (out / "model.json").write_text(json.dumps(document))
    return out


def _renamed(weights: list[dict]) -> None:
    weights[-1]["name"] += "_renamed"


def _transposed(weights: list[dict]) -> None:
    kernel = next(weight for weight in weights if weight["name"] == "head/kernel")
    kernel["shape"] = kernel["shape"][::-1]


def _dropped(weights: list[dict]) -> None:
    weights.pop()  # its bytes stay at the end of the last shard, read by nobody


@pytest.mark.parametrize("edit", [_renamed, _transposed, _dropped], ids=["renamed", "transposed", "dropped"])
def test_a_manifest_tfjs_refuses_is_refused_with_tfjs_own_words(host, models, edit, tmp_path):
    broken = _edited(models("lstm conv bn, 300-byte shards"), tmp_path / "broken", edit)
    tensors = _inputs(broken.with_name("mixed"))
    errors = []
    for loader in ("files", "io"):
        with pytest.raises(RunError) as raised:
            host.run(broken / "model.json", tensors, "wasm", loader=loader)
        errors.append(str(raised.value))
    assert errors[0] == errors[1]
    assert any(words in errors[0] for words in ("has no target variable", "Shape mismatch", "weights are not set"))


def test_a_shard_shorter_than_its_manifest_is_an_error_not_a_short_read(host, models, tmp_path):
    broken = tmp_path / "short"
    shutil.copytree(models("tutorial layers float16, 64 KiB shards"), broken)
    last = sorted(broken.glob("*.bin"))[-1]
    last.write_bytes(last.read_bytes()[:-2])
    with pytest.raises(RunError, match="beyond the end of its weight shards"):
        host.run(broken / "model.json", _inputs(broken), "wasm")


def _dense_stack(folder: Path, width: int, layers: int) -> int:
    """A TF.js layers model of ``layers`` Dense layers of ``width`` x ``width``, random weights in 4 MiB
    shards, written directly; returns the bytes of its weights."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    config = [{"class_name": "Dense", "config": {
        "name": f"dense_{index}", "units": width, "activation": "relu", "use_bias": True, "dtype": "float32",
        **({"batch_input_shape": [None, width]} if index == 0 else {})}} for index in range(layers)]
    weights, total, shard, shard_bytes, paths = [], 0, None, 0, []
    for index in range(layers):
        for attribute, shape in (("kernel", [width, width]), ("bias", [width])):
            values = rng.standard_normal(shape, dtype=np.float32) * np.float32(width ** -0.5)
            data = values.astype("<f4").tobytes()
            weights.append({"name": f"dense_{index}/{attribute}", "shape": shape, "dtype": "float32"})
            total += len(data)
            while data:
                if shard is None or shard_bytes == 4 * 2**20:
                    if shard is not None:
                        shard.close()
                    paths.append(f"group1-shard{len(paths) + 1}.bin")
                    shard, shard_bytes = open(folder / paths[-1], "wb"), 0
                piece = data[: 4 * 2**20 - shard_bytes]
                shard.write(piece)
                shard_bytes += len(piece)
                data = data[len(piece):]
    if shard is not None:
        shard.close()
    topology = {"class_name": "Sequential", "config": {"name": "stack", "layers": config},
                "keras_version": "2.19.0", "backend": "tensorflow"}
    (folder / "model.json").write_text(json.dumps({
        "format": "layers-model", "modelTopology": topology,
        "weightsManifest": [{"paths": paths, "weights": weights}]}))
    return total


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["wasm", "cpu"])
def test_node_holds_one_copy_of_a_300_mb_model(backend, tmp_path):
    # The bound is what the loader promises: Node's peak, above what it held before loading, at most
    # 1.3 x the model's bytes. TF.js's own path (every shard read whole, decoded, copied) needs about
    # three copies, so the same bound fails it: the measurement can tell the two apart.
    weights = _dense_stack(tmp_path / "stack", 2048, 18)
    assert weights > 300 * 10**6
    tensors = [("x", np.random.default_rng(2).random((2, 2048), dtype=np.float32))]
    peaks = {}
    for loader in ("files", "io"):
        node = NodeHost()  # a fresh process per loader: the high-water mark is the process's own
        try:
            header, outputs = node.run(tmp_path / "stack" / "model.json", tensors, backend, loader=loader)
        finally:
            node.close()
        figures = header["profile"]
        peaks[loader] = max(figures["load"]["memory"]["hwm"], figures["run"]["memory"]["hwm"]) - figures["idle"]["hwm"]
        assert np.isfinite(next(iter(outputs.values()))).all()
    assert peaks["files"] <= 1.3 * weights, f"{peaks['files'] / weights:.2f} x the weights"
    assert peaks["io"] > 1.3 * weights, f"TF.js's own loader: {peaks['io'] / weights:.2f} x the weights"
