// The agent workspace: list | conversation | context, live and in place.
// - Forms marked data-inplace are sent by htmx (swap "none"): the server answers only the regions that changed
//   (inbox/_inplace.html: out-of-band header, new timeline items, the list row, a status line) and the page
//   never reloads. A button with its own formaction (a connector's special send) keeps the normal submit.
// - "centralita:conversation" realtime events update the list row, the folder counts and the open
//   conversation (new messages, history sentences in the reader's language, state and owner) without requests.
// - People pickers (inbox/_picker.html) are comboboxes whose options come from the server.
// - Keyboard: j/k, Enter, r, n, a, e, Ctrl+Enter, /, ? (inbox/workspace.html lists them).
// Everything is delegated from document, so it keeps working after htmx swaps and history restores.
(function () {
  "use strict";
  const labelsNode = document.getElementById("inbox-labels");
  const labels = labelsNode ? JSON.parse(labelsNode.textContent) : { states: {}, delivery: {}, units: {} };
  const lang = (document.documentElement.lang || "es").slice(0, 2);
  const OPEN = ["nueva", "pendiente", "en_espera", "escalada"];
  const TICKS = { sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" };
  // Lucide icons rendered by the page (<template id="icon-…">): emoji would be empty boxes without an emoji font.
  function icon(name) {
    const t = document.getElementById("icon-" + name);
    return t && t.content.firstElementChild ? t.content.firstElementChild.cloneNode(true) : document.createTextNode("");
  }
  window.centralitaInbox = window.centralitaInbox || {};
  window.centralitaInbox.bodyRenderers = window.centralitaInbox.bodyRenderers || {};

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.from((root || document).querySelectorAll(sel)); }
  function workspace() { return document.getElementById("workspace"); }
  function pane() { return $("#conversation-pane .conv"); }
  function currentId() { const p = pane(); return p ? Number(p.dataset.conversation) : 0; }
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function flash(text, isError) {
    const box = document.getElementById("ws-flash");
    if (!box) return;
    box.textContent = text || "";
    box.classList.toggle("is-error", !!isError);
  }
  let flashTimer = null;
  document.addEventListener("htmx:after:swap", function () {
    clearTimeout(flashTimer);
    // Errors stay longer (the form keeps its own copy next to the field), then go too.
    const box = document.getElementById("ws-flash");
    const error = box && box.classList.contains("is-error");
    flashTimer = setTimeout(function () {
      if (box && box.isConnected) box.textContent = "";
    }, error ? 15000 : 6000);
  });

  // --- relative times ----------------------------------------------------------------------------------
  function shortWait(iso) {
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    const u = labels.units || {};
    if (!isFinite(seconds)) return "";
    if (seconds < 60) return u.lt || "<1 min";
    if (seconds < 3600) return (u.min || "%d min").replace("%d", Math.floor(seconds / 60));
    if (seconds < 86400) return (u.h || "%d h").replace("%d", Math.floor(seconds / 3600));
    return (u.d || "%d d").replace("%d", Math.floor(seconds / 86400));
  }
  function refreshWaits() {
    $$(".ws-wait[data-since]").forEach(function (node) {
      node.textContent = (labels.waiting || "%s").replace("%s", shortWait(node.dataset.since));
    });
  }
  setInterval(refreshWaits, 60000);
  // Service-level countdowns (inbox_tags.sla_badge): the same levels as the server's, recomputed every 15 s.
  function refreshSla() {
    const now = Date.now();
    $$(".sla[data-sla-due]").forEach(function (node) {
      const due = new Date(node.dataset.slaDue).getTime();
      const warn = node.dataset.slaWarn ? new Date(node.dataset.slaWarn).getTime() : due;
      if (!isFinite(due)) return;
      const late = now >= due;
      node.classList.toggle("sla-late", late);
      node.classList.toggle("sla-warn", !late && now >= warn);
      node.classList.toggle("sla-ok", now < warn);
      node.textContent = late ? (labels.slaLate || "%s").replace("%s", shortWait(node.dataset.slaDue))
        : (labels.slaLeft || "%s").replace("%s", shortLeft(due - now));
    });
  }
  function shortLeft(ms) {
    const seconds = Math.max(0, ms / 1000);
    const u = labels.units || {};
    if (seconds < 60) return u.lt || "<1 min";
    if (seconds < 3600) return (u.min || "%d min").replace("%d", Math.floor(seconds / 60));
    if (seconds < 86400) return (u.h || "%d h").replace("%d", Math.floor(seconds / 3600));
    return (u.d || "%d d").replace("%d", Math.floor(seconds / 86400));
  }
  setInterval(refreshSla, 15000);
  // A clock moved (op "sla"): the badge follows, appears (a new wait) or goes (answered, resolved).
  function setSla(scope, sla) {
    if (!scope) return;
    let node = scope.querySelector(".sla");
    if (!sla || !sla.due) { if (node) node.remove(); return; }
    if (!node) {
      node = el("span", "badge sla");
      const state = scope.querySelector('[data-f="state"], [data-testid="conversation-state"]');
      if (!state) return;
      state.after(node);
      state.after(" ");
    }
    node.dataset.slaDue = sla.due;
    if (sla.warn) node.dataset.slaWarn = sla.warn; else delete node.dataset.slaWarn;
    const at = window.CentralitaFormat ? window.CentralitaFormat.shortDatetime(sla.due) : sla.due;
    node.title = (labels.slaTitle || "%s").replace("%s", at);
    refreshSla();
  }
  document.addEventListener("htmx:after:swap", refreshSla);
  function timeNode(iso) {
    const node = el("time");
    node.setAttribute("datetime", iso || "");
    node.textContent = window.CentralitaFormat ? window.CentralitaFormat.shortDatetime(iso) : "";
    return node;
  }

  // --- in-place forms ------------------------------------------------------------------------------------
  // What each form sent, so a success clears only fields still holding it: someone who already started the next
  // message while the answer was on its way keeps what they typed.
  const sent = new WeakMap();
  function fields(form) {
    return Array.from(form.elements).filter(function (f) {
      // (files have their own bookkeeping below: only the files that were sent leave the composer)
      return f.name && f.name !== "csrfmiddlewaretoken" && ["radio", "checkbox", "hidden", "submit", "button", "file"].indexOf(f.type) < 0;
    });
  }
  document.addEventListener("submit", function (ev) {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-inplace") || !window.htmx) return;
    if (ev.submitter && ev.submitter.hasAttribute("formaction")) return; // a connector's own endpoint
    ev.preventDefault();
    sent.set(form, fields(form).map(function (f) { return [f, f.value]; }));
    const err = document.getElementById("err-" + form.id);
    if (err) err.textContent = "";
    window.htmx.ajax("POST", form.getAttribute("action"), { source: form, swap: "none" });
  });
  document.addEventListener("htmx:after:request", function (ev) {
    const ctx = ev.detail && ev.detail.ctx;
    const form = ctx && ctx.sourceElement;
    if (!form || !(form instanceof HTMLFormElement) || !form.hasAttribute("data-inplace")) return;
    const ok = ctx.response && ctx.response.status < 400;
    if (!ok) return;
    if (form.hasAttribute("data-reset")) {
      (sent.get(form) || []).forEach(function (pair) { if (pair[0].value === pair[1]) pair[0].value = ""; });
      $$("[data-picker-value]", form).forEach(function (i) { i.value = ""; });
    }
    const failed = form.closest("[data-f=retry]");
    if (failed) { failed.remove(); return; } // queued again: the ticks follow by realtime
    const dialog = form.closest("dialog");
    if (dialog && dialog.open) dialog.close();
    if (form.hasAttribute("data-bulk")) { clearSelection(); refetchRows(); }
  });
  document.addEventListener("htmx:error", function (ev) {
    const ctx = ev.detail && ev.detail.ctx;
    if (ctx && ctx.sourceElement && ctx.sourceElement.closest && ctx.sourceElement.closest("#workspace")) {
      flash(labels.error, true);
    }
  });
  document.addEventListener("change", function (ev) {
    const form = ev.target.form;
    if (form && form.hasAttribute("data-autosubmit")) form.requestSubmit();
  });

  // --- dialogs ---------------------------------------------------------------------------------------------
  document.addEventListener("click", function (ev) {
    const opener = ev.target.closest("[data-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.dialog);
      if (dialog && !dialog.open) {
        const fresh = dialog.querySelector("[data-refresh-url]");
        if (fresh && window.htmx) {
          // The close reasons depend on what happened since the page was drawn: the old ones cannot be focused
          // or chosen (inert) until the fresh ones arrive, so a fast key press never lands on a stale reason.
          fresh.inert = true;
          fresh.setAttribute("aria-busy", "true");
          dialog.showModal();
          // (its own source element: htmx queues requests per source, and body's queue holds the list refreshes;
          // the swap handler below makes it usable again, and a failed request leaves the old reasons usable)
          const failed = function () { if (fresh.inert) freshReady(fresh); };
          window.htmx.ajax("GET", fresh.dataset.refreshUrl, { source: fresh, target: fresh, swap: "innerHTML",
            headers: { "HX-Target": "div#" + fresh.id } }).then(failed, failed);
        } else {
          dialog.showModal();
          focusFirst(dialog);
        }
      }
      return;
    }
    if (ev.target.closest("[data-close-dialog]")) {
      const dialog = ev.target.closest("dialog");
      if (dialog) dialog.close();
    }
    const action = ev.target.closest("[data-action]");
    if (!action) return;
    if (action.dataset.action === "shortcuts") { openShortcuts(); }
    else if (action.dataset.action === "back") { ev.preventDefault(); backToList(); }
    else if (action.dataset.action === "clear-selection") { clearSelection(); }
  });
  function freshReady(fresh) {
    fresh.inert = false;
    fresh.removeAttribute("aria-busy");
    const dialog = fresh.closest("dialog");
    if (dialog && dialog.open) focusFirst(dialog);
  }
  document.addEventListener("htmx:after:swap", function (ev) {
    const target = ev.detail && ev.detail.ctx && ev.detail.ctx.target;
    if (target && target.hasAttribute && target.hasAttribute("data-refresh-url")) freshReady(target);
  });
  function focusFirst(dialog) {
    const first = dialog.querySelector("input:not([type=hidden]):not([disabled]), select, textarea");
    if (first) first.focus();
  }
  function openShortcuts() {
    const dialog = document.getElementById("shortcuts-dialog");
    if (dialog && !dialog.open) dialog.showModal();
  }
  function backToList() {
    const ws = workspace();
    if (ws) ws.classList.remove("has-conversation");
    const url = (ws && ws.dataset.listUrl || "/inbox/") + location.search;
    history.pushState({ htmx: true }, "", url);
    const row = $(".ws-row.is-selected .ws-row-link");
    if (row) row.focus();
  }

  // --- people pickers -------------------------------------------------------------------------------------
  function pickerOf(node) { return node && node.closest ? node.closest("[data-picker]") : null; }
  function options(picker) { return $$(".picker-option", picker); }
  function setActive(picker, option) {
    const input = $("[role=combobox]", picker);
    options(picker).forEach(function (o) { o.setAttribute("aria-selected", String(o === option)); });
    if (option) { input.setAttribute("aria-activedescendant", option.id); option.scrollIntoView({ block: "nearest" }); }
  }
  function openList(picker, open) {
    const list = $(".picker-options", picker);
    const input = $("[role=combobox]", picker);
    if (!list || !input) return;
    list.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
  }
  function choose(picker, option) {
    if (!option || option.getAttribute("aria-disabled") === "true") return;
    $("[data-picker-value]", picker).value = option.dataset.value;
    $("[role=combobox]", picker).value = option.dataset.label;
    openList(picker, false);
  }
  document.addEventListener("htmx:after:swap", function (ev) {
    const target = ev.detail && ev.detail.ctx && ev.detail.ctx.target;
    const picker = pickerOf(target);
    if (picker && target.classList.contains("picker-options")) {
      // only the answer to what is typed now makes the options current (an earlier search may answer last)
      let asked = null;
      try { asked = new URL(ev.detail.ctx.request.action, location.href).searchParams.get("q"); } catch (e) { asked = null; }
      const box = $("[role=combobox]", picker);
      if (asked === null || !box || asked === box.value) delete picker.dataset.stale;
      openList(picker, options(picker).length > 0 || !!$(".picker-empty", picker));
      setActive(picker, options(picker)[0] || null);
    }
  });
  document.addEventListener("click", function (ev) {
    const option = ev.target.closest(".picker-option");
    if (option) { choose(pickerOf(option), option); return; }
    $$("[data-picker]").forEach(function (p) { if (!p.contains(ev.target)) openList(p, false); });
  });
  document.addEventListener("keydown", function (ev) {
    const picker = pickerOf(ev.target);
    if (!picker || ev.target.getAttribute("role") !== "combobox") return;
    const all = options(picker);
    const active = all.find(function (o) { return o.getAttribute("aria-selected") === "true"; });
    const index = all.indexOf(active);
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      openList(picker, true);
      const next = all[Math.min(all.length - 1, Math.max(0, index + (ev.key === "ArrowDown" ? 1 : -1)))];
      setActive(picker, next || null);
    } else if (ev.key === "Enter" && (picker.dataset.stale || !$(".picker-options", picker).hidden)) {
      ev.preventDefault();
      // options still showing an earlier search must not be chosen: wait for the answer to what was typed
      if (!picker.dataset.stale) choose(picker, active || all[0]);
    } else if (ev.key === "Escape" && !$(".picker-options", picker).hidden) {
      ev.preventDefault();
      ev.stopPropagation();
      openList(picker, false);
    } else if (ev.key.length === 1 || ev.key === "Backspace") {
      $("[data-picker-value]", picker).value = ""; // typing again means choosing again
      picker.dataset.stale = "1";
    }
  }, true);

  // --- list: selection, bulk bar, live rows ----------------------------------------------------------------
  function rows() { return $$("#inbox-list .ws-row"); }
  function checked() { return $$("#inbox-list .ws-check:checked"); }
  function updateBulk() {
    const form = document.getElementById("bulk-form");
    if (!form) return;
    const n = checked().length;
    form.hidden = n === 0;
    const count = $("[data-bulk-count]", form);
    if (count) count.textContent = String(n);
    const op = $("[data-bulk-op]", form);
    $$("[data-bulk-for]", form).forEach(function (field) {
      const show = field.dataset.bulkFor.split(" ").indexOf(op ? op.value : "") >= 0;
      field.hidden = !show;
      $$("input, select, textarea", field).forEach(function (i) { i.disabled = !show; });
    });
  }
  function clearSelection() { checked().forEach(function (c) { c.checked = false; }); updateBulk(); }
  document.addEventListener("change", function (ev) {
    if (ev.target.matches(".ws-check, [data-bulk-op]")) updateBulk();
  });
  // The row j/k marked, by conversation id: the list refreshes live, and the mark (and the keyboard focus on it)
  // must survive the new rows.
  let markedId = 0;
  function marked() {
    return (markedId && document.getElementById("row-" + markedId)) || $("#inbox-list .ws-row.is-selected");
  }
  function mark(row) {
    markedId = row ? Number(row.dataset.conversationId) : 0;
    rows().forEach(function (r) { r.classList.toggle("is-marked", r === row); });
    if (row) { const link = $(".ws-row-link", row); if (link) link.focus({ preventScroll: false }); }
  }
  document.addEventListener("htmx:after:swap", function (ev) {
    const target = ev.detail && ev.detail.ctx && ev.detail.ctx.target;
    if (!target || target.id !== "inbox-rows" || !markedId) return;
    const row = document.getElementById("row-" + markedId);
    if (!row) return;
    row.classList.add("is-marked");
    if (document.activeElement === document.body) { const link = $(".ws-row-link", row); if (link) link.focus(); }
  });
  function move(step) {
    const all = rows();
    if (!all.length) return;
    const index = all.indexOf(marked());
    mark(all[Math.min(all.length - 1, Math.max(0, index < 0 ? 0 : index + step))]);
    selectRow(currentId());
  }
  function selectRow(id) {
    rows().forEach(function (r) { r.classList.toggle("is-selected", Number(r.dataset.conversationId) === id); });
  }

  let refetchTimer = null;
  let lastRefetch = 0;
  let refetching = false;
  function firstPage() { return !new URLSearchParams(location.search).get("after"); }
  function refetchRows() {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(function () {
      if (refetching || !window.htmx) { refetchRows(); return; }
      refetching = true;
      lastRefetch = Date.now();
      const done = function () { refetching = false; selectRow(currentId()); };
      const url = (workspace() ? workspace().dataset.listUrl : "/inbox/") + location.search;
      // htmx.ajax computes HX-Target from its source element, so name the target for the server explicitly
      const rowsBox = document.getElementById("inbox-rows");
      if (!rowsBox) { done(); return; }
      window.htmx.ajax("GET", url, { source: rowsBox, target: rowsBox, swap: "innerHTML",
        headers: { "HX-Target": "div#inbox-rows" } }).then(done, done);
    }, Math.max(1000, lastRefetch + 3000 - Date.now()));
  }
  let countsTimer = null;
  function refreshCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(function () { document.body.dispatchEvent(new CustomEvent("centralita:counts")); }, 1500);
  }
  function filters() {
    const form = document.getElementById("inbox-filters");
    const f = {};
    if (form) new FormData(form).forEach(function (value, key) { f[key] = String(value); });
    return f;
  }
  function isOpen(c) { return OPEN.indexOf(c.state) >= 0; }
  function mayMatch(c, f) { // false when the conversation is certainly outside the filters
    const me = workspace() ? workspace().dataset.me : "";
    if (f.inbox && c.inbox !== f.inbox) return false;
    if (f.state === "open" ? !isOpen(c) : (f.state && c.state !== f.state)) return false;
    if (f.agent && c.assignee !== (f.agent === "me" ? me : f.agent)) return false;
    if (f.channel && c.channel !== f.channel) return false;
    if (f.priority && c.priority !== f.priority) return false;
    if (f.unowned && (c.assignee || !isOpen(c))) return false;
    if (f.unanswered && (!c.awaiting_reply || !isOpen(c))) return false;
    return true;
  }
  function updateRow(row, c) {
    const preview = $("[data-f=preview]", row);
    if (preview) {
      const text = c.last_message_preview || "";
      preview.textContent = text.length > 110 ? text.slice(0, 109) + "…" : text;
    }
    const owner = $("[data-f=assignee]", row);
    if (owner) {
      owner.replaceChildren();
      if (c.assignee_name) owner.textContent = c.assignee_name;
      else if (isOpen(c)) owner.appendChild(el("span", "badge badge-unowned", labels.unowned));
    }
    const state = $("[data-f=state]", row);
    if (state) { state.textContent = labels.states[c.state] || c.state; state.className = "badge state-" + c.state; }
    row.dataset.state = c.state;
    row.classList.toggle("is-waiting", !!c.awaiting_reply && isOpen(c));
    row.classList.add("flash");
    setTimeout(function () { row.classList.remove("flash"); }, 1300);
  }

  // --- the open conversation -------------------------------------------------------------------------------
  function timeline() { return document.getElementById("timeline"); }
  function setTicks(span, status, error) {
    span.className = "delivery delivery-" + status;
    span.dataset.f = "delivery";
    span.dataset.status = status;
    span.textContent = TICKS[status] || "";
    if (status === "queued") span.appendChild(icon("clock"));
    span.title = (labels.delivery[status] || status) + (error ? ": " + error : "");
    span.setAttribute("aria-label", labels.delivery[status] || status);
  }
  // The status line a channel adds under an answer (WhatsApp: "✓✓ Entregado", whatsapp/_message_body.html)
  // follows the same delivery events as the ticks.
  function setChannelStatus(li, status) {
    const line = li && li.querySelector('[data-testid="wa-status"]');
    if (!line) return;
    line.hidden = status === "failed";  // the failure shows its own line; a retry brings this one back
    if (line.hidden) return;
    line.className = "wa-status wa-status-" + status;
    line.dataset.status = status;
    line.textContent = "";
    if (status === "queued") line.appendChild(icon("clock"));
    else if (status === "read") line.appendChild(el("span", "wa-read", TICKS.read));
    else line.appendChild(document.createTextNode(TICKS[status] || ""));
    line.appendChild(document.createTextNode(" " + (labels.delivery[status] || status)));
  }
  // A failed answer shows why and offers "Reintentar envío" (same markup as _timeline_item.html); any other status
  // removes them.
  function setRetry(item, messageId, status, error) {
    const existing = $("[data-f=retry]", item);
    if (existing) existing.remove();
    if (status !== "failed" || item.dataset.kind !== "outbound") return;
    const p = pane();
    const token = p && $("input[name=csrfmiddlewaretoken]", p);
    if (!p || !p.dataset.retryUrl || !token) return;
    const box = el("div", "msg-failed");
    box.dataset.f = "retry";
    const reason = el("span", null, "⚠ " + (labels.notDelivered || "") + (error ? ": " + error : ""));
    reason.dataset.f = "failure";
    const form = el("form", "inline");
    form.method = "post";
    form.action = p.dataset.retryUrl.replace(/\/0\/retry$/, "/" + messageId + "/retry");
    form.setAttribute("data-inplace", "");
    const csrf = el("input");
    csrf.type = "hidden"; csrf.name = "csrfmiddlewaretoken"; csrf.value = token.value;
    const button = el("button", "btn btn-retry", "↻ " + (labels.retry || ""));
    button.type = "submit";
    form.appendChild(csrf); form.appendChild(button);
    box.appendChild(reason); box.appendChild(document.createTextNode(" ")); box.appendChild(form);
    item.appendChild(box);
  }
  function plainBody(container, m) {
    const div = el("div");
    String(m.body || "").split("\n").forEach(function (line, index) {
      if (index) div.appendChild(el("br"));
      div.appendChild(document.createTextNode(line));
    });
    if (m.truncated) { div.appendChild(document.createTextNode("… ")); div.appendChild(el("small", "muted", labels.truncated)); }
    container.appendChild(div);
    const files = (m.attachments || []).filter(function (a) { return a && a.name; });
    if (!files.length) return;
    const list = el("ul", "attachments");
    files.forEach(function (a) {
      const li = el("li");
      if (a.url && a.preview) {  // a raster image the server serves inline (inbox.attachments), as on the page
        const img = el("img", "attachment-image");
        img.src = a.url;
        img.alt = a.name;
        img.loading = "lazy";
        li.appendChild(img);
        li.appendChild(el("br"));
      }
      if (a.url) { const link = el("a", null, a.name); link.href = a.url; li.appendChild(link); }
      else li.appendChild(document.createTextNode(a.name));
      list.appendChild(li);
    });
    container.appendChild(list);
  }
  function messageNode(m, channel, customer) {
    const li = el("li", "msg-" + m.kind);
    li.dataset.kind = m.kind;
    li.dataset.item = "message-" + m.id;
    const head = el("small", "muted");
    const who = m.author_name || m.author || (m.automation ? (labels.automation || "") + " · " + m.automation
      : m.bot ? (labels.bot || "") + " · " + m.bot : "");
    if (m.kind === "inbound") head.appendChild(document.createTextNode(customer));
    else if (m.kind === "note") {
      head.appendChild(icon("lock"));
      head.appendChild(document.createTextNode(" " + (labels.note || "") + " · " + who));
    }
    else head.appendChild(document.createTextNode("↩ " + who));
    head.appendChild(document.createTextNode(" · "));
    head.appendChild(timeNode(m.at));
    if (m.edited_at && !m.deleted_at) { // the customer edited it (WhatsApp): same markup as _timeline_item.html
      head.appendChild(document.createTextNode(" · "));
      const edited = el("span", "msg-edited", labels.edited || "");
      edited.dataset.f = "edited";
      edited.title = (labels.editedTitle || "%s").replace("%s", timeNode(m.edited_at).textContent);
      head.appendChild(edited);
    }
    if (m.delivery_status) {
      head.appendChild(document.createTextNode(" · "));
      const ticks = el("span");
      setTicks(ticks, m.delivery_status, m.delivery_error);
      head.appendChild(ticks);
    }
    li.appendChild(head);
    if (m.deleted_at) { // the customer deleted it: the payload carries no text (supervisors see it on reload)
      li.classList.add("msg-deleted");
      const gone = el("p", "msg-deleted-text");
      gone.dataset.f = "deleted";
      gone.appendChild(icon("ban"));
      gone.appendChild(document.createTextNode(" "));
      gone.appendChild(el("em", null, labels.deleted || ""));
      li.appendChild(gone);
      return li;
    }
    const render = window.centralitaInbox.bodyRenderers[channel];
    let done = false;
    if (typeof render === "function") { try { done = render(li, m) !== false; } catch (e) { done = false; } }
    if (!done) plainBody(li, m);
    if (m.choices && m.choices.length) li.appendChild(choicesNode(m.choices));
    if (m.versions && m.versions.length) li.appendChild(versionsNode(m.versions));
    if (m.delivery_status === "failed") setRetry(li, m.id, m.delivery_status, m.delivery_error);
    return li;
  }
  function choicesNode(choices) { // inbox/_message_choices.html: what a bot's question offered, read-only
    const list = el("ul", "msg-choices");
    list.dataset.f = "choices";
    list.setAttribute("aria-label", labels.choices || "");
    choices.forEach(function (c) { list.appendChild(el("li", "msg-choice", c.title)); });
    return list;
  }
  function versionsNode(versions) { // inbox/_message_versions.html
    const box = el("details", "msg-history");
    box.dataset.f = "history";
    box.appendChild(el("summary", null, versions.length === 1 ? labels.versionsOne
      : (labels.versionsMany || "%d").replace("%d", String(versions.length))));
    const list = el("ol", "msg-versions");
    versions.forEach(function (v, index) {
      const item = el("li");
      const head = el("small", "muted", (index ? labels.editedVersion : labels.original) + " · ");
      head.appendChild(timeNode(v.at));
      item.appendChild(head);
      plainBody(item, { body: v.body });
      list.appendChild(item);
    });
    box.appendChild(list);
    return box;
  }
  function eventNode(e) {
    const li = el("li", "event");
    li.dataset.item = "event-" + e.id;
    const head = el("small", "muted");
    head.appendChild(timeNode(e.at));
    head.appendChild(document.createTextNode(" · "));
    const texts = e.texts || {};
    head.appendChild(el("span", null, texts[lang] || texts.es || ""));
    head.lastChild.dataset.f = "text";
    li.appendChild(head);
    return li;
  }
  function nearBottom() {
    const box = document.getElementById("conv-scroll");
    return !box || box.scrollHeight - box.scrollTop - box.clientHeight < 120;
  }
  function toBottom() {
    const box = document.getElementById("conv-scroll");
    if (box) box.scrollTop = box.scrollHeight;
  }
  // A picture that finishes loading grows the timeline: whoever was at the end stays at the end.
  document.addEventListener("load", function (ev) {
    const img = ev.target;
    if (!(img instanceof HTMLImageElement) || !img.closest("#conv-scroll")) return;
    const box = document.getElementById("conv-scroll");
    if (box.scrollHeight - box.scrollTop - box.clientHeight - img.offsetHeight < 120) toBottom();
  }, true);
  function insert(node) {
    const list = timeline();
    if (!list || new URLSearchParams(location.search).has("antes")) return;
    if (list.querySelector('[data-item="' + node.dataset.item + '"]')) return; // already shown
    const stick = nearBottom();
    list.appendChild(node);
    node.classList.add("flash");
    setTimeout(function () { node.classList.remove("flash"); }, 1300);
    if (stick) toBottom();
  }
  function dedupe() { // an in-place answer and the realtime event may both bring the same item
    const list = timeline();
    if (!list) return;
    const seen = new Set();
    $$("[data-item]", list).forEach(function (node) {
      if (seen.has(node.dataset.item)) node.remove(); else seen.add(node.dataset.item);
    });
  }
  // Drop items the realtime event already inserted before htmx appends the answer's items (no flicker of doubles).
  document.addEventListener("htmx:before:swap", function (ev) {
    if (!ev.detail || !ev.detail.tasks) return;
    // never replace a dialog the person is using (an answer to an earlier action may arrive while it is open)
    for (let i = ev.detail.tasks.length - 1; i >= 0; i--) {
      const t = ev.detail.tasks[i];
      const node = typeof t.target === "string" ? document.querySelector(t.target) : t.target;
      if (t.type === "oob" && node && node.querySelector && node.querySelector("dialog[open]")) ev.detail.tasks.splice(i, 1);
    }
    const list = timeline();
    if (!list) return;
    ev.detail.tasks.forEach(function (task) {
      const target = typeof task.target === "string" ? document.querySelector(task.target) : task.target;
      if (target !== list || !task.fragment) return;
      Array.from(task.fragment.querySelectorAll("[data-item]")).forEach(function (node) {
        if (list.querySelector('[data-item="' + node.dataset.item + '"]')) node.remove();
      });
    });
  });
  function badges(c) {
    const state = $('#conversation-pane [data-testid="conversation-state"]');
    if (state && c.state) { state.textContent = labels.states[c.state] || c.state; state.className = "badge state-" + c.state; }
    const owner = $('#conversation-pane [data-testid="assignee"]');
    if (owner) owner.textContent = c.assignee_name || labels.unowned || "—";
  }
  function opened() {
    const p = pane();
    const ws = workspace();
    if (ws) ws.classList.toggle("has-conversation", !!p);
    if (!p) return;
    const id = Number(p.dataset.conversation);
    selectRow(id);
    toBottom();
    if (p.dataset.title) document.title = document.title.replace(/^(\(\d+\) )?.*? · /, "$1" + p.dataset.title + " · ");
    document.body.dispatchEvent(new CustomEvent("centralita:conversation-opened", { detail: { id: id } }));
    announce();
  }

  document.addEventListener("htmx:after:swap", function (ev) {
    const target = ev.detail && ev.detail.ctx && ev.detail.ctx.target;
    if (target && target.id === "conversation-pane") {
      opened();
      // Move focus into the newly opened conversation unless the person is already working in it (a shortcut
      // pressed while htmx settles the swap must keep its focus).
      const title = document.getElementById("conv-title");
      if (title && !target.contains(document.activeElement)) {
        title.setAttribute("tabindex", "-1");
        title.focus({ preventScroll: true });
      }
    }
    dedupe();
    refreshWaits();
  });

  document.body.addEventListener("centralita:conversation", function (ev) {
    const d = ev.detail;
    const c = d.conversation;
    if (!c) return;
    refreshCounts();
    // the list
    const list = document.getElementById("inbox-list");
    if (list) {
      const f = filters();
      const row = document.getElementById("row-" + c.id);
      if (!row) { if (mayMatch(c, f) && firstPage()) refetchRows(); }
      // A conversation that left the filtered list goes; the open one stays while it is read, unless its own state
      // change took it out (closed from an "open" list): then j/k start again from the top of what is left.
      else if (!mayMatch(c, f) && (c.id !== currentId() || d.op === "state")) row.remove();
      else {
        updateRow(row, c);
        if (d.op === "sla") setSla(row, d.sla);
        const sort = list.dataset.sort;
        if (d.op === "message" && firstPage() && sort === "activity" && list.firstElementChild !== row) list.prepend(row);
        else if (d.op === "message" && sort !== "activity") refetchRows();
      }
    }
    // the open conversation
    if (c.id !== currentId()) return;
    if (d.op === "sla") setSla(document.getElementById("conv-header"), d.sla);
    const p = pane();
    if (d.op === "delivery" && d.message) {
      const ticks = timeline() && timeline().querySelector('[data-item="message-' + d.message.id + '"] [data-f="delivery"]');
      if (ticks) {
        setTicks(ticks, d.message.status, d.message.error);
        setRetry(ticks.closest("li"), d.message.id, d.message.status, d.message.error);
        setChannelStatus(ticks.closest("li"), d.message.status);
      }
    } else if (d.op === "message_updated" && d.message && d.message.id) { // edited or deleted by the customer
      const shown = timeline() && timeline().querySelector('[data-item="message-' + d.message.id + '"]');
      if (shown) {
        const fresh = messageNode(d.message, p.dataset.channel, p.dataset.customer);
        shown.replaceWith(fresh);
        fresh.classList.add("flash");
        setTimeout(function () { fresh.classList.remove("flash"); }, 1300);
      }
    } else if (d.message && d.message.id) {
      insert(messageNode(d.message, p.dataset.channel, p.dataset.customer));
    }
    if (d.item && d.item.id) insert(eventNode(d.item));
    badges(c);
  });

  // Resync after a reconnect: events sent while the socket was down are lost, so re-read the list and the
  // open conversation once (server-rendered fragments).
  let connections = 0;
  const loadedAt = Date.now();
  document.body.addEventListener("centralita:resync", function () {
    connections += 1;
    announce();
    if (connections === 1 && Date.now() - loadedAt < 5000) return; // the first connection follows the load
    refetchRows();
    refreshCounts();
    const id = currentId();
    if (id && window.htmx) {
      const paneBox = document.getElementById("conversation-pane");
      window.htmx.ajax("GET", "/inbox/" + id + "/", { source: paneBox, target: paneBox, swap: "innerHTML",
        headers: { "HX-Target": "section#conversation-pane" } });
    }
  });

  // Collision warning: announce "I have this open" every 20 s and show who else does.
  function announce() { const id = currentId(); if (id && window.centralitaSend) window.centralitaSend({ type: "viewing", conversation_id: id }); }
  setInterval(announce, 20000);
  document.body.addEventListener("centralita:viewing", function (ev) {
    const banner = document.getElementById("collision");
    if (!banner || ev.detail.conversation_id !== currentId()) return;
    const others = (ev.detail.viewers || []).filter(function (n) { return n !== banner.dataset.me; });
    banner.hidden = others.length === 0;
    $("[data-names]", banner).textContent = others.join(", ");
  });

  // --- composer --------------------------------------------------------------------------------------------
  document.addEventListener("change", function (ev) {
    if (ev.target.name !== "kind" || !ev.target.closest("#reply-form")) return;
    const note = ev.target.value === "note";
    const form = ev.target.closest("form");
    $("[data-hint-reply]", form).hidden = note;
    $("[data-hint-note]", form).hidden = !note;
    form.classList.toggle("is-note", note);
  });
  // Files: each choice adds to the message's files (a second pick does not replace the first), each shown as a
  // chip that can be removed; a quick reply's file arrives as a reference chip (attachFile below). The text box is
  // optional while a file is attached. The server checks the same limits.
  const picked = new WeakMap();  // form -> DataTransfer holding its files
  function filesOf(form) {
    let dt = picked.get(form);
    if (!dt) { dt = new DataTransfer(); picked.set(form, dt); }
    return dt;
  }
  function sizeText(bytes) {
    const lang = document.documentElement.lang || undefined;
    const mb = bytes >= 1024 * 1024;
    const n = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 }).format(mb ? bytes / (1024 * 1024) : Math.max(1, Math.round(bytes / 1024)));
    return n + (mb ? " MB" : " KB");
  }
  function chip(chips, name, size, onRemove) {
    const item = el("li", "file-chip");
    item.appendChild(el("span", "file-chip-name", name));
    if (size) item.appendChild(el("span", "muted file-chip-size", sizeText(size)));
    const remove = el("button", "file-chip-remove", "×");
    remove.type = "button";
    remove.setAttribute("aria-label", (chips.dataset.removeLabel || "%s").replace("%s", function () { return name; }));
    remove.addEventListener("click", onRemove);
    item.appendChild(remove);
    return item;
  }
  function drawFiles(form) {
    const chips = $("[data-file-chips]", form), input = $("[data-files-input]", form), box = $("#reply-body", form);
    if (!chips || !input) return;
    const dt = filesOf(form);
    input.files = dt.files;
    chips.textContent = "";
    Array.from(dt.files).forEach(function (file, index) {
      chips.appendChild(chip(chips, file.name, file.size, function () {
        dt.items.remove(index);
        drawFiles(form);
      }));
    });
    $$("input[name=attachment_refs]", form).forEach(function (ref) {
      chips.appendChild(chip(chips, ref.dataset.name || "", Number(ref.dataset.size || 0), function () {
        ref.remove();
        drawFiles(form);
      }));
    });
    const count = chips.children.length;
    chips.hidden = count === 0;
    if (box) box.required = count === 0;
  }
  document.addEventListener("change", function (ev) {
    const input = ev.target;
    if (!input.matches || !input.matches("[data-files-input]")) return;
    const form = input.form, chips = $("[data-file-chips]", form), err = document.getElementById("err-" + form.id);
    const dt = filesOf(form);
    const chosen = Array.from(input.files || []);
    if (chosen.length && Array.from(dt.files).indexOf(chosen[0]) < 0) {  // (drawFiles sets input.files too)
      const refs = $$("input[name=attachment_refs]", form).length;
      const total = Array.from(dt.files).concat(chosen).reduce(function (t, f) { return t + f.size; }, 0);
      if (dt.files.length + chosen.length + refs > Number(input.dataset.maxFiles || 10)) {
        if (err) err.textContent = chips.dataset.tooMany;
      } else if (total > Number(input.dataset.maxBytes || Infinity)) {
        if (err) err.textContent = chips.dataset.tooLarge;
      } else {
        if (err) err.textContent = "";
        chosen.forEach(function (f) { dt.items.add(f); });
      }
    }
    drawFiles(form);
  });
  // A file kept elsewhere (a quick reply's), sent by reference: the server copies it into the conversation. The
  // form is the one the reply was chosen in (if the agent moved to another conversation meanwhile, nothing).
  window.CentralitaComposer = {
    attachReference: function (form, ref, name, size) {
      if (!form || !form.isConnected || $('input[name=attachment_refs][value="' + CSS.escape(ref) + '"]', form)) return;
      const hidden = el("input");
      hidden.type = "hidden";
      hidden.name = "attachment_refs";
      hidden.value = ref;
      hidden.dataset.name = name;
      hidden.dataset.size = String(size || 0);
      form.appendChild(hidden);
      drawFiles(form);
    },
  };
  // What each send carried: on success exactly those files leave the composer, so a file added (or a quick reply
  // inserted) while the answer was on its way stays for the next one, and a file removed meanwhile is not re-added.
  const filesSent = new WeakMap();
  function fileKey(f) { return [f.name, f.size, f.lastModified, f.type].join("\u0000"); }
  document.addEventListener("submit", function (ev) {
    const form = ev.target;
    if (form.id !== "reply-form") return;
    filesSent.set(form, { files: Array.from(filesOf(form).files).map(fileKey), refs: $$("input[name=attachment_refs]", form) });
  }, true);
  document.addEventListener("htmx:after:request", function (ev) {
    const ctx = ev.detail && ev.detail.ctx;
    const form = ctx && ctx.sourceElement;
    if (!form || form.id !== "reply-form" || !ctx.response || ctx.response.status >= 400) return;
    const sentNow = filesSent.get(form);
    if (!sentNow) return;
    filesSent.delete(form);
    const keep = new DataTransfer();
    Array.from(filesOf(form).files).forEach(function (f) { if (sentNow.files.indexOf(fileKey(f)) < 0) keep.items.add(f); });
    picked.set(form, keep);
    sentNow.refs.forEach(function (ref) { ref.remove(); });
    drawFiles(form);
  });

  function compose(kind) {
    const form = document.getElementById("reply-form");
    if (!form) return;
    const radio = form.querySelector("input[name=kind][value=" + kind + "]");
    if (radio && !radio.checked) { radio.checked = true; radio.dispatchEvent(new Event("change", { bubbles: true })); }
    const box = document.getElementById("reply-body");
    if (box) box.focus();
  }

  // --- keyboard --------------------------------------------------------------------------------------------
  document.addEventListener("keydown", function (ev) {
    const tag = (ev.target.tagName || "").toLowerCase();
    const typing = ["input", "textarea", "select"].indexOf(tag) >= 0 || ev.target.isContentEditable;
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter" && ev.target.form && ev.target.form.hasAttribute("data-inplace")) {
      ev.preventDefault();
      ev.target.form.requestSubmit();
      return;
    }
    if (typing) {
      // Escape leaves the text box; prevented so the browser does not turn it into a close request for a
      // dialog that the next shortcut opens.
      if (ev.key === "Escape" && tag === "textarea" && !ev.target.closest("dialog")) { ev.preventDefault(); ev.target.blur(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey || document.querySelector("dialog[open]")) return;
    const key = ev.key;
    if (key === "j" || key === "k") { ev.preventDefault(); move(key === "j" ? 1 : -1); }
    else if (key === "Enter" && ev.target.closest && !ev.target.closest("a, button") && marked()) {
      ev.preventDefault(); const link = $(".ws-row-link", marked()); if (link) link.click();
    }
    else if (key === "r" && currentId()) { ev.preventDefault(); compose("reply"); }
    else if (key === "n" && currentId()) { ev.preventDefault(); compose("note"); }
    else if (key === "a" && currentId()) {
      ev.preventDefault();
      const assign = document.getElementById("open-assign");
      const takeButton = document.getElementById("take");
      if (assign) assign.click(); else if (takeButton) takeButton.click();
    }
    else if (key === "e" && currentId()) { ev.preventDefault(); const b = document.getElementById("open-close"); if (b) b.click(); }
    else if (key === "/") { ev.preventDefault(); const q = document.getElementById("id_q"); if (q) q.focus(); }
    else if (key === "?") { ev.preventDefault(); openShortcuts(); }
  });

  // first paint
  updateBulk();
  refreshWaits();
  if (pane()) opened();
})();
