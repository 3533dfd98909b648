// The flow editor (bots/editor.html). Drawflow draws the diagram; its own document (editor.drawflow) is the one
// source of truth while the page is open: each node's data holds {id: the step's id, step: the step's fields
// without next/x/y}, output_k is the step's k-th port (bots.spec.ports, mirrored in ports() below), a connection
// from output_k is step.next[port], and pos_x/pos_y are x/y. toGraph() turns it into our graph JSON (docs/bots.md)
// for the server; toDrawflow() does the reverse on load.
//
// Safety: every text a person typed reaches the page through textContent or a form control's value. Drawflow's
// addNode() takes an HTML string, so it always gets the fixed SKELETON below and fillNode() fills it afterwards.
//
// The server speaks through htmx: "Guardar" (PUT) and "Guardar y publicar" post the hidden `graph` field this file
// keeps current, the simulator's form posts it too (it runs the diagram on screen, saved or not), and the answers
// swap the feedback line, the flow's status and its problems list in place.
(function () {
  "use strict";

  const canvas = document.getElementById("bot-canvas");
  const configNode = document.getElementById("bot-editor-config");
  if (!canvas || !configNode || typeof window.Drawflow !== "function") return;
  const cfg = JSON.parse(configNode.textContent);
  const initial = JSON.parse(document.getElementById("bot-graph").textContent) || {};
  const T = cfg.text, F = cfg.fields, O = cfg.options, L = cfg.limits;
  const readOnly = !cfg.canManage;
  const SKELETON = "<div class=\"bn\"></div>";
  const STEP_ID = /^[a-z0-9_-]{1,40}$/;
  const RESERVED_PORTS = Object.keys(cfg.ports);

  const startSelect = document.getElementById("bot-start");
  const formRoot = document.getElementById("bot-step-form");
  const emptyNote = document.querySelector("[data-canvas-empty]");
  const dirtyNote = document.querySelector("[data-dirty-state]");

  const editor = new window.Drawflow(canvas);
  editor.reroute = false;
  editor.zoom_min = 0.3;
  editor.zoom_max = 1.6;
  editor.editor_mode = readOnly ? "view" : "edit";
  editor.start();

  let startId = typeof initial.start === "string" ? initial.start : "";
  let dirty = false;
  let loading = true;
  let openNode = null;  // the Drawflow id whose form is shown
  let uid = 0;
  const stepIdCache = {};  // Drawflow id → step id, for events fired after Drawflow forgot the node

  // --- small helpers -------------------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) {
      if (v === null || v === undefined || v === false) return;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    });
    [].concat(children || []).forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    });
    return node;
  }

  function fmt(template, value) {
    if (value && typeof value === "object") {
      return template.replace(/%\((\w+)\)[sd]/g, function (_m, key) { return String(value[key] ?? ""); });
    }
    return template.replace(/%[sd]/, String(value));
  }

  function label(pairs, key) {
    const found = (pairs || []).find(function (p) { return p[0] === key; });
    return found ? found[1] : key;
  }

  function clone(value) { return JSON.parse(JSON.stringify(value)); }

  function slug(text) {
    return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/, "");
  }

  function unique(base, taken, reserved) {
    let candidate = base, n = 2;
    while (taken.has(candidate) || (reserved || []).includes(candidate)) {
      const suffix = "-" + n++;
      candidate = base.slice(0, 40 - suffix.length) + suffix;
    }
    return candidate;
  }

  // --- the step model (mirrors bots/spec.py) -------------------------------------------------------------------

  function ports(step) {
    if (step.type === "ask") return step.input === "choice" ? (step.choices || []).map(function (c) { return c.id; }) : ["next"];
    if (step.type === "condition") return (step.branches || []).map(function (b) { return b.id; }).concat(["else"]);
    return cfg.fixedPorts[step.type] || [];
  }

  function portLabel(step, port) {
    if (step.type === "ask") {
      const c = (step.choices || []).find(function (x) { return x.id === port; });
      if (c) return c.title || c.id;
    }
    if (step.type === "condition" && port !== "else") {
      const b = (step.branches || []).find(function (x) { return x.id === port; });
      if (b) return [b.subject, label(O.op, b.op), b.op === "empty" || b.op === "not_empty" ? "" : b.value]
        .filter(Boolean).join(" ");
    }
    return cfg.ports[port] || port;
  }

  function defaults(type) {
    switch (type) {
      case "send": return { type: type, text: "", media_url: "" };
      case "ask": return { type: type, text: "", input: "text", var: "", retry_text: "" };
      case "condition": return { type: type, branches: [{ id: "c1", subject: "horario", op: "eq", value: "abierto" }] };
      case "set": return { type: type, target: "var", name: "", value: "" };
      case "lookup": return { type: type, what: "order", query: "" };
      case "create": return { type: type, what: "task", title: "" };
      case "knowledge": return { type: type, query: "", limit: 3, text: "" };
      case "http": return { type: type, method: "GET", url: "", body: "", timeout: 5, map: {} };
      case "wait": return { type: type, seconds: 60 };
      case "handoff": return { type: type, text: "", inbox: "", priority: "" };
      default: return { type: type, text: "" };
    }
  }

  function humanSeconds(seconds) {
    for (const size of [86400, 3600, 60, 1]) {
      if (seconds >= size && seconds % size === 0) {
        const n = seconds / size;
        return n + " " + (n === 1 ? T.unitOne[String(size)] : label(O.unit, String(size)));
      }
    }
    return seconds + " " + label(O.unit, "1");
  }

  function summary(step) {
    switch (step.type) {
      case "send": return step.text || (step.media_url ? fmt(T.media, step.media_url) : "");
      case "ask": case "end": return step.text || "";
      case "handoff": return step.text || (step.inbox ? fmt(T.toInbox, label(cfg.inboxes, step.inbox)) : "");
      case "condition": return "";
      case "set":
        if (step.target === "tag") return fmt(T.setTag, step.value || "");
        return fmt(step.target === "customer" ? T.setCustomer : T.setVar, { name: step.name || "…", value: step.value || "" });
      case "lookup": return label(O.lookup, step.what) + (step.query ? ": " + step.query : "");
      case "create": return label(O.create, step.what) + (step.title ? ": " + step.title : "");
      case "knowledge": return step.text || (step.query || T.lastAnswer);
      case "http": return (step.method || "GET") + " " + (step.url || "…");
      case "wait": return fmt(T.waitFor, humanSeconds(Number(step.seconds) || 0));
      default: return "";
    }
  }

  // What the server would refuse for sure, said before sending, with the field's name instead of its key.
  function missing(step) {
    switch (step.type) {
      case "send": return !step.text && !step.media_url ? F.text : "";
      case "ask":
        if (!step.text) return F.askText;
        if (step.input === "choice" && (step.choices || []).some(function (c) { return !c.title; })) return F.choiceTitle;
        return "";
      case "condition": return (step.branches || []).some(function (b) { return !b.subject; }) ? F.subject : "";
      case "set":
        if (step.target === "var" && !step.name) return F.varName;
        return step.target === "tag" && !step.value ? F.tagValue : "";
      case "lookup": return step.what === "product" && !step.query ? F.query : "";
      case "http": return !step.url ? F.url : "";
      default: return "";
    }
  }

  // --- Drawflow's document ↔ our graph -------------------------------------------------------------------------

  function nodes() { return editor.drawflow.drawflow.Home.data; }
  function nodeOf(dfId) { return nodes()[dfId]; }
  function dfIdOf(stepId) {
    return Object.keys(nodes()).find(function (k) { return nodes()[k].data.id === stepId; }) || null;
  }
  function stepIds() { return new Set(Object.values(nodes()).map(function (n) { return n.data.id; })); }
  function nodeElement(dfId) { return document.getElementById("node-" + dfId); }

  function strip(step) {
    const body = clone(step);
    delete body.next; delete body.x; delete body.y;
    return body;
  }

  function toGraph() {
    const data = nodes();
    const steps = {};
    Object.keys(data).forEach(function (dfId) {
      const n = data[dfId];
      const step = clone(n.data.step);
      step.x = Math.round(n.pos_x);
      step.y = Math.round(n.pos_y);
      step.next = {};
      ports(step).forEach(function (port, i) {
        const out = n.outputs["output_" + (i + 1)];
        const link = out && out.connections[0];
        if (link && data[link.node]) step.next[port] = data[link.node].data.id;
      });
      steps[n.data.id] = step;
    });
    return { start: steps[startId] ? startId : "", steps: steps };
  }

  // A graph written by hand or through the API may have no positions: steps are laid out by distance from the start.
  function layout(graph) {
    const steps = graph.steps || {};
    const ids = Object.keys(steps);
    const placed = ids.some(function (id) { return Number(steps[id].x) || Number(steps[id].y); });
    if (placed || ids.length < 2) return null;
    const depth = {}, queue = [];
    if (steps[graph.start]) { depth[graph.start] = 0; queue.push(graph.start); }
    while (queue.length) {
      const id = queue.shift();
      Object.values(steps[id].next || {}).forEach(function (to) {
        if (steps[to] && depth[to] === undefined) { depth[to] = depth[id] + 1; queue.push(to); }
      });
    }
    const perColumn = {}, spots = {};
    ids.forEach(function (id) {
      const column = depth[id] === undefined ? Math.max(0, ...Object.values(depth)) + 1 : depth[id];
      const row = perColumn[column] = (perColumn[column] || 0) + 1;
      spots[id] = { x: 40 + column * 300, y: 40 + (row - 1) * 190 };
    });
    return spots;
  }

  function toDrawflow(graph) {
    const steps = graph.steps || {};
    const spots = layout(graph);
    const ids = {}, data = {};
    Object.keys(steps).forEach(function (sid, i) { ids[sid] = String(i + 1); });
    Object.keys(steps).forEach(function (sid) {
      const step = steps[sid], id = ids[sid], outputs = {};
      ports(step).forEach(function (port, i) {
        const to = (step.next || {})[port];
        outputs["output_" + (i + 1)] = { connections: to && ids[to] ? [{ node: ids[to], output: "input_1" }] : [] };
      });
      data[id] = {
        id: Number(id), name: step.type, data: { id: sid, step: strip(step) }, class: nodeClass(step.type),
        html: SKELETON, typenode: false, inputs: { input_1: { connections: [] } }, outputs: outputs,
        pos_x: spots ? spots[sid].x : Number(step.x) || 0, pos_y: spots ? spots[sid].y : Number(step.y) || 0,
      };
    });
    Object.keys(data).forEach(function (id) {
      Object.entries(data[id].outputs).forEach(function ([outputClass, out]) {
        out.connections.forEach(function (c) { data[c.node].inputs.input_1.connections.push({ node: id, input: outputClass }); });
      });
    });
    return { drawflow: { Home: { data: data } } };
  }

  function nodeClass(type) { return "bot-node bot-t-" + type; }

  // --- drawing a node ------------------------------------------------------------------------------------------

  function fillNode(dfId) {
    const n = nodeOf(dfId), element = nodeElement(dfId);
    if (!n || !element) return;
    const step = n.data.step;
    const box = element.querySelector(".drawflow_content_node");
    const text = summary(step);
    const lacking = missing(step);
    box.replaceChildren.apply(box, [
      el("div", { class: "bn-head" }, [
        el("span", { class: "bn-type", text: cfg.types[step.type] || step.type }),
        n.data.id === startId ? el("span", { class: "bn-start", text: T.start }) : null,
      ]),
      el("div", { class: "bn-id", text: n.data.id }),
      text ? el("div", { class: "bn-text", text: text }) : null,
      lacking ? el("div", { class: "bn-text bn-empty", text: fmt(T.fill, lacking) }) : null,
    ].filter(Boolean));
    element.classList.toggle("is-start", n.data.id === startId);
    element.setAttribute("tabindex", "0");
    element.setAttribute("aria-label", fmt(T.stepOf, n.data.id) + " · " + (cfg.types[step.type] || step.type));
    labelOutputs(dfId);
    editor.updateConnectionNodes("node-" + dfId);
  }

  function labelOutputs(dfId) {
    const n = nodeOf(dfId), element = nodeElement(dfId);
    if (!n || !element) return;
    ports(n.data.step).forEach(function (port, i) {
      const output = element.querySelector(".outputs .output_" + (i + 1));
      if (!output) return;
      const text = portLabel(n.data.step, port);
      output.dataset.label = text;
      output.title = text;
      const out = n.outputs["output_" + (i + 1)];
      output.classList.toggle("is-open", !out || out.connections.length === 0);
    });
  }

  function fillAll() { Object.keys(nodes()).forEach(fillNode); }

  // Keeps the node's outputs in step with its ports after an edit (a choice added, removed or reordered): links
  // follow their port, wherever it now sits. `before` is the list of ports before the edit, renamed ports already
  // replaced by their new name.
  function syncOutputs(dfId, before) {
    const step = nodeOf(dfId).data.step, after = ports(step);
    if (before.length === after.length && before.every(function (p, i) { return p === after[i]; })) {
      labelOutputs(dfId);
      return;
    }
    const targets = {};
    before.forEach(function (port, i) {
      const out = nodeOf(dfId).outputs["output_" + (i + 1)];
      if (out && out.connections[0]) targets[port] = out.connections[0].node;
    });
    for (let i = before.length; i >= 1; i--) {
      if (nodeOf(dfId).outputs["output_" + i]) editor.removeNodeOutput(dfId, "output_" + i);
    }
    after.forEach(function () { editor.addNodeOutput(dfId); });
    after.forEach(function (port, i) {
      if (targets[port] && nodes()[targets[port]]) editor.addConnection(dfId, targets[port], "output_" + (i + 1), "input_1");
    });
    labelOutputs(dfId);
    editor.updateConnectionNodes("node-" + dfId);
  }

  // --- dirty state, the graph field, the start select -----------------------------------------------------------

  function refreshGraphFields() {
    const json = JSON.stringify(toGraph());
    document.querySelectorAll("[data-graph-input]").forEach(function (input) { input.value = json; });
  }

  function setDirty(value) {
    dirty = value;
    if (dirtyNote) dirtyNote.hidden = !dirty;
  }

  function changed() {
    if (loading) return;
    setDirty(true);
    refreshGraphFields();
    refreshStart();
    refreshEmpty();
    if (openNode && nodeOf(openNode)) renderLinks(openNode);
  }

  function refreshStart() {
    if (!startSelect) return;
    const ids = Object.values(nodes()).map(function (n) { return n.data; })
      .sort(function (a, b) { return a.id.localeCompare(b.id); });
    if (startId && !ids.some(function (d) { return d.id === startId; })) startId = "";
    const options = [el("option", { value: "", text: T.noStart })].concat(ids.map(function (d) {
      return el("option", { value: d.id, text: d.id + " · " + (cfg.types[d.step.type] || d.step.type) });
    }));
    startSelect.replaceChildren.apply(startSelect, options);
    startSelect.value = startId;
  }

  function refreshEmpty() {
    if (!emptyNote) return;
    const empty = Object.keys(nodes()).length === 0;
    emptyNote.hidden = !empty;
    emptyNote.textContent = empty ? (readOnly ? T.emptyReadOnly : T.empty) : "";
  }

  function markProblems() {
    document.querySelectorAll(".bot-node.has-problem").forEach(function (n) { n.classList.remove("has-problem"); });
    document.querySelectorAll("[data-problem-step][data-blocking]").forEach(function (item) {
      const dfId = dfIdOf(item.dataset.problemStep);
      const element = dfId && nodeElement(dfId);
      if (element) element.classList.add("has-problem");
    });
  }

  // --- the view: zoom, fit, centring ----------------------------------------------------------------------------

  function applyView(zoom, x, y) {
    editor.zoom = zoom;
    editor.zoom_last_value = zoom;
    editor.canvas_x = x;
    editor.canvas_y = y;
    editor.precanvas.style.transform = "translate(" + x + "px, " + y + "px) scale(" + zoom + ")";
  }

  // Drawflow scales around the canvas' centre: a point p of the diagram shows at centre + translate + (p - centre)·zoom.
  function showBox(left, top, right, bottom, maxZoom) {
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    const zoom = Math.max(editor.zoom_min, Math.min(maxZoom, (width - 60) / Math.max(1, right - left),
      (height - 60) / Math.max(1, bottom - top)));
    applyView(zoom, -((left + right) / 2 - width / 2) * zoom, -((top + bottom) / 2 - height / 2) * zoom);
  }

  // The whole diagram (the "fit" button), or on opening a readable part of it: never smaller than READABLE, the
  // left end (where the start usually is) in view when it does not fit.
  const READABLE = 0.7;
  function fit(readable) {
    const all = Object.keys(nodes());
    if (!all.length) { applyView(1, 0, 0); return; }
    let left = Infinity, top = Infinity, right = -Infinity, bottom = -Infinity;
    all.forEach(function (dfId) {
      const n = nodeOf(dfId), element = nodeElement(dfId);
      left = Math.min(left, n.pos_x - 20);
      top = Math.min(top, n.pos_y);
      right = Math.max(right, n.pos_x + (element ? element.offsetWidth : 240) + 20);
      bottom = Math.max(bottom, n.pos_y + (element ? element.offsetHeight : 120));
    });
    const width = canvas.clientWidth, height = canvas.clientHeight;
    const whole = Math.min(1, (width - 60) / Math.max(1, right - left), (height - 60) / Math.max(1, bottom - top));
    if (!readable || whole >= READABLE) { showBox(left, top, right, bottom, 1); return; }
    const zoom = READABLE;
    const start = dfIdOf(startId) && nodeOf(dfIdOf(startId));
    const cy = start ? start.pos_y + 60 : (top + bottom) / 2;
    applyView(zoom, -(left + (width / 2 - 30) / zoom - width / 2) * zoom, -(cy - height / 2) * zoom);
  }

  function centreOn(dfId) {
    const n = nodeOf(dfId), element = nodeElement(dfId);
    if (!n || !element) return;
    const zoom = editor.zoom, width = canvas.clientWidth, height = canvas.clientHeight;
    const cx = n.pos_x + element.offsetWidth / 2, cy = n.pos_y + element.offsetHeight / 2;
    applyView(zoom, -(cx - width / 2) * zoom, -(cy - height / 2) * zoom);
  }

  // Where a new step goes: the free place on screen nearest to its middle (a grid of candidates, each checked
  // against every step's box with room for the arrows); when the screen is full, the first free place beyond it.
  function freeSpot() {
    const frame = editor.precanvas.getBoundingClientRect(), box = canvas.getBoundingClientRect(), zoom = editor.zoom;
    const W = 240, H = 130;
    const left = (box.left - frame.left) / zoom + 20, top = (box.top - frame.top) / zoom + 20;
    const right = (box.right - frame.left) / zoom - W - 20, bottom = (box.bottom - frame.top) / zoom - H - 20;
    const cx = (left + right) / 2, cy = (top + bottom) / 2;
    const boxes = Object.keys(nodes()).map(function (dfId) {
      const n = nodeOf(dfId), element = nodeElement(dfId);
      return [n.pos_x, n.pos_y, element ? element.offsetWidth : W, element ? element.offsetHeight : H];
    });
    function free(x, y) {
      return boxes.every(function ([bx, by, bw, bh]) {
        return x + W + 30 < bx || x > bx + bw + 30 || y + H + 20 < by || y > by + bh + 20;
      });
    }
    const spots = [];
    for (let x = left; x <= Math.max(left, right); x += 30) {
      for (let y = top; y <= Math.max(top, bottom); y += 30) spots.push([x, y]);
    }
    spots.sort(function (a, b) { return Math.hypot(a[0] - cx, a[1] - cy) - Math.hypot(b[0] - cx, b[1] - cy); });
    const found = spots.find(function ([x, y]) { return free(x, y); });
    if (found) return { x: Math.round(found[0]), y: Math.round(found[1]) };
    let x = Math.round(cx), y = Math.round(cy);
    for (let i = 0; i < 200 && !free(x, y); i++) x += 60;
    return { x: x, y: y };
  }

  // --- selecting, adding, removing steps ------------------------------------------------------------------------

  function select(dfId) {
    const element = nodeElement(dfId);
    if (!element) return;
    if (!readOnly) {
      if (editor.node_selected && editor.node_selected !== element) editor.node_selected.classList.remove("selected");
      editor.node_selected = element;
      editor.first_click = element;  // Drawflow's Delete key reads it
      element.classList.add("selected");
    }
    openForm(dfId);
  }

  function addStep(type, base) {
    const count = Object.keys(nodes()).length;
    if (count >= L.steps) { say(fmt(T.tooMany, L.steps), false); return; }
    const step = base ? clone(base) : defaults(type);
    const prefix = slug(cfg.types[type]).split("-")[0] || type;
    const sid = unique(prefix + "-" + (count + 1), stepIds(), []);
    const spot = freeSpot();
    const dfId = String(editor.addNode(type, 1, ports(step).length, spot.x, spot.y, nodeClass(type),
      { id: sid, step: step }, SKELETON));
    stepIdCache[dfId] = sid;
    if (!startId) startId = sid;
    fillNode(dfId);
    changed();
    select(dfId);
    const shown = nodeElement(dfId).getBoundingClientRect(), frame = canvas.getBoundingClientRect();
    if (shown.left < frame.left || shown.right > frame.right || shown.top < frame.top || shown.bottom > frame.bottom) {
      centreOn(dfId);  // no room on screen: it went beyond, and the view follows it
    }
    return dfId;
  }

  function removeStep(dfId) {
    editor.removeNodeId("node-" + dfId);
  }

  // --- the step's form ------------------------------------------------------------------------------------------

  function field(text, control, help) {
    const id = "bot-f-" + (++uid);
    control.id = id;
    const parts = [el("label", { for: id, text: text }), control];
    if (help) {
      const note = el("p", { class: "helptext", id: id + "-help", text: help });
      control.setAttribute("aria-describedby", note.id);
      parts.push(note);
    }
    return el("div", { class: "bot-field" }, parts);
  }

  function input(value, onInput, attrs) {
    const control = el((attrs && attrs.multiline) ? "textarea" : "input", {
      maxlength: attrs && attrs.maxlength, rows: attrs && attrs.multiline ? attrs.rows || 3 : null,
      type: attrs && attrs.type, min: attrs && attrs.min, max: attrs && attrs.max, inputmode: attrs && attrs.inputmode,
      placeholder: attrs && attrs.placeholder, list: attrs && attrs.list, autocomplete: "off",
    });
    control.value = value === undefined || value === null ? "" : String(value);
    control.addEventListener("input", function () { onInput(control.value, control); });
    return control;
  }

  function choose(pairs, value, onChange) {
    const control = el("select", {}, pairs.map(function (p) { return el("option", { value: p[0], text: p[1] }); }));
    control.value = value === undefined || value === null ? "" : String(value);
    control.addEventListener("change", function () { onChange(control.value); });
    return control;
  }

  // One edit of the open step: redraw its node, keep outputs and links in step, mark the diagram changed.
  function edit(dfId, mutate, options) {
    const step = nodeOf(dfId).data.step;
    const before = ports(step);
    const renamed = mutate(step) || {};
    syncOutputs(dfId, before.map(function (p) { return renamed[p] || p; }));
    fillNode(dfId);
    changed();
    if (options && options.rebuild) openForm(dfId, options.focus);
  }

  function openForm(dfId, focusSelector) {
    const n = nodeOf(dfId);
    if (!n) { closeForm(); return; }
    openNode = dfId;
    const step = n.data.step;
    const body = el("fieldset", { class: "bot-plain" });
    if (readOnly) body.disabled = true;
    body.append(el("legend", { class: "visually-hidden", text: cfg.types[step.type] }));
    const head = el("div", { class: "bot-form-head bot-t-" + step.type }, [el("h2", { text: cfg.types[step.type] || step.type })]);

    const idInput = input(n.data.id, function () {}, { maxlength: 40 });
    const idError = el("p", { class: "bot-field-error", role: "alert" });
    idInput.addEventListener("change", function () {
      const wanted = idInput.value.trim();
      idError.textContent = "";
      if (wanted === n.data.id) return;
      if (!STEP_ID.test(wanted)) { idError.textContent = F.idHelp; idInput.value = n.data.id; return; }
      if (stepIds().has(wanted)) { idError.textContent = F.idTaken; idInput.value = n.data.id; return; }
      if (startId === n.data.id) startId = wanted;
      n.data.id = wanted;
      stepIdCache[dfId] = wanted;
      fillNode(dfId);
      changed();
    });
    const idField = field(F.id, idInput, F.idHelp);
    idField.append(idError);
    body.append(idField);

    const builders = {
      send: sendFields, ask: askFields, condition: conditionFields, set: setFields, lookup: lookupFields,
      create: createFields, knowledge: knowledgeFields, http: httpFields, wait: waitFields, handoff: handoffFields,
      end: endFields,
    };
    (builders[step.type] || endFields)(dfId, step, body);

    const links = el("fieldset", { class: "bot-links", "data-links": "" });
    body.append(links);
    if (!readOnly) {
      body.append(el("div", { class: "bot-step-actions" }, [
        el("button", { type: "button", class: "btn", "data-duplicate": dfId, text: T.duplicateStep }),
        el("button", { type: "button", class: "btn-link bot-danger-link", "data-remove": dfId, "data-testid": "bot-remove-step", text: T.deleteStep }),
      ]));
    }
    formRoot.replaceChildren(head, body);
    renderLinks(dfId);
    showTab("step");
    if (focusSelector) {
      const target = formRoot.querySelector(focusSelector);
      if (target) target.focus();
    }
  }

  function closeForm() {
    openNode = null;
    formRoot.replaceChildren(el("p", { class: "muted m-0", text: readOnly ? T.noSelectionReadOnly : T.noSelection }));
  }

  // "Sigue con": one select per port, the keyboard's way to draw the arrows.
  function renderLinks(dfId) {
    const box = formRoot.querySelector("[data-links]");
    const n = nodeOf(dfId);
    if (!box || !n) return;
    const step = n.data.step, list = ports(step);
    if (!list.length) { box.replaceChildren(); return; }
    const others = Object.keys(nodes()).filter(function (k) { return k !== dfId; })
      .map(function (k) { return [k, nodeOf(k).data.id + " · " + (cfg.types[nodeOf(k).data.step.type] || "")]; })
      .sort(function (a, b) { return a[1].localeCompare(b[1]); });
    const rows = list.map(function (port, i) {
      const outputClass = "output_" + (i + 1);
      const out = n.outputs[outputClass];
      const current = out && out.connections[0] ? out.connections[0].node : "";
      const control = choose([["", "—"]].concat(others), current, function (value) {
        (nodeOf(dfId).outputs[outputClass].connections || []).slice().forEach(function (c) {
          editor.removeSingleConnection(dfId, c.node, outputClass, c.output);
        });
        if (value) editor.addConnection(dfId, value, outputClass, "input_1");
        labelOutputs(dfId);
        changed();
      });
      const id = "bot-f-" + (++uid);
      control.id = id;
      control.dataset.port = port;
      return el("div", { class: "bot-link" }, [el("label", { for: id, text: portLabel(step, port) + " →" }), control]);
    });
    const focused = document.activeElement && box.contains(document.activeElement) ? document.activeElement.dataset.port : null;
    box.replaceChildren.apply(box, [el("legend", { text: F.links })].concat(rows));
    if (focused) {
      const again = box.querySelector("select[data-port=\"" + CSS.escape(focused) + "\"]");
      if (again) again.focus();
    }
  }

  function textField(dfId, step, body, key, title, opts) {
    body.append(field(title, input(step[key], function (value, control) {
      if (opts && opts.variable) {
        // a variable's name: lowercase letters, digits and "_" (bots.spec VAR_NAME), fixed as it is typed
        const clean = value.toLowerCase().normalize("NFD").replace(/[\u0300-\u036f]/g, "").replace(/[^a-z0-9_]/g, "_");
        if (clean !== value) { control.value = clean; value = clean; }
      }
      edit(dfId, function (s) { s[key] = value; });
    }, Object.assign({ maxlength: L.text }, opts || {})), opts && opts.help));
  }

  function sendFields(dfId, step, body) {
    textField(dfId, step, body, "text", F.text, { multiline: true, rows: 4, help: F.textHelp });
    textField(dfId, step, body, "media_url", F.mediaUrl, { maxlength: 500, type: "url", placeholder: "https://" });
    if (step.media_url) {
      body.append(field(F.mediaKind, choose(O.mediaKind, step.media_kind || "image", function (value) {
        edit(dfId, function (s) { s.media_kind = value; });
      })));
    }
  }

  function askFields(dfId, step, body) {
    textField(dfId, step, body, "text", F.askText, { multiline: true, rows: 3, help: F.textHelp });
    body.append(field(F.input, choose(O.input, step.input || "text", function (value) {
      edit(dfId, function (s) {
        s.input = value;
        if (value === "choice" && !(s.choices || []).length) s.choices = [{ id: "opcion-1", title: "" }];
        if (value !== "choice") delete s.choices;
      }, { rebuild: true });
    })));
    if (step.input === "choice") body.append(choiceRows(dfId, step));
    textField(dfId, step, body, "var", F.var, { maxlength: L.var, help: F.varHelp, variable: true });
    textField(dfId, step, body, "retry_text", F.retryText, { multiline: true, rows: 2, help: F.retryHelp });
  }

  function addChoice(dfId) {
    edit(dfId, function (s) {
      s.choices = s.choices || [];
      const taken = new Set(s.choices.map(function (c) { return c.id; }));
      s.choices.push({ id: unique("opcion-" + (s.choices.length + 1), taken, RESERVED_PORTS), title: "" });
    }, { rebuild: true });
    const titles = formRoot.querySelectorAll("[data-choice-title]");
    if (titles.length) titles[titles.length - 1].focus();
  }

  function choiceRows(dfId, step) {
    const rows = (step.choices || []).map(function (choice, index) {
      const title = input(choice.title, function (value) {
        edit(dfId, function (s) {
          const c = s.choices[index], old = c.id;
          c.title = value;
          const taken = new Set(s.choices.filter(function (_x, i) { return i !== index; }).map(function (x) { return x.id; }));
          c.id = unique(slug(value) || "opcion-" + (index + 1), taken, RESERVED_PORTS);
          const renamed = {};
          renamed[old] = c.id;
          return renamed;
        });
      }, { maxlength: L.choiceTitle });
      title.dataset.choiceTitle = "";
      const tid = "bot-f-" + (++uid);
      title.id = tid;
      const remove = el("button", { type: "button", class: "btn-link", text: F.remove });
      remove.addEventListener("click", function () {
        edit(dfId, function (s) { s.choices.splice(index, 1); }, { rebuild: true });
      });
      return el("div", { class: "bot-row" }, [
        el("div", { class: "bot-row-fields" }, [el("div", {}, [el("label", { for: tid, text: F.choiceTitle + " " + (index + 1) }), title])]),
        (step.choices.length > 1) ? remove : null,
      ]);
    });
    const add = el("button", { type: "button", class: "btn", text: F.addChoice, "data-testid": "bot-add-choice" });
    add.disabled = (step.choices || []).length >= L.choices;
    add.addEventListener("click", function () { addChoice(dfId); });
    return el("fieldset", {}, [el("legend", { text: F.choices }), el("div", { class: "bot-rows" }, rows.concat([el("div", {}, [add])]))]);
  }

  function conditionFields(dfId, step, body) {
    const listId = "bot-subjects-" + (++uid);
    const vars = new Set();
    Object.values(nodes()).forEach(function (n) {
      const s = n.data.step;
      if (s.type === "ask" && s.var) vars.add("var." + s.var);
      if (s.type === "set" && s.target === "var" && s.name) vars.add("var." + s.name);
      if (s.type === "http") Object.keys(s.map || {}).forEach(function (k) { vars.add("var." + k); });
      if (s.type === "lookup") ["pedido_numero", "pedido_estado", "pedido_total", "pedido_fecha", "producto_nombre",
        "producto_precio", "producto_stock"].forEach(function (k) { vars.add("var." + k); });
    });
    const suggestions = el("datalist", { id: listId }, Array.from(vars).concat(O.subjects).map(function (s) { return el("option", { value: s }); }));
    const rows = (step.branches || []).map(function (branch, index) {
      const parts = [];
      const subject = input(branch.subject, function (value) {
        edit(dfId, function (s) { s.branches[index].subject = value.trim(); });
      }, { maxlength: 60, list: listId });
      const op = choose(O.op, branch.op || "eq", function (value) {
        edit(dfId, function (s) { s.branches[index].op = value; }, { rebuild: true });
      });
      const value = input(branch.value, function (v) {
        edit(dfId, function (s) { s.branches[index].value = v; });
      }, { maxlength: 200 });
      [[F.subject, subject], [F.op, op], [F.value, value]].forEach(function ([text, control]) {
        if (control === value && (branch.op === "empty" || branch.op === "not_empty")) return;
        const id = "bot-f-" + (++uid);
        control.id = id;
        parts.push(el("div", {}, [el("label", { for: id, text: text }), control]));
      });
      const remove = el("button", { type: "button", class: "btn-link", text: F.remove });
      remove.addEventListener("click", function () {
        edit(dfId, function (s) { s.branches.splice(index, 1); }, { rebuild: true });
      });
      return el("div", { class: "bot-row" }, [el("div", { class: "bot-row-fields" }, parts), step.branches.length > 1 ? remove : null]);
    });
    const add = el("button", { type: "button", class: "btn", text: F.addBranch });
    add.disabled = (step.branches || []).length >= L.branches;
    add.addEventListener("click", function () {
      edit(dfId, function (s) {
        const taken = new Set(s.branches.map(function (b) { return b.id; }));
        s.branches.push({ id: unique("c" + (s.branches.length + 1), taken, RESERVED_PORTS), subject: "", op: "eq", value: "" });
      }, { rebuild: true });
    });
    body.append(el("fieldset", {}, [
      el("legend", { text: F.branches }), el("p", { class: "helptext m-0", text: F.branchesHelp + " " + F.subjectHelp }),
      suggestions, el("div", { class: "bot-rows" }, rows.concat([el("div", {}, [add])])),
    ]));
  }

  function setFields(dfId, step, body) {
    body.append(field(F.target, choose(O.target, step.target || "var", function (value) {
      edit(dfId, function (s) {
        s.target = value;
        s.name = value === "customer" ? "name" : value === "tag" ? "customer" : "";
      }, { rebuild: true });
    })));
    if (step.target === "customer") {
      body.append(field(F.customerField, choose(O.customerField, step.name || "name", function (value) {
        edit(dfId, function (s) { s.name = value; });
      })));
    } else if (step.target === "tag") {
      body.append(field(F.tagTarget, choose(O.tagTarget, step.name || "customer", function (value) {
        edit(dfId, function (s) { s.name = value; });
      })));
    } else {
      textField(dfId, step, body, "name", F.varName, { maxlength: L.var, help: F.varHelp, variable: true });
    }
    textField(dfId, step, body, "value", step.target === "tag" ? F.tagValue : F.setValue, { maxlength: 200, help: F.textHelp });
  }

  function lookupFields(dfId, step, body) {
    body.append(field(F.what, choose(O.lookup, step.what || "order", function (value) {
      edit(dfId, function (s) { s.what = value; });
    })));
    textField(dfId, step, body, "query", F.query, { maxlength: 200, help: F.queryHelp });
  }

  function createFields(dfId, step, body) {
    body.append(field(F.createWhat, choose(O.create, step.what || "task", function (value) {
      edit(dfId, function (s) { s.what = value; });
    })));
    textField(dfId, step, body, "title", F.title, { maxlength: 250, help: F.textHelp });
  }

  function knowledgeFields(dfId, step, body) {
    textField(dfId, step, body, "text", F.knowledgeText, { multiline: true, rows: 2 });
    textField(dfId, step, body, "query", F.knowledgeQuery, { maxlength: 200, help: F.knowledgeQueryHelp });
    body.append(field(F.limit, choose([["1", "1"], ["2", "2"], ["3", "3"]], String(step.limit || 3), function (value) {
      edit(dfId, function (s) { s.limit = Number(value); });
    })));
  }

  function httpFields(dfId, step, body) {
    body.append(el("div", { class: "bot-form-row" }, [
      field(F.method, choose(O.method, step.method || "GET", function (value) { edit(dfId, function (s) { s.method = value; }); })),
      field(F.timeout, input(step.timeout || 5, function (value) {
        edit(dfId, function (s) { s.timeout = Math.max(1, Math.min(L.httpTimeout, parseInt(value, 10) || 5)); });
      }, { type: "number", min: 1, max: L.httpTimeout, inputmode: "numeric" })),
    ]));
    textField(dfId, step, body, "url", F.url, { maxlength: 500, type: "url", placeholder: "https://" });
    textField(dfId, step, body, "body", F.body, { multiline: true, rows: 3, maxlength: 2000 });
    const entries = Object.entries(step.map || {});
    function writeMap(rows) {
      edit(dfId, function (s) {
        s.map = {};
        rows.forEach(function ([k, v]) { if (k) s.map[k] = v; });
      });
    }
    const rows = entries.map(function ([key, path], index) {
      const k = input(key, function (value, control) {
        const clean = value.toLowerCase().replace(/[^a-z0-9_]/g, "_");
        if (clean !== value) control.value = clean;
        entries[index][0] = clean;
        writeMap(entries);
      }, { maxlength: L.var });
      const p = input(path, function (value) { entries[index][1] = value.trim(); writeMap(entries); }, { maxlength: 200 });
      const kid = "bot-f-" + (++uid), pid = "bot-f-" + (++uid);
      k.id = kid; p.id = pid;
      const remove = el("button", { type: "button", class: "btn-link", text: F.remove });
      remove.addEventListener("click", function () { entries.splice(index, 1); writeMap(entries); openForm(dfId); });
      return el("div", { class: "bot-row" }, [el("div", { class: "bot-row-fields" }, [
        el("div", {}, [el("label", { for: kid, text: F.mapVar }), k]), el("div", {}, [el("label", { for: pid, text: F.mapPath }), p]),
      ]), remove]);
    });
    const add = el("button", { type: "button", class: "btn", text: F.addMap });
    add.disabled = entries.length >= L.map;
    add.addEventListener("click", function () {
      const taken = new Set(entries.map(function (e) { return e[0]; }));
      entries.push([unique("dato" + (entries.length + 1), taken, []).replace(/-/g, "_"), "datos.valor"]);
      writeMap(entries);
      openForm(dfId);
    });
    body.append(el("fieldset", {}, [el("legend", { text: F.map }), el("p", { class: "helptext m-0", text: F.mapHelp }),
      el("div", { class: "bot-rows" }, rows.concat([el("div", {}, [add])]))]));
  }

  function waitFields(dfId, step, body) {
    const seconds = Number(step.seconds) || 60;
    const unit = [86400, 3600, 60, 1].find(function (u) { return seconds % u === 0; }) || 1;
    const amount = input(seconds / unit, function () { write(); }, { type: "number", min: 1, inputmode: "numeric" });
    const unitSelect = choose(O.unit, String(unit), function () { write(); });
    function write() {
      const value = Math.max(1, Math.min(L.wait, (parseInt(amount.value, 10) || 1) * Number(unitSelect.value)));
      edit(dfId, function (s) { s.seconds = value; });
    }
    body.append(el("div", { class: "bot-form-row" }, [field(F.wait, amount), field(F.unit, unitSelect)]));
  }

  function handoffFields(dfId, step, body) {
    textField(dfId, step, body, "text", F.handoffText, { multiline: true, rows: 3, help: F.textHelp });
    body.append(field(F.inbox, choose([["", F.inboxSame]].concat(cfg.inboxes), step.inbox || "", function (value) {
      edit(dfId, function (s) { s.inbox = value; });
    })));
    body.append(field(F.priority, choose(O.priority, step.priority || "", function (value) {
      edit(dfId, function (s) { s.priority = value; });
    })));
  }

  function endFields(dfId, step, body) {
    textField(dfId, step, body, "text", F.endText, { multiline: true, rows: 3, help: F.textHelp });
  }

  // --- tabs -----------------------------------------------------------------------------------------------------

  const tabs = Array.from(document.querySelectorAll(".bot-tabs [role=tab]"));
  function showTab(name) {
    tabs.forEach(function (tab) {
      const on = tab.id === "bot-tab-" + name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      document.getElementById(tab.getAttribute("aria-controls")).hidden = !on;
    });
  }
  tabs.forEach(function (tab, index) {
    tab.addEventListener("click", function () { showTab(tab.id.replace("bot-tab-", "")); });
    tab.addEventListener("keydown", function (ev) {
      if (ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") return;
      const next = tabs[(index + (ev.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.focus();
      showTab(next.id.replace("bot-tab-", ""));
    });
  });

  // --- feedback -------------------------------------------------------------------------------------------------

  function say(message, ok) {
    const box = document.getElementById("flow-feedback");
    if (!box) return;
    box.replaceChildren(el("p", { class: "msg " + (ok ? "msg-success" : "msg-error"), role: ok ? null : "alert", text: message }));
  }

  // --- events ---------------------------------------------------------------------------------------------------

  editor.on("nodeSelected", function (dfId) { openForm(String(dfId)); });
  editor.on("nodeRemoved", function (dfId) {
    const sid = stepIdCache[dfId];
    delete stepIdCache[dfId];
    if (sid && sid === startId) startId = "";
    if (openNode === String(dfId)) closeForm();
    changed();
  });
  editor.on("nodeMoved", changed);
  editor.on("connectionCreated", function (c) {
    // a port leads to one step: a new arrow from it replaces the old one
    const out = nodeOf(c.output_id).outputs[c.output_class];
    out.connections.slice().forEach(function (link) {
      if (link.node !== String(c.input_id)) editor.removeSingleConnection(c.output_id, link.node, c.output_class, link.output);
    });
    labelOutputs(String(c.output_id));
    changed();
  });
  editor.on("connectionRemoved", function (c) {
    labelOutputs(String(c.output_id));
    changed();
  });

  // read-only: Drawflow's "view" mode only pans, so a click opens the step's (disabled) form
  canvas.addEventListener("click", function (ev) {
    const element = ev.target.closest && ev.target.closest(".drawflow-node");
    if (element && readOnly) openForm(element.id.slice(5));
  });
  canvas.addEventListener("keydown", function (ev) {
    const element = ev.target.closest && ev.target.closest(".drawflow-node");
    if (element && (ev.key === "Enter" || ev.key === " ")) {
      ev.preventDefault();
      select(element.id.slice(5));
    }
  });

  document.addEventListener("click", function (ev) {
    const target = ev.target instanceof Element ? ev.target : null;
    if (!target) return;
    const adder = target.closest("[data-add-step]");
    if (adder) { addStep(adder.dataset.addStep); return; }
    const zoom = target.closest("[data-zoom]");
    if (zoom) {
      if (zoom.dataset.zoom === "in") editor.zoom_in();
      else if (zoom.dataset.zoom === "out") editor.zoom_out();
      else fit(false);
      return;
    }
    const jump = target.closest("[data-select-step]");
    if (jump) {
      const dfId = dfIdOf(jump.dataset.selectStep);
      if (dfId) { centreOn(dfId); select(dfId); }
      return;
    }
    const remove = target.closest("[data-remove]");
    if (remove) { removeStep(remove.dataset.remove); return; }
    const duplicate = target.closest("[data-duplicate]");
    if (duplicate) {
      const n = nodeOf(duplicate.dataset.duplicate);
      if (n) addStep(n.data.step.type, n.data.step);
      return;
    }
    const exporter = target.closest("[data-export]");
    if (exporter && dirty && !window.confirm(T.exportDirty)) ev.preventDefault();
  });

  if (startSelect) {
    startSelect.addEventListener("change", function () {
      startId = startSelect.value;
      fillAll();
      changed();
    });
  }

  // Every htmx request of the editor carries the diagram on screen; a save refused here never leaves.
  document.addEventListener("htmx:config:request", function (ev) {
    const ctx = ev.detail && ev.detail.ctx;
    const body = ctx && ctx.request && ctx.request.body;
    if (!body || typeof body.has !== "function" || !body.has("graph")) return;
    const graph = toGraph();
    const source = ctx.sourceElement;
    if (source && source.closest && source.closest("#flow-actions")) {
      for (const sid of Object.keys(graph.steps)) {
        const lacking = missing(graph.steps[sid]);
        if (lacking) {
          ev.preventDefault();
          say(fmt(T.missing, { step: sid, field: lacking }), false);
          const dfId = dfIdOf(sid);
          if (dfId) { centreOn(dfId); select(dfId); }
          return;
        }
      }
    }
    body.set("graph", JSON.stringify(graph));
  });

  document.addEventListener("htmx:after:swap", function () {
    const feedback = document.getElementById("flow-feedback");
    if (feedback && feedback.querySelector("[data-saved]")) {
      feedback.querySelector("[data-saved]").removeAttribute("data-saved");
      setDirty(false);
    }
    markProblems();
    const chat = document.querySelector("#bot-sim-body .bot-chat");
    if (chat) {
      chat.scrollTop = chat.scrollHeight;
      document.querySelectorAll(".bot-node.is-current").forEach(function (n) { n.classList.remove("is-current"); });
      const current = chat.dataset.simStep && dfIdOf(chat.dataset.simStep);
      if (current && nodeElement(current)) nodeElement(current).classList.add("is-current");
    }
  });
  document.addEventListener("htmx:after:swap", function (ev) {
    // the simulator's answer replaced the box the tester typed in: the next message goes in the new one
    const source = ev.detail && ev.detail.ctx && ev.detail.ctx.sourceElement;
    const box = document.getElementById("sim-message");
    if (box && source && source.closest && source.closest("#bot-sim-form")) box.focus();
  });

  // Ctrl+S / ⌘S saves the diagram instead of saving the page to disk
  document.addEventListener("keydown", function (ev) {
    if (!(ev.ctrlKey || ev.metaKey) || ev.key.toLowerCase() !== "s") return;
    const save = document.querySelector("#flow-actions [hx-put]");
    if (!save) return;
    ev.preventDefault();
    save.click();
  });

  window.addEventListener("beforeunload", function (ev) {
    if (!dirty) return;
    ev.preventDefault();
    ev.returnValue = T.leave;
  });

  // --- start ----------------------------------------------------------------------------------------------------

  editor.import(toDrawflow(initial));
  Object.keys(nodes()).forEach(function (dfId) { stepIdCache[dfId] = nodes()[dfId].data.id; });
  fillAll();
  refreshStart();
  refreshEmpty();
  refreshGraphFields();
  closeForm();
  markProblems();
  // after layout: the nodes' sizes are known, so the whole diagram fits the view
  window.requestAnimationFrame(function () { fit(true); Object.keys(nodes()).forEach(function (id) { editor.updateConnectionNodes("node-" + id); }); });
  if (window.matchMedia && window.matchMedia("(max-width: 800px)").matches) showTab("sim");
  loading = false;
})();
