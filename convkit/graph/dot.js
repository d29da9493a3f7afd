// The model graph as Graphviz DOT: one function shared by the Node layout script (layout.mjs) and the
// HTML page (page.html), so a page lays out an expanded or collapsed group exactly as the command did.
//
// Input: the document convkit.graph.draw makes: nodes [{id, label, op, kind, category, group}], edges
// [{s, t, label, tip}], groups [{id, label, kind, parent, size}], and the set of collapsed group ids.
// A collapsed group is one box; edges into and out of it are drawn to that box, once per pair.
(function (scope) {
  "use strict";

  const COLORS = {
    layer: "#d6e4f5", activation: "#f6dcd6", pool: "#dcefdc", norm: "#e4e0f2", merge: "#f4ecd2",
    shape: "#eeeeee", input: "#ffffff", output: "#ffffff", sequence: "#d6eeee", object: "#f2f2e6", other: "#f7f7f7",
  };
  const LABELLED_EDGES = 400;  // above this many boxes, shapes go to tooltips: edge labels double dot's ranks

  function quote(text) {
    return '"' + String(text).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n") + '"';
  }

  function visibleOwner(doc, collapsed) {
    const groups = new Map(doc.groups.map((g) => [g.id, g]));
    const cache = new Map();
    // The outermost collapsed group holding a node or group, or null when nothing above it is collapsed.
    function owner(groupId) {
      if (groupId == null) return null;
      if (cache.has(groupId)) return cache.get(groupId);
      const group = groups.get(groupId);
      const above = group ? owner(group.parent) : null;
      const found = above || (collapsed.has(groupId) ? groupId : null);
      cache.set(groupId, found);
      return found;
    }
    return owner;
  }

  function toDot(doc, collapsed) {
    collapsed = collapsed instanceof Set ? collapsed : new Set(collapsed || []);
    const owner = visibleOwner(doc, collapsed);
    const children = new Map();  // group id (or "") -> [lines]
    const push = (groupId, line) => {
      const key = groupId == null ? "" : groupId;
      if (!children.has(key)) children.set(key, []);
      children.get(key).push(line);
    };
    const where = new Map();  // node id -> drawn id
    let boxes = 0;
    doc.nodes.forEach((node, index) => {
      const hidden = owner(node.group);
      if (hidden) { where.set(node.id, "g" + doc.groupIndex[hidden]); return; }
      const id = "n" + index;
      where.set(node.id, id);
      boxes++;
      const fill = COLORS[node.category] || COLORS.other;
      const shape = node.kind === "input" || node.kind === "output" ? "ellipse" : "box";
      push(node.group, `${id} [id=${quote(id)}, class=${quote(node.kind + " " + node.category)}, label=${quote(node.label)}, ` +
        `shape=${shape}, fillcolor=${quote(fill)}, tooltip=${quote(node.name)}];`);
    });
    for (const group of doc.groups) {
      const hidden = owner(group.parent);
      if (hidden || !collapsed.has(group.id)) continue;
      boxes++;
      const id = "g" + doc.groupIndex[group.id];
      push(group.parent, `${id} [id=${quote(id)}, class="collapsed ${group.kind}", shape=box3d, fillcolor="#fff8e0", ` +
        `label=${quote(group.label + "\n" + group.size + " nodes (click to expand)")}, tooltip=${quote(group.label)}];`);
    }
    const labelled = boxes <= LABELLED_EDGES;
    const seen = new Set();
    const edgeLines = [];
    for (const edge of doc.edges) {
      const s = where.get(edge.s), t = where.get(edge.t);
      if (!s || !t || s === t) continue;
      const key = s + ">" + t;
      if (seen.has(key)) continue;
      seen.add(key);
      const text = edge.label ? `, ${labelled ? "label" : "tooltip"}=${quote(edge.label)}` : "";
      edgeLines.push(`${s} -> ${t} [tooltip=${quote(edge.tip || edge.label || "")}${text}];`);
    }
    const lines = [
      "digraph model {",
      '  graph [rankdir=TB, nodesep=0.25, ranksep=0.35, fontname="Helvetica", fontsize=11, bgcolor="white", ' +
      'newrank=true, outputorder=edgesfirst];',
      '  node [style="rounded,filled", fontname="Helvetica", fontsize=10, color="#555555", penwidth=0.8, margin="0.08,0.03", height=0.3];',
      '  edge [fontname="Helvetica", fontsize=8, color="#777777", fontcolor="#555555", arrowsize=0.6];',
    ];
    const emit = (groupId, indent) => {
      for (const line of children.get(groupId == null ? "" : groupId) || []) lines.push(indent + line);
      for (const group of doc.groups) {
        if ((group.parent == null ? null : group.parent) !== groupId || collapsed.has(group.id) || owner(group.parent)) continue;
        const index = doc.groupIndex[group.id];
        lines.push(`${indent}subgraph cluster_${index} {`);
        lines.push(`${indent}  id=${quote("c" + index)}; class=${quote("group " + group.kind)}; label=${quote(group.label)}; ` +
          `style="rounded,filled"; fillcolor="#fbfbf7"; color="#bbbbaa"; fontsize=10; tooltip=${quote(group.label + " (click to collapse)")};`);
        emit(group.id, indent + "  ");
        lines.push(`${indent}}`);
      }
    };
    emit(null, "  ");
    for (const line of edgeLines) lines.push("  " + line);
    lines.push("}");
    return { dot: lines.join("\n"), boxes };
  }

  scope.convkitDot = { toDot };
})(typeof globalThis !== "undefined" ? globalThis : this);
