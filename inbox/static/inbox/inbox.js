// Live inbox list. "centralita:conversation" events carry the changed conversation (state, owner, preview):
// - a row already on screen is updated in place from the event (no request); on the first page a new message
//   moves it to the top, and a row that no longer matches the filters this script can check is removed;
// - a conversation not on screen that may belong to the first page (a new one, or one that now matches the
//   filters) makes the first page reload once: a debounced partial request (1 s after the last such event, at
//   most one every 3 s, never two at once). Only the server can decide what else the page needs (visibility,
//   search text, tags, the exact order), so this is one cheap keyset query instead of rebuilding rows here;
//   events for conversations outside the filters (inbox, state, agent, channel, priority, unowned, unanswered)
//   never trigger it.
(function () {
  "use strict";
  const script = document.currentScript || document.querySelector("script[data-me]");
  const me = (script && script.dataset.me) || "";
  const labelsNode = document.getElementById("inbox-labels");
  const labels = labelsNode ? JSON.parse(labelsNode.textContent) : { states: {} };
  const OPEN = ["nueva", "pendiente", "en_espera", "escalada"];

  function tbody() { return document.querySelector("#inbox-table tbody"); }
  function firstPage() { return !new URLSearchParams(location.search).get("after"); }
  function filters() {
    const form = document.getElementById("inbox-filters");
    const f = {};
    if (form) new FormData(form).forEach(function (value, key) { f[key] = String(value); });
    return f;
  }
  function isOpen(c) { return OPEN.indexOf(c.state) >= 0; }
  // false when the conversation certainly is outside the filters; true when it matches or this script cannot tell
  function mayMatch(c, f) {
    if (f.inbox && c.inbox !== f.inbox) return false;
    if (f.state === "open" ? !isOpen(c) : (f.state && c.state !== f.state)) return false;
    if (f.agent && c.assignee !== (f.agent === "me" ? me : f.agent)) return false;
    if (f.channel && c.channel !== f.channel) return false;
    if (f.priority && c.priority !== f.priority) return false;
    if (f.unowned && (c.assignee || !isOpen(c))) return false;
    if (f.unanswered && (!c.awaiting_reply || !isOpen(c))) return false;
    return true;
  }

  let timer = null;
  let last = 0;
  let busy = false;
  function refetch() {
    timer = null;
    if (busy) { schedule(); return; }
    busy = true;
    last = Date.now();
    const done = function () { busy = false; };
    if (window.htmx) {
      window.htmx.ajax("GET", location.pathname + location.search, { target: "#inbox-rows", swap: "innerHTML" })
        .then(done, done);
    } else {
      busy = false;
    }
  }
  function schedule() {
    if (!firstPage()) return;
    clearTimeout(timer);
    timer = setTimeout(refetch, Math.max(1000, last + 3000 - Date.now()));
  }

  function update(row, c) {
    const preview = row.querySelector('[data-f="preview"] small');
    if (preview) {
      preview.replaceChildren();
      if (c.awaiting_reply) {
        preview.appendChild(Object.assign(document.createElement("span"), { className: "badge",
          textContent: labels.awaiting || "" }));
        preview.appendChild(document.createTextNode(" "));
      }
      const text = c.last_message_preview || "";
      preview.appendChild(document.createTextNode(text.length > 90 ? text.slice(0, 89) + "…" : text));
    }
    const owner = row.querySelector('[data-f="assignee"]');
    if (owner) owner.textContent = c.assignee_name || c.assignee || "—";
    const state = row.querySelector('[data-f="state"] .badge');
    if (state) {
      state.textContent = labels.states[c.state] || c.state;
      state.className = "badge state-" + c.state;
    }
    row.classList.add("flash");
    setTimeout(function () { row.classList.remove("flash"); }, 1300);
  }

  document.body.addEventListener("centralita:conversation", function (ev) {
    const c = ev.detail.conversation;
    const body = tbody();
    if (!c || !body) return;
    const f = filters();
    const row = body.querySelector('tr[data-conversation-id="' + c.id + '"]');
    if (!row) {
      if (mayMatch(c, f)) schedule();
      return;
    }
    if (!mayMatch(c, f)) { row.remove(); return; }
    update(row, c);
    if (ev.detail.op === "message" && firstPage() && body.firstElementChild !== row) body.prepend(row);
  });
  let connections = 0;
  document.body.addEventListener("centralita:resync", function () {
    connections += 1;
    if (connections > 1) schedule(); // events may have been missed while disconnected
  });
})();
