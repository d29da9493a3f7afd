// The viewer of convkit's HTML graph pages: pan (drag), zoom (wheel, buttons), search by name, a click on a
// node shows its attributes and weights, a click on a group opens or closes it (the graph is laid out again
// by the Graphviz build embedded in the page: nothing is fetched).
(function () {
  "use strict";
  const doc = JSON.parse(document.getElementById("graph-document").textContent);
  const details = JSON.parse(document.getElementById("graph-details").textContent);
  const canvas = document.getElementById("canvas");
  const panel = document.getElementById("details");
  const busy = document.getElementById("busy");
  const search = document.getElementById("search");
  const found = document.getElementById("found");
  const collapsed = new Set(doc.collapsed);
  const parents = new Map(doc.groups.map((g) => [g.id, g.parent]));
  const nodeIndex = new Map(doc.nodes.map((n, i) => [n.id, i]));
  let svg = canvas.querySelector("svg");
  let view = null;  // [x, y, width, height] of the viewBox
  let full = null;
  let matches = [];
  let current = -1;
  let engine = null;

  function prepare() {
    svg = canvas.querySelector("svg");
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    const box = svg.viewBox.baseVal;
    full = [box.x, box.y, box.width, box.height];
    start();
    window.convkitGraph.drawnNodes = svg.querySelectorAll("g.node.op, g.node.object").length;
    window.convkitGraph.boxes = svg.querySelectorAll("g.node").length;
  }

  function apply() {
    svg.setAttribute("viewBox", view.join(" "));
    svg.setAttribute("preserveAspectRatio", "xMinYMin meet");
  }

  function fit() {
    const rect = canvas.getBoundingClientRect();
    const scale = Math.max(full[2] / Math.max(rect.width, 1), full[3] / Math.max(rect.height, 1));
    const width = rect.width * scale, height = rect.height * scale;
    view = [full[0] - (width - full[2]) / 2, full[1] - (height - full[3]) / 2, width, height];
    apply();
  }

  // The first view: the whole graph when it is readable so, else its top at full width (at most 1:1), as a
  // tall model is read from its input down.
  function start() {
    const rect = canvas.getBoundingClientRect();
    const whole = Math.max(full[2] / Math.max(rect.width, 1), full[3] / Math.max(rect.height, 1));
    if (whole <= 2) { fit(); return; }
    const unit = Math.max(full[2] / Math.max(rect.width, 1), 1);
    const width = rect.width * unit, height = rect.height * unit;
    view = [full[0] - (width - full[2]) / 2, full[1], width, height];
    apply();
  }

  function zoom(factor, cx, cy) {
    const rect = canvas.getBoundingClientRect();
    const px = cx === undefined ? 0.5 : (cx - rect.left) / rect.width;
    const py = cy === undefined ? 0.5 : (cy - rect.top) / rect.height;
    const x = view[0] + px * view[2], y = view[1] + py * view[3];
    view = [x - px * view[2] * factor, y - py * view[3] * factor, view[2] * factor, view[3] * factor];
    apply();
  }

  function center(element) {
    // The node's box on screen, in viewBox units (the view keeps the canvas's aspect, so the map is linear).
    const rect = canvas.getBoundingClientRect(), box = element.getBoundingClientRect();
    const unit = view[2] / rect.width;
    const cx = view[0] + (box.left + box.width / 2 - rect.left) * unit, cy = view[1] + (box.top + box.height / 2 - rect.top) * unit;
    const width = Math.min(view[2], Math.max(box.width * unit * 6, 400)), height = width * rect.height / rect.width;
    view = [cx - width / 2, cy - height / 2, width, height];
    apply();
  }

  new ResizeObserver(() => {  // keep the scale when the details panel opens or the window changes
    if (!view) return;
    const rect = canvas.getBoundingClientRect();
    if (rect.width > 0) { view[3] = view[2] * rect.height / rect.width; apply(); }
  }).observe(canvas);

  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    zoom(Math.exp(event.deltaY * 0.0015), event.clientX, event.clientY);
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("pointerdown", (event) => {
    drag = { x: event.clientX, y: event.clientY, view: view.slice(), moved: false };
  });
  window.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const rect = canvas.getBoundingClientRect();
    const dx = (event.clientX - drag.x) * view[2] / rect.width, dy = (event.clientY - drag.y) * view[3] / rect.height;
    if (Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) > 3) {
      drag.moved = true;
      canvas.classList.add("dragging");
    }
    view = [drag.view[0] - dx, drag.view[1] - dy, view[2], view[3]];
    apply();
  });
  window.addEventListener("pointerup", () => { canvas.classList.remove("dragging"); setTimeout(() => { drag = null; }, 0); });

  function text(value) {
    if (value === null || value === undefined) return "-";
    if (Array.isArray(value) || typeof value === "object") return JSON.stringify(value);
    return String(value);
  }

  function row(table, key, value) {
    const tr = table.insertRow();
    tr.insertCell().textContent = key;
    tr.insertCell().textContent = text(value);
  }

  function show(index) {
    const item = details[index];
    if (!item) return;
    svg.querySelectorAll("g.node.selected").forEach((g) => g.classList.remove("selected"));
    const drawn = svg.getElementById("n" + index);
    if (drawn) drawn.classList.add("selected");
    panel.hidden = false;
    panel.replaceChildren();
    const title = document.createElement("h2");
    title.textContent = item.name;
    panel.appendChild(title);
    const table = document.createElement("table");
    row(table, "op", item.op);
    row(table, "outputs", item.outputs.join(", "));
    row(table, "dtypes", item.dtypes.join(", "));
    row(table, "parameters", item.parameters);
    row(table, "MACs", item.macs === null ? item.macs_status : item.macs.toLocaleString());
    for (const weight of item.weights) row(table, "weight " + weight.name, weight.dtype + " " + JSON.stringify(weight.shape));
    for (const [key, value] of Object.entries(item.attributes)) row(table, key, value);
    panel.appendChild(table);
  }

  async function relayout() {
    busy.style.display = "block";
    try {
      if (!engine) {
        const bytes = Uint8Array.from(atob(document.getElementById("graph-engine").textContent.trim()), (c) => c.charCodeAt(0));
        const url = URL.createObjectURL(new Blob([bytes], { type: "text/javascript" }));
        const module = await import(url);
        engine = await module.Graphviz.load();
      }
      const { dot } = globalThis.convkitDot.toDot(doc, collapsed);
      const laidOut = engine.layout(dot, "svg", "dot");
      const holder = document.createElement("div");
      holder.innerHTML = laidOut.slice(laidOut.indexOf("<svg"));
      svg.replaceWith(holder.firstElementChild);
      prepare();
      mark();
    } finally {
      busy.style.display = "none";
    }
  }

  function setCollapsed(groupId, closed) {
    if (closed) collapsed.add(groupId); else collapsed.delete(groupId);
    return relayout();
  }

  canvas.addEventListener("click", (event) => {
    if (drag && drag.moved) return;
    const node = event.target.closest("g.node");
    if (node) {
      if (node.id.startsWith("g")) {
        setCollapsed(doc.groups[Number(node.id.slice(1))].id, false);
      } else {
        show(Number(node.id.slice(1)));
      }
      return;
    }
    const cluster = event.target.closest("g.cluster");
    if (cluster && cluster.id.startsWith("c")) setCollapsed(doc.groups[Number(cluster.id.slice(1))].id, true);
  });

  function mark() {
    svg.querySelectorAll("g.node.found").forEach((g) => g.classList.remove("found"));
    for (const index of matches) {
      const drawn = svg.getElementById("n" + index);
      if (drawn) drawn.classList.add("found");
    }
  }

  async function focus(index) {
    const node = doc.nodes[index];
    let group = node.group, opened = false;
    while (group != null) {  // open every closed group around the node
      if (collapsed.delete(group)) opened = true;
      group = parents.get(group);
    }
    if (opened) await relayout();
    show(index);
    const drawn = svg.getElementById("n" + index);
    if (drawn) center(drawn);
  }

  search.addEventListener("input", () => {
    const query = search.value.trim().toLowerCase();
    matches = query ? doc.nodes.flatMap((n, i) => (n.name.toLowerCase().includes(query) || n.op.toLowerCase() === query ? [i] : [])) : [];
    current = -1;
    found.textContent = query ? `${matches.length} found` : "";
    mark();
  });
  search.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !matches.length) return;
    current = (current + 1) % matches.length;
    found.textContent = `${current + 1} of ${matches.length}`;
    focus(matches[current]);
  });
  document.getElementById("fit").onclick = fit;
  document.getElementById("zoom-in").onclick = () => zoom(1 / 1.4);
  document.getElementById("zoom-out").onclick = () => zoom(1.4);
  document.getElementById("expand-all").onclick = () => { collapsed.clear(); relayout(); };
  document.getElementById("collapse-all").onclick = () => { doc.groups.forEach((g) => collapsed.add(g.id)); relayout(); };

  window.convkitGraph = { fileNodes: doc.fileNodes, nodeIndex, relayout, setCollapsed, focus, collapsed };
  prepare();
  window.convkitGraph.ready = true;
})();
