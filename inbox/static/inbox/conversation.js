// Conversation screen, live without reloading:
// - "centralita:conversation" events for this conversation carry the change itself: a new message or note
//   (`message`), a history row (`item`: state change, assignment, transfer) and the conversation's new state and
//   owner. The item is built here with the same markup as inbox/_timeline_item.html and inserted in place;
//   `op: "delivery"` updates the ticks of one outbound message. Text always goes in through textContent.
// - announces "I have this open" every 20 s (collision warning) and shows who else has it open.
// - after a reconnect (events may have been missed) the timeline and badges are re-read from the page once.
// Connectors may render their channel's message bodies: window.centralitaInbox.bodyRenderers[channel] =
// function (container, message) { ... } (build DOM nodes; return false to fall back to the plain text body).
(function () {
  "use strict";
  const script = document.currentScript || document.querySelector("script[data-conversation]");
  const id = Number(script && script.dataset.conversation);
  if (!id) return;
  const channel = script.dataset.channel || "";
  const customer = script.dataset.customer || "";
  const labelsNode = document.getElementById("inbox-labels");
  const labels = labelsNode ? JSON.parse(labelsNode.textContent) : { states: {}, delivery: {} };
  const timeline = document.getElementById("timeline");
  window.centralitaInbox = window.centralitaInbox || {};
  window.centralitaInbox.bodyRenderers = window.centralitaInbox.bodyRenderers || {};
  const TICKS = { queued: "🕓", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  let formatter = null;
  function time(iso) {
    const node = el("time");
    node.setAttribute("datetime", iso || "");
    const date = new Date(iso);
    if (isNaN(date.getTime())) return node;
    try {
      formatter = formatter || new Intl.DateTimeFormat(document.documentElement.lang || undefined,
        { dateStyle: "short", timeStyle: "short" });
      node.textContent = formatter.format(date);
    } catch (e) { node.textContent = date.toLocaleString(); }
    return node;
  }
  function setTicks(span, status, error) {
    span.className = "delivery delivery-" + status;
    span.dataset.f = "delivery";
    span.dataset.status = status;
    span.textContent = TICKS[status] || status;
    span.title = (labels.delivery[status] || status) + (error ? ": " + error : "");
  }
  function plainBody(container, m) {
    const div = el("div");
    String(m.body || "").split("\n").forEach(function (line, index) {
      if (index) div.appendChild(el("br"));
      div.appendChild(document.createTextNode(line));
    });
    if (m.truncated) {
      div.appendChild(document.createTextNode("… "));
      div.appendChild(el("small", "muted", labels.truncated));
    }
    container.appendChild(div);
    const files = (m.attachments || []).filter(function (a) { return a && a.name; });
    if (!files.length) return;
    const list = el("ul", "attachments");
    files.forEach(function (a) {
      const li = el("li");
      if (a.url && String(a.content_type).indexOf("image/") === 0) {
        const img = el("img", "attachment-image");
        img.src = a.url;
        img.alt = a.name;
        img.loading = "lazy";
        li.appendChild(img);
        li.appendChild(el("br"));
      }
      if (a.url) {
        const link = el("a", null, a.name);
        link.href = a.url;
        li.appendChild(link);
      } else {
        li.appendChild(document.createTextNode(a.name));
      }
      list.appendChild(li);
    });
    container.appendChild(list);
  }
  function messageNode(m) {
    const li = el("li", "msg-" + m.kind);
    li.dataset.kind = m.kind;
    li.dataset.item = "message-" + m.id;
    const head = el("small", "muted");
    if (m.kind === "inbound") head.appendChild(document.createTextNode(customer));
    else if (m.kind === "note") head.appendChild(document.createTextNode("🔒 " + (labels.note || "") + " · " + (m.author || "")));
    else head.appendChild(document.createTextNode("↩ " + (m.author || "")));
    head.appendChild(document.createTextNode(" · "));
    head.appendChild(time(m.at));
    if (m.delivery_status) {
      head.appendChild(document.createTextNode(" · "));
      const ticks = el("span");
      setTicks(ticks, m.delivery_status, m.delivery_error);
      head.appendChild(ticks);
    }
    li.appendChild(head);
    const render = window.centralitaInbox.bodyRenderers[channel];
    let done = false;
    if (typeof render === "function") {
      try { done = render(li, m) !== false; } catch (e) { done = false; }
    }
    if (!done) plainBody(li, m);
    return li;
  }
  function eventNode(e) {
    const li = el("li", "event");
    li.dataset.item = "event-" + e.id;
    const head = el("small", "muted");
    head.appendChild(time(e.at));
    let text = " · " + e.kind;
    if (e.author) text += " · " + e.author;
    const data = e.data || {};
    if (data.to) text += " → " + data.to;
    if (data.reason) text += " (" + data.reason + ")";
    head.appendChild(document.createTextNode(text));
    li.appendChild(head);
    if (e.comment) {
      const div = el("div");
      const small = el("small");
      String(e.comment).split("\n").forEach(function (line, index) {
        if (index) small.appendChild(el("br"));
        small.appendChild(document.createTextNode(line));
      });
      div.appendChild(small);
      li.appendChild(div);
    }
    return li;
  }
  const historyView = new URLSearchParams(location.search).has("antes"); // older items: new ones belong elsewhere
  function insert(node) {
    if (!timeline || historyView) return;
    if (timeline.querySelector('[data-item="' + node.dataset.item + '"]')) return; // already shown
    timeline.appendChild(node);
    node.classList.add("flash");
    setTimeout(function () { node.classList.remove("flash"); }, 1300);
  }
  function badges(c) {
    const state = document.querySelector('[data-testid="conversation-state"]');
    if (state && c.state) state.textContent = labels.states[c.state] || c.state;
    const owner = document.querySelector('[data-testid="assignee"]');
    if (owner) owner.textContent = c.assignee_name || c.assignee || labels.unowned || "—";
  }

  document.body.addEventListener("centralita:conversation", function (ev) {
    const d = ev.detail;
    if (!d.conversation || d.conversation.id !== id) return;
    if (d.op === "delivery" && d.message) {
      const ticks = timeline && timeline.querySelector('[data-item="message-' + d.message.id + '"] [data-f="delivery"]');
      if (ticks) setTicks(ticks, d.message.status, d.message.error);
    } else if (d.message && d.message.id) {
      insert(messageNode(d.message));
    }
    if (d.item && d.item.id) insert(eventNode(d.item));
    badges(d.conversation);
  });

  // Resync after a reconnect: events sent while the socket was down are lost, so re-read this page's timeline
  // and badges once (server-rendered, parsed without running anything; the reply box is left alone).
  const loadedAt = Date.now();
  let connections = 0;
  function resync() {
    fetch(location.href, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || !timeline) return;
        const doc = new DOMParser().parseFromString(html, "text/html");
        const fresh = doc.getElementById("timeline");
        if (fresh) timeline.replaceChildren.apply(timeline, Array.from(fresh.children).map(function (n) {
          return document.adoptNode(n);
        }));
        ["conversation-state", "assignee"].forEach(function (key) {
          const mine = document.querySelector('[data-testid="' + key + '"]');
          const theirs = doc.querySelector('[data-testid="' + key + '"]');
          if (mine && theirs) mine.textContent = theirs.textContent;
        });
      })
      .catch(function () { /* the next reconnect tries again */ });
  }
  function announce() { if (window.centralitaSend) window.centralitaSend({ type: "viewing", conversation_id: id }); }
  document.body.addEventListener("centralita:resync", function () {
    announce();
    connections += 1;
    // the first connection follows the page load; a page restored later (back button) may be stale too
    if (connections > 1 || Date.now() - loadedAt > 5000) resync();
  });
  setInterval(announce, 20000);
  const banner = document.getElementById("collision");
  document.body.addEventListener("centralita:viewing", function (ev) {
    if (ev.detail.conversation_id !== id || !banner) return;
    const others = (ev.detail.viewers || []).filter(function (n) { return n !== banner.dataset.me; });
    banner.hidden = others.length === 0;
    banner.querySelector("[data-names]").textContent = others.join(", ");
  });
})();
