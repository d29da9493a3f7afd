"""Which groups a drawing shows collapsed, so a graph of thousands of nodes stays drawable and readable.

A graph of at most ``max_nodes`` boxes is drawn whole. A bigger one is drawn
from the top down: every group starts as one box, and groups are opened
breadth first while the drawing stays within ``max_nodes`` boxes; a group
that repeats one already opened (the same ops: the twelve blocks of a
transformer, the calls of one function) stays closed. Graphs whose nodes sit in
no group get groups from their name scopes (``block3/conv1/Conv2D``), and,
failing those, from runs of consecutive nodes.
"""

from __future__ import annotations

import math
from collections import Counter

from convkit.graph.model import Graph, Group

DEFAULT_MAX_NODES = 1000


def plan(graph: Graph, max_nodes: int = DEFAULT_MAX_NODES, expand: list[str] = ()) -> set[str]:  # type: ignore[assignment]
    """The ids of the groups to draw collapsed.

    Args:
        graph: the graph; scope or run groups are added to it when it is too big without them.
        max_nodes: the most boxes a drawing shows before groups are closed. Default 1000.
        expand: ``all`` (close nothing) or names of groups to open whatever the size (a group's label,
            id or name prefix).
    """
    if "all" in expand or len(graph.nodes) <= max_nodes:
        return set()
    if _top_level_boxes(graph) > max_nodes:
        add_scope_groups(graph)
    if _top_level_boxes(graph) > max_nodes:
        add_run_groups(graph, max_nodes)
    children = graph.group_children()
    direct = Counter(node.group for node in graph.nodes)
    signatures = _signatures(graph)
    forced = {group.id for group in graph.groups if any(_names(group, wanted) for wanted in expand)}
    collapsed = {group.id for group in graph.groups}
    visible = direct.get(None, 0) + len(children.get(None, []))
    opened_signatures: set[tuple[tuple[str, int], ...]] = set()
    queue = list(children.get(None, []))
    while queue:
        group_id = queue.pop(0)
        cost = direct.get(group_id, 0) + len(children.get(group_id, [])) - 1
        repeated = signatures[group_id] in opened_signatures
        if group_id in forced or (not repeated and visible + cost <= max_nodes):
            collapsed.discard(group_id)
            visible += cost
            opened_signatures.add(signatures[group_id])
            queue.extend(children.get(group_id, []))
    for group_id in forced:  # open the way down to a group asked for by name
        parents = {group.id: group.parent for group in graph.groups}
        parent = parents.get(group_id)
        while parent is not None:
            collapsed.discard(parent)
            parent = parents.get(parent)
    return collapsed


def _names(group: Group, wanted: str) -> bool:
    return group.id == wanted or group.label == wanted or group.label.split(" (")[0] == wanted or group.id.startswith(wanted + "/")


def _top_level_boxes(graph: Graph) -> int:
    return sum(1 for node in graph.nodes if node.group is None) + sum(1 for group in graph.groups if group.parent is None)


def _signatures(graph: Graph) -> dict[str, tuple[tuple[str, int], ...]]:
    """Per group: the ops of every node inside it, counted (groups with equal signatures repeat one block)."""
    parents = {group.id: group.parent for group in graph.groups}
    counts: dict[str, Counter[str]] = {group.id: Counter() for group in graph.groups}
    for node in graph.nodes:
        group = node.group
        while group is not None:
            counts[group][node.op] += 1
            group = parents.get(group)
    return {group_id: tuple(sorted(count.items())) for group_id, count in counts.items()}


def group_sizes(graph: Graph) -> dict[str, int]:
    """Per group: how many nodes it holds, at any depth."""
    parents = {group.id: group.parent for group in graph.groups}
    sizes: Counter[str] = Counter()
    for node in graph.nodes:
        group = node.group
        while group is not None:
            sizes[group] += 1
            group = parents.get(group)
    return {group.id: sizes.get(group.id, 0) for group in graph.groups}


def add_scope_groups(graph: Graph) -> None:
    """Groups from the ``/``-separated name scopes of the nodes in each group (or at the top level).

    A scope becomes a group when it holds at least two nodes and is not its parent's only content.
    """
    by_parent: dict[str | None, list[int]] = {}
    for position, node in enumerate(graph.nodes):
        if node.kind not in ("input", "output"):  # a graph's inputs and outputs stay outside every scope
            by_parent.setdefault(node.group, []).append(position)
    taken = {group.id for group in graph.groups}
    for parent, positions in by_parent.items():
        scoped = [(position, graph.nodes[position].name.strip("/").split("/")[:-1]) for position in positions]
        common = _common_prefix([scope for _position, scope in scoped])
        counts: Counter[tuple[str, ...]] = Counter()
        for _position, scope in scoped:
            for depth in range(len(common) + 1, len(scope) + 1):
                counts[tuple(scope[:depth])] += 1
        made: dict[tuple[str, ...], str | None] = {}
        for scope_key in sorted(counts, key=len):
            if counts[scope_key] < 2:
                continue
            above = next((made[scope_key[:d]] for d in range(len(scope_key) - 1, len(common), -1) if scope_key[:d] in made), parent)
            above_count = counts.get(scope_key[:-1]) if len(scope_key) - 1 > len(common) else len(positions)
            if above_count == counts[scope_key] and above != parent:
                made[scope_key] = above  # the same nodes as the scope above: no level of its own
                continue
            group_id = f"{parent + '/' if parent else ''}scope:{'/'.join(scope_key)}"
            while group_id in taken:
                group_id += "_"
            taken.add(group_id)
            graph.groups.append(Group(group_id, scope_key[-1], "scope", above))
            made[scope_key] = group_id
        for position, scope in scoped:
            for depth in range(len(scope), len(common), -1):
                if tuple(scope[:depth]) in made:
                    graph.nodes[position].group = made[tuple(scope[:depth])]
                    break


def _common_prefix(scopes: list[list[str]]) -> list[str]:
    if not scopes:
        return []
    prefix = scopes[0]
    for scope in scopes[1:]:
        length = 0
        while length < min(len(prefix), len(scope)) and prefix[length] == scope[length]:
            length += 1
        prefix = prefix[:length]
    return prefix


def add_run_groups(graph: Graph, max_nodes: int) -> None:
    """Groups of consecutive top-level nodes (in file order), so the top level holds at most about
    ``max_nodes / 2`` boxes."""
    top = [node for node in graph.nodes if node.group is None]
    size = max(2, math.ceil(len(top) / max(max_nodes // 2, 1)))
    for start in range(0, len(top), size):
        run = top[start : start + size]
        if len(run) < 2:
            continue
        group_id = f"run:{start}"
        graph.groups.append(Group(group_id, f"nodes {start + 1}-{start + len(run)}", "run", None))
        for node in run:
            node.group = group_id
