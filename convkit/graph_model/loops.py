"""TF1-style while loops raised back into functional ``While`` ops, for converters that read only the latter.

A TF2 loop lowered for TF1 runtimes (``tensorflowjs_converter`` without
``--control_flow_v2``, ``convert_variables_to_constants_v2`` with its default
lowering, TF1 graphs over TensorLists) is spread over ``Enter``, ``Merge``,
``Switch``, ``LoopCond``, ``NextIteration`` and ``Exit`` nodes of one frame. tf2onnx
cannot write such a loop over TensorLists into ONNX that onnxruntime loads. Raising
does what TensorFlow's lowering undid: for each loop, the nodes between the
``Merge`` outputs and ``LoopCond`` become the condition function, the nodes between
``Switch`` outputs and ``NextIteration`` the body, and one ``While`` node takes the
frame's place (loop invariants become loop variables the body passes through).
TensorFlow traces the two functions from the imported subgraphs; nothing runs.

Only loops whose frame holds no other loop and whose nodes follow the lowered
pattern are raised; anything else is left as it is.
"""

from __future__ import annotations

from typing import Any

from convkit.graph_model.analysis import is_control, node_of, tensor_name

_LOOP_PLUMBING = frozenset({"Enter", "Merge", "Switch", "LoopCond", "NextIteration", "Exit"})


def has_loops(graph_def: Any) -> bool:
    """Whether the graph holds TF1-style while loops."""
    return any(node.op == "Enter" for node in graph_def.node)


def raise_loops(graph_def: Any) -> tuple[Any, int]:
    """``graph_def`` (TensorFlow's ``GraphDef``) with every raisable loop as a ``While`` node; and how many."""
    frames = _frames(graph_def)
    if frames is None:
        return graph_def, 0
    raised = 0
    for frame in sorted(frames):
        loop = _Loop.find(graph_def, frame, frames[frame])
        if loop is None:
            continue
        replaced = loop.replaced(graph_def)
        raised += replaced is not graph_def
        graph_def = replaced
    return graph_def, raised


def _frames(graph_def: Any) -> dict[str, set[str]] | None:
    """Frame name -> its nodes; None when a frame holds another (nested loops are left alone)."""
    by_name = {node.name: node for node in graph_def.node}
    frame_of: dict[str, str] = {}
    consumers: dict[str, list[str]] = {}
    for node in graph_def.node:
        for reference in node.input:
            consumers.setdefault(node_of(reference), []).append(node.name)
    frames: dict[str, set[str]] = {}
    for node in graph_def.node:
        if node.op != "Enter":
            continue
        frame = node.attr["frame_name"].s.decode("utf-8", "replace")
        frames.setdefault(frame, set())
        stack = [node.name]
        while stack:
            name = stack.pop()
            if name in frames[frame]:
                continue
            if frame_of.get(name, frame) != frame:
                return None  # a node of two frames: nested loops
            frame_of[name] = frame
            frames[frame].add(name)
            if by_name[name].op == "Exit":
                continue
            stack.extend(consumers.get(name, ()))
    for name in {name for nodes in frames.values() for name in nodes}:
        if by_name[name].op == "Enter" and node_of(by_name[name].input[0]) in frame_of:
            return None
    # Constants placed in a frame by a control input from it belong to it.
    for node in graph_def.node:
        if node.name not in frame_of and node.op == "Const":
            owners = {frame_of.get(node_of(reference)) for reference in node.input if is_control(reference)}
            owners.discard(None)
            if len(owners) == 1:
                frames[owners.pop()].add(node.name)  # type: ignore[index]
    return frames


