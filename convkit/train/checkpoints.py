"""TF-checkpoint-format weights for Keras 3 models, laid out as Keras 2 lays them.

Keras 3's ``save_weights`` and ``ModelCheckpoint`` no longer write TF
checkpoints. The tutorial's files are TF checkpoints, and users feed them to
``tf.train.load_checkpoint`` and to ``tf_keras`` models, so convkit writes them
with ``tf.train.Checkpoint`` over a small object graph that mirrors the one
``tf_keras`` builds: ``layer_with_weights-N/<weight>`` for the layers and
``optimizer/_iterations``, ``optimizer/_learning_rate``, ``optimizer/_variables/K``
for the optimizer. A ``tf_keras`` model of the same architecture restores these
files with ``load_weights`` (and the reverse works too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _tracked_tree(model: Any, include_optimizer: bool) -> Any:
    import tensorflow as tf

    root = tf.Module()
    layers = [layer for layer in _flat_layers(model) if layer.weights]
    for index, layer in enumerate(layers):
        node = tf.Module()
        for weight in layer.weights:
            setattr(node, _short_name(weight), _tf_variable(weight))
        setattr(root, f"layer_with_weights-{index}", node)
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None and optimizer.variables:
        root.optimizer = _optimizer_node(optimizer)
    return root


def _optimizer_node(optimizer: Any) -> Any:
    import tensorflow as tf

    node = tf.Module()
    iterations = _tf_variable(optimizer.iterations)
    node._iterations = iterations
    lr = getattr(optimizer, "_learning_rate", None)
    if lr is not None and hasattr(lr, "value"):
        node._learning_rate = _tf_variable(lr)
    slots = [_tf_variable(v) for v in optimizer.variables if v is not optimizer.iterations and v is not lr]
    # tf_keras keeps the step counter as element 0 of the optimizer's variable list.
    node._variables = [iterations, *slots]
    return node


def _flat_layers(model: Any) -> list[Any]:
    layers = []
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            layers.extend(_flat_layers(layer))
        else:
            layers.append(layer)
    return layers


def _short_name(weight: Any) -> str:
    name = getattr(weight, "path", None) or weight.name
    return name.split("/")[-1].split(":")[0]


def _tf_variable(variable: Any) -> Any:
    # Keras 3 variables wrap a tf.Variable on the TensorFlow backend.
    return getattr(variable, "value", variable) if not _is_tf_variable(variable) else variable


def _is_tf_variable(variable: Any) -> bool:
    import tensorflow as tf

    return isinstance(variable, tf.Variable)


def save_checkpoint(model: Any, prefix: str | Path, include_optimizer: bool = True) -> Path:
    """Writes ``model``'s weights (and optimizer state) as a TF checkpoint at ``prefix``.

    Also records ``prefix`` in the folder's ``checkpoint`` state file, as
    ``tf_keras``' ``save_weights`` does, so ``tf.train.latest_checkpoint`` finds it.
    """
    import tensorflow as tf

    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    tf.train.Checkpoint(root=_tracked_tree(model, include_optimizer)).write(str(prefix))
    _record_in_state_file(prefix)
    return prefix


def load_checkpoint(model: Any, prefix: str | Path) -> None:
    """Restores the layer weights written by :func:`save_checkpoint` (or by ``tf_keras``) into ``model``."""
    import tensorflow as tf

    status = tf.train.Checkpoint(root=_tracked_tree(model, include_optimizer=False)).read(str(prefix))
    status.expect_partial().assert_existing_objects_matched()


def _record_in_state_file(prefix: Path) -> None:
    # The state file is a text-format CheckpointState proto with paths relative to its folder.
    state_file = prefix.parent / "checkpoint"
    earlier: list[str] = []
    if state_file.is_file():
        for line in state_file.read_text().splitlines():
            key, _, value = line.partition(":")
            name = value.strip().strip('"')
            if key.strip() == "all_model_checkpoint_paths" and name != prefix.name:
                earlier.append(name)
    lines = [f'model_checkpoint_path: "{prefix.name}"']
    lines += [f'all_model_checkpoint_paths: "{name}"' for name in [*earlier, prefix.name]]
    state_file.write_text("\n".join(lines) + "\n")


def checkpoint_callback(filepath: str, every_epochs: int = 1) -> Any:
    """A Keras 3 callback that saves a TF checkpoint every ``every_epochs`` epochs.

    ``filepath`` may hold ``{epoch}`` format fields, as ``ModelCheckpoint``'s does
    (``training_2/cp-{epoch:04d}.ckpt``).
    """
    import keras

    class TFCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            done = epoch + 1
            if done % every_epochs == 0:
                save_checkpoint(self.model, filepath.format(epoch=done))

    return TFCheckpoint()
