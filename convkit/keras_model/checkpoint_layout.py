"""Which tensor of a TF checkpoint is which layer's weight: the Keras object layouts, read without TensorFlow.

Both Keras generations write object-based checkpoints whose object graph
(``_CHECKPOINTABLE_OBJECT_GRAPH``) names the path from the root to every
variable:

- tf_keras (``save_weights``, ``ModelCheckpoint``, ``tf.train.Checkpoint(model=m)``
  of a tf_keras model, and convkit's own ``--to ckpt``) tracks each layer with
  weights as ``layer_with_weights-N``, a nested model as one such node holding
  its own ``layer_with_weights-K``, an RNN's weights under ``cell``, a
  Bidirectional's under ``forward_layer``/``backward_layer``.
- Keras 3 under ``tf.train.Checkpoint(model=m)`` (and ``CheckpointManager``)
  tracks a functional model's operations as ``_operations/N``, a Sequential's
  through its inner functional model (``_functional/_operations/N``), every
  operation with or without weights; ``Dense`` keeps its kernel as ``_kernel``.

A variable is stored once, under the first path the writer reached it by: with
``tf.train.Checkpoint(model=m, optimizer=o)`` the trainable variables sit
under ``optimizer/_trainable_variables/K``. So layers are found by walking the
object graph from the model's node, never from the spelling of the keys. Each
layer's variables come out under one canonical path below the layer, the one
tf_keras writes (``kernel``, ``cell/kernel``, ``layer_with_weights-K/kernel``
for a nested model's K-th layer with weights), and :func:`match_layer` pairs
them with a template model's weights.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from convkit.keras_model.config import MODEL_CLASSES, iter_layers

LAYER_KEY = re.compile(r"^layer_with_weights-(\d+)/(.*)/\.ATTRIBUTES/VARIABLE_VALUE$")
_WITH_WEIGHTS = re.compile(r"^layer_with_weights-(\d+)$")
_VARIABLE = "VARIABLE_VALUE"
# Root children that are not the model: the optimizer (whose slots refer back to the model's
# variables) and the checkpoint's own counter.
_NOT_THE_MODEL = frozenset({"optimizer", "save_counter", "_compiled_trainable_state"})
# What a Keras 3 layer node tracks besides its variables: graph bookkeeping, and Dropout's
# random seed state, which no model's weights list.
_BOOKKEEPING = frozenset({"_tracked", "_inbound_nodes", "_outbound_nodes", "_losses", "_losses_override",
                          "call_signature_parameters", "_call_has_context_arg", "seed_generator",
                          "_seed_generator", "optimizer", "_compiled_trainable_state"})
_LEADING_UNDERSCORE = re.compile(r"(^|/)_(?=[a-z])")
# Keras 3 layer attributes that hold a weight under another name than the weight's own: a depthwise
# convolution's kernel, an adapted Normalization's statistics (its ``mean`` is computed from ``adapt_mean``).
_KERAS3_ATTRIBUTES = {"depthwise_kernel": ("kernel",), "mean": ("adapt_mean",), "variance": ("adapt_variance",)}


def layer_variables(graph: Any, keys: Iterable[str]) -> list[dict[str, str]]:
    """Per layer with weights, in the model's order: ``{canonical path below the layer: checkpoint key}``.

    Args:
        graph: the checkpoint's ``TrackableObjectGraph``, or None (a name-based checkpoint).
        keys: every key of the checkpoint, read when there is no object graph.

    Returns:
        An empty list when the checkpoint holds no Keras model.
    """
    if graph is None:
        by_number: dict[int, dict[str, str]] = {}
        for key in keys:
            match = LAYER_KEY.match(key)
            if match and ".OPTIMIZER_SLOT" not in key:
                by_number.setdefault(int(match.group(1)), {})[match.group(2)] = key
        return [by_number[number] for number in sorted(by_number)]
    model = _model_node(graph)
    return [] if model is None else _layers_of(graph, model, set())


def _children(graph: Any, node_id: int) -> list[tuple[str, int]]:
    return [(child.local_name, child.node_id) for child in graph.nodes[node_id].children
            if 0 <= child.node_id < len(graph.nodes)]


def _is_model(graph: Any, node_id: int) -> bool:
    names = {name for name, _ in _children(graph, node_id)}
    return "_operations" in names or "_functional" in names or any(_WITH_WEIGHTS.match(name) for name in names)


def _model_node(graph: Any) -> int | None:
    """The node of the model: the root (``save_weights``) or the nearest model below it (``Checkpoint(model=m)``)."""
    if not len(graph.nodes):
        return None
    frontier, seen = [0], {0}
    for _ in range(4):  # the model sits at most a few levels below the root
        found = [node for node in frontier if _is_model(graph, node)]
        if found:
            return found[0]
        following = []
        for node in frontier:
            for name, child in _children(graph, node):
                if name not in _NOT_THE_MODEL and child not in seen:
                    seen.add(child)
                    following.append(child)
        frontier = following
    return None


def _layers_of(graph: Any, model: int, seen: set[int]) -> list[dict[str, str]]:
    children = dict(_children(graph, model))
    if "_functional" in children and "_operations" not in children:  # a Keras 3 Sequential
        return _layers_of(graph, children["_functional"], seen)
    if "_operations" in children:
        operations = sorted(((int(name), node) for name, node in _children(graph, children["_operations"])
                             if name.isdigit()))
        layer_nodes = [node for _, node in operations]
    else:
        numbered = sorted((int(match.group(1)), node) for name, node in children.items()
                          if (match := _WITH_WEIGHTS.match(name)))
        layer_nodes = [node for _, node in numbered]
    layers = []
    for node in layer_nodes:
        if _is_model(graph, node):
            found = {f"layer_with_weights-{number}/{below}": key
                     for number, inner in enumerate(_layers_of(graph, node, seen)) for below, key in inner.items()}
        else:
            found = _variables_below(graph, node, "", seen)
        if found:
            layers.append(found)
    return layers


def _variables_below(graph: Any, node_id: int, path: str, seen: set[int]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, child in _children(graph, node_id):
        if name in _BOOKKEEPING or child in seen:
            continue
        seen.add(child)
        here = _LEADING_UNDERSCORE.sub(r"\1", f"{path}/{name}" if path else name)
        attributes = [a.checkpoint_key for a in graph.nodes[child].attributes if a.name == _VARIABLE]
        if attributes:
            found[here] = attributes[0]
        found.update(_variables_below(graph, child, here, seen))
    return found


def wanted_paths(layer: dict[str, Any] | None, names: Sequence[str]) -> list[str]:
    """The canonical checkpoint path prefix plus attribute for each weight of one template layer.

    Args:
        layer: the top-level layer's config record (None: a plain layer).
        names: its weights as ``owner/attribute`` names in ``.h5`` order (an owner's name may hold ``/``).

    A nested model's weight goes under ``layer_with_weights-K/`` (K counting the nested
    model's layers with weights, in its config's order); a Bidirectional's under
    ``forward_layer/`` or ``backward_layer/``, in the order the weights come.
    """
    owners = list(dict.fromkeys(name.rpartition("/")[0] for name in names))
    class_name = (layer or {}).get("class_name")
    prefixes: dict[str, str] = {}
    if len(owners) > 1 and class_name == "Bidirectional":
        prefixes = {owner: side for owner, side in zip(owners, ("forward_layer/", "backward_layer/"))}
    elif len(owners) > 1:
        weighted = set(owners)
        for owner in owners:
            prefix = _nested_prefix(layer, owner, weighted) if class_name in MODEL_CLASSES else None
            prefixes[owner] = prefix if prefix is not None else f"layer_with_weights-{owners.index(owner)}/"
    return [prefixes.get(name.rpartition("/")[0], "") + name.rpartition("/")[2] for name in names]


def _name(layer: dict[str, Any]) -> Any:
    return (layer.get("config") or {}).get("name", layer.get("name"))


def _nested_prefix(model: dict[str, Any] | None, owner: str, weighted: set[str]) -> str | None:
    body = (model or {}).get("config")
    layers = body if isinstance(body, list) else (body or {}).get("layers", []) if isinstance(body, dict) else []
    holding = [layer for layer in layers if isinstance(layer, dict) and _holds(layer, weighted)]
    for number, layer in enumerate(holding):
        if _name(layer) == owner:
            return f"layer_with_weights-{number}/"
        if layer.get("class_name") in MODEL_CLASSES:
            inner = _nested_prefix(layer, owner, weighted)
            if inner is not None:
                return f"layer_with_weights-{number}/{inner}"
    return None


def _holds(layer: dict[str, Any], weighted: set[str]) -> bool:
    if _name(layer) in weighted:
        return True
    return layer.get("class_name") in MODEL_CLASSES and any(_name(inner) in weighted for inner in iter_layers(layer))


def match_layer(found: dict[str, str], wanted: Sequence[str], owners: Sequence[str] = ()) -> list[str | None]:
    """The checkpoint key for each weight of one layer, ``None`` where none fits.

    Args:
        found: ``{canonical path below the layer: key}`` for that layer (from :func:`layer_variables`).
        wanted: the layer's weights as canonical paths (from :func:`wanted_paths`), in ``.h5`` order.
        owners: the name of the (sub-)layer each weight belongs to, as the template names it.
    """
    left = dict(found)
    keys: list[str | None] = []
    for name in _under_sublayers(found, wanted, owners):
        prefix, _, attribute = name.rpartition("/")
        prefix = f"{prefix}/" if prefix else ""
        inside = [rel for rel in left if rel.startswith(prefix)]
        candidates = [rel for rel in inside if rel[len(prefix):] == attribute or rel.endswith("/" + attribute)]
        for alias in _KERAS3_ATTRIBUTES.get(attribute, ()) if not candidates else ():
            candidates = [rel for rel in inside if rel[len(prefix):] == alias or rel.endswith("/" + alias)]
        if not candidates:
            # Keras 3 leaves some variables unnamed ("variable_4") that tf_keras names (LayerScale's
            # "gamma"): an unnamed one on either side is the layer's next tensor.
            unnamed = attribute.startswith("variable")
            candidates = [rel for rel in inside if unnamed or rel.split("/")[-1].startswith("variable")]
        keys.append(left.pop(candidates[0]) if candidates else None)
    return keys


def _under_sublayers(found: dict[str, str], wanted: Sequence[str], owners: Sequence[str]) -> list[str]:
    """``wanted`` with each ``layer_with_weights-K/`` prefix that holds nothing in ``found`` replaced by the
    sub-layer attribute the layer tracks its K-th owner under.

    A layer built of layers (MultiHeadAttention's ``query``, ``key``, ``value`` and ``attention_output``
    EinsumDense) tracks them as attributes (``_query_dense``, ..., ``_output_dense``), which a checkpoint
    names. An owner goes to the attribute named after it (``query`` -> ``query_dense``), and the owners no
    name fits to the attributes left, in the order the layer tracks both.
    """
    prefixes = list(dict.fromkeys(name.rpartition("/")[0] + "/" for name in wanted if "/" in name))
    missing = [prefix for prefix in prefixes
               if _WITH_WEIGHTS.match(prefix[:-1]) and not any(rel.startswith(prefix) for rel in found)]
    if not missing or len(owners) != len(wanted):
        return list(wanted)
    owner_of = {name.rpartition("/")[0] + "/": owner.rpartition("/")[2] for name, owner in zip(wanted, owners)}
    groups = [group for group in dict.fromkeys(rel.split("/")[0] for rel in found if "/" in rel)
              if not _WITH_WEIGHTS.match(group)]
    chosen: dict[str, str] = {}
    for prefix in missing:
        owner = owner_of[prefix]
        named = [group for group in groups if group == owner or group.startswith(owner + "_")]
        if len(named) == 1 and named[0] not in chosen.values():
            chosen[prefix] = named[0]
    unnamed = [prefix for prefix in missing if prefix not in chosen]
    rest = [group for group in groups if group not in chosen.values()]
    if len(unnamed) == len(rest):
        chosen.update(zip(unnamed, rest))
    return [chosen[prefix] + "/" + name[len(prefix):] if (prefix := name.rpartition("/")[0] + "/") in chosen
            else name for name in wanted]