class _Loop:
    """One lowered loop's parts, found by the pattern TensorFlow's lowering writes."""

    def __init__(self) -> None:
        self.variables: list[tuple[Any, Any, Any, Any, Any | None]] = []  # Enter, Merge, Switch, NextIteration, Exit
        self.invariants: list[Any] = []
        self.loop_cond: Any = None
        self.nodes: set[str] = set()

    @classmethod
    def find(cls, graph_def: Any, frame: str, nodes: set[str]) -> _Loop | None:
        by_name = {node.name: node for node in graph_def.node}
        consumers: dict[str, list[Any]] = {}
        for node in graph_def.node:
            for reference in node.input:
                if not is_control(reference):
                    consumers.setdefault(node_of(reference), []).append((node, reference))
        loop = cls()
        loop.nodes = nodes
        conds = [by_name[name] for name in nodes if by_name[name].op == "LoopCond"]
        if len(conds) != 1:
            return None
        loop.loop_cond = conds[0]
        for name in sorted(nodes):
            enter = by_name[name]
            if enter.op != "Enter":
                continue
            if enter.attr["is_constant"].b:
                loop.invariants.append(enter)
                continue
            merges = [node for node, _ in consumers.get(enter.name, []) if node.op == "Merge"]
            if len(merges) != 1 or len(consumers.get(enter.name, [])) != 1:
                return None
            merge = merges[0]
            inputs = [reference for reference in merge.input if not is_control(reference)]
            nexts = [by_name.get(node_of(reference)) for reference in inputs if node_of(reference) != enter.name]
            switches = [node for node, _ in consumers.get(merge.name, []) if node.op == "Switch"]
            if len(nexts) != 1 or nexts[0] is None or nexts[0].op != "NextIteration" or len(switches) != 1:
                return None
            switch = switches[0]
            if node_of(switch.input[1]) != loop.loop_cond.name:
                return None
            exits = [node for node, _ in consumers.get(switch.name, []) if node.op == "Exit"]
            loop.variables.append((enter, merge, switch, nexts[0], exits[0] if exits else None))
        return loop if loop.variables else None

    def _subgraph(self, graph_def: Any, roots: list[str], stops: dict[str, str]) -> Any:
        """The frame's nodes ``roots`` need, each reference in ``stops`` turned into a placeholder's output."""
        import tensorflow as tf

        by_name = {node.name: node for node in graph_def.node}
        needed: set[str] = set()
        stack = [node_of(reference) for reference in roots]
        while stack:
            name = stack.pop()
            if name in needed or name in {node_of(stop) for stop in stops} or name not in self.nodes:
                continue
            if by_name[name].op in _LOOP_PLUMBING:
                raise _NotRaisable(name)
            needed.add(name)
            stack.extend(node_of(reference) for reference in by_name[name].input if not is_control(reference))
        sub = tf.compat.v1.GraphDef()
        sub.library.CopyFrom(graph_def.library)
        sub.versions.CopyFrom(graph_def.versions)
        for name in sorted(needed):
            node = sub.node.add()
            node.CopyFrom(by_name[name])
            kept = [stops.get(reference, stops.get(f"{reference}:0", reference)) for reference in node.input
                    if not is_control(reference)]
            del node.input[:]
            node.input.extend(kept)
            if "_class" in node.attr:
                del node.attr["_class"]
        return sub

    def _trace(self, graph_def: Any, dtypes: list[Any], shapes: list[Any], stops: dict[str, str],
               placeholders: list[str], results: list[str], name: str) -> Any:
        """A concrete function of the loop variables computing ``results`` from the frame's subgraph
        (a result that is a loop variable itself is passed through)."""
        import tensorflow as tf

        computed = [result for result in results if result not in stops]
        sub = self._subgraph(graph_def, computed, stops)
        for placeholder, dtype in zip(placeholders, dtypes):
            node = sub.node.add(name=placeholder, op="Placeholder")
            node.attr["dtype"].type = dtype.as_datatype_enum
        index = {f"{placeholder}:0": position for position, placeholder in enumerate(placeholders)}

        def function(*args: Any) -> Any:
            input_map = {f"{placeholder}:0": arg for placeholder, arg in zip(placeholders, args)}
            outputs = iter(tf.graph_util.import_graph_def(sub, input_map=input_map, return_elements=computed,
                                                          name=name) if computed else ())
            values = [args[index[stops[result]]] if result in stops else next(outputs) for result in results]
            return values[0] if name == "cond" else values

        specs = [tf.TensorSpec(shape, dtype) for shape, dtype in zip(shapes, dtypes)]
        return tf.function(function, input_signature=specs, autograph=False).get_concrete_function()

    def replaced(self, graph_def: Any) -> Any:
        """The graph with this loop's frame replaced by one ``While`` node (or unchanged if it does not fit)."""
        import tensorflow as tf

        try:
            return self._replaced(graph_def, tf)
        except (_NotRaisable, ValueError, TypeError, KeyError, tf.errors.OpError):
            return graph_def

    def _replaced(self, graph_def: Any, tf: Any) -> Any:
        enters = [enter for enter, *_ in self.variables] + self.invariants
        dtypes = [tf.as_dtype(enter.attr["T"].type) for enter in enters]
        # The loop variables' shapes as TensorFlow infers them where they enter (onnxruntime needs a rank).
        outer = tf.Graph()
        with outer.as_default():
            tf.graph_util.import_graph_def(graph_def, name="")
        shapes = [outer.get_tensor_by_name(tensor_name(enter.input[0])).shape for enter in enters]
        count = len(self.variables)
        cond_places = [f"convkit_var_{i}" for i in range(len(dtypes))]
        body_places = [f"convkit_arg_{i}" for i in range(len(dtypes))]
        cond_stops = {**{f"{merge.name}:0": f"{cond_places[i]}:0" for i, (_, merge, *_rest) in enumerate(self.variables)},
                      **{f"{enter.name}:0": f"{cond_places[count + j]}:0" for j, enter in enumerate(self.invariants)}}
        cond_stops.update({key.removesuffix(":0"): value for key, value in list(cond_stops.items())})
        body_stops = {**{f"{switch.name}:1": f"{body_places[i]}:0"
                         for i, (_, _m, switch, *_rest) in enumerate(self.variables)},
                      **{f"{enter.name}:0": f"{body_places[count + j]}:0" for j, enter in enumerate(self.invariants)}}
        body_stops.update({enter.name: f"{body_places[count + j]}:0" for j, enter in enumerate(self.invariants)})
        cond = self._trace(graph_def, dtypes, shapes, cond_stops, cond_places, [tensor_name(self.loop_cond.input[0])],
                           "cond")
        nexts = [tensor_name(next_node.input[0]) for _, _, _, next_node, _ in self.variables]
        results = nexts + [f"{enter.name}:0" for enter in self.invariants]
        body = self._trace(graph_def, dtypes, shapes, body_stops, body_places, results, "body")
        merged = tf.compat.v1.GraphDef()
        merged.versions.CopyFrom(graph_def.versions)
        merged.library.CopyFrom(graph_def.library)
        known = {function.signature.name for function in merged.library.function}
        for concrete in (cond, body):
            for function in [concrete.function_def, *concrete.graph.as_graph_def().library.function]:
                if function.signature.name not in known:
                    merged.library.function.add().CopyFrom(function)
                    known.add(function.signature.name)
        first_enter = self.variables[0][0]
        while_name = f"{first_enter.name}/convkit_while"
        exits = {exit_node.name: index for index, (*_rest, exit_node) in enumerate(self.variables) if exit_node}
        for node in graph_def.node:
            if node.name in self.nodes:
                continue
            copy = merged.node.add()
            copy.CopyFrom(node)
            rewritten = []
            for reference in node.input:
                source = node_of(reference)
                if source in exits:
                    rewritten.append(f"^{while_name}" if is_control(reference) else f"{while_name}:{exits[source]}")
                elif source in self.nodes:
                    if not is_control(reference):
                        raise _NotRaisable(reference)
                    rewritten.append(f"^{while_name}")
                else:
                    rewritten.append(reference)
            del copy.input[:]
            copy.input.extend(dict.fromkeys(rewritten))
        loop = merged.node.add(name=while_name, op="While")
        loop.input.extend([enter.input[0] for enter, *_ in self.variables] + [enter.input[0] for enter in self.invariants])
        loop.attr["T"].list.type.extend([dtype.as_datatype_enum for dtype in dtypes])
        loop.attr["cond"].func.name = cond.function_def.signature.name
        loop.attr["body"].func.name = body.function_def.signature.name
        loop.attr["parallel_iterations"].i = first_enter.attr["parallel_iterations"].i or 10
        for shape in shapes:
            loop.attr["output_shapes"].list.shape.add().CopyFrom(shape.as_proto())
        return merged


class _NotRaisable(Exception):
    """The frame does not follow the lowered pattern."""
