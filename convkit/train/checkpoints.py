"""The tf_keras checkpoint object layout, written: ``layer_with_weights-N`` for Keras 3 models too.

Keras 3's ``save_weights`` and ``ModelCheckpoint`` no longer write TF
checkpoints. The tutorial's files are TF checkpoints, and users feed them to
``tf.train.load_checkpoint`` and to ``tf_keras`` models, so convkit writes them
with ``tf.train.Checkpoint`` over a small object graph that mirrors the one
``tf_keras`` builds: ``layer_with_weights-N/<weight>`` for the layers and
``optimizer/_iterations``, ``optimizer/_learning_rate``, ``optimizer/_variables/K``
for the optimizer. A ``tf_keras`` model of the same architecture restores these
files with ``load_weights`` (and the reverse works too). A nested model is one
node whose own layers with weights are ``layer_with_weights-K`` beneath it, as
tf_keras writes them.

``train`` writes checkpoints with :func:`save_checkpoint`, ``convert`` writes a
model's weights with :func:`write_layer_weights` (and reads either Keras
generation's layout back through :mod:`convkit.keras_model.checkpoint_layout`),
and ``check`` restores them into a live model with :func:`load_checkpoint`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

STATE_FILE = "checkpoint"


def write_layer_weights(layers: Sequence[Sequence[tuple[str, str, Callable[[], Any]]]], prefix: Path) -> None:
    """Writes weights as tf_keras lays them out: one ``layer_with_weights-N`` per layer with weights.

    Args:
        layers: per layer with weights, ``(owner, attribute, read)`` triples in ``.h5`` order; the
            owner is the layer holding the weight (its name may hold ``/``), the attribute
            ``cell/kernel`` for a recurrent layer's cell weights.
        prefix: the checkpoint prefix.
    """
    import tensorflow as tf

    children = {}
    for number, items in enumerate(layer for layer in layers if layer):
        node = tf.Module()
        owners = list(dict.fromkeys(owner for owner, _, _ in items))
        inner_nodes: dict[str, Any] = {}
        for owner, attribute, read in items:
            holder = node
            if len(owners) > 1:
                holder = inner_nodes.setdefault(owner, tf.Module())
                setattr(node, f"layer_with_weights-{owners.index(owner)}", holder)
            elif attribute.startswith("cell/"):
                holder = getattr(node, "cell", None) or tf.Module()
                node.cell = holder
            attribute = attribute.split("/")[-1]
            setattr(holder, attribute, tf.Variable(read(), name=attribute))
        children[f"layer_with_weights-{number}"] = node
    tf.train.Checkpoint(**children).write(str(prefix))
    record_in_state_file(prefix)


def _tracked_tree(model: Any, include_optimizer: bool) -> Any:

    root = _layers_node(model)
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


def _layers_node(model: Any) -> Any:
    # A nested model is one node holding its own layer_with_weights-K, as tf_keras writes it.
    import tensorflow as tf

    root = tf.Module()
    for index, layer in enumerate(layer for layer in model.layers if layer.weights):
        if getattr(layer, "layers", None):
            node = _layers_node(layer)
        else:
            node = tf.Module()
            for weight in layer.weights:
                setattr(node, _short_name(weight), _tf_variable(weight))
        setattr(root, f"layer_with_weights-{index}", node)
    return root


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
    record_in_state_file(prefix)
    return prefix


def load_checkpoint(model: Any, prefix: str | Path) -> None:
    """Restores the layer weights written by :func:`save_checkpoint` (or by ``tf_keras``) into ``model``."""
    import tensorflow as tf

    status = tf.train.Checkpoint(root=_tracked_tree(model, include_optimizer=False)).read(str(prefix))
    status.expect_partial().assert_existing_objects_matched()


def record_in_state_file(prefix: Path) -> None:
    """Names ``prefix`` as the latest checkpoint in its folder's ``checkpoint`` state file.

    The state file is a text-format CheckpointState proto with paths relative to its folder.
    """
    state_file = prefix.parent / STATE_FILE
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
