/*! Centralita web chat widget. Embed with:
 *  <script src="https://<centralita>/static/webchat/widget.js" data-site="<site token>" async></script>
 * No dependencies, no build. Every text comes from the server (GET /webchat/api/v1/config), in the visitor's
 * language. The UI lives in a shadow root so the host page's CSS and ours never mix. Protocol: see
 * connectors/webchat/consumers.py (websocket) and api.py (REST fallback).
 */
(function () {
  "use strict";
  var script = document.currentScript ||
    document.querySelector('script[data-site][src*="webchat/widget.js"]');
  if (!script || !script.dataset.site || window.__centralitaWebchat) return;
  window.__centralitaWebchat = true;

  var SITE = script.dataset.site;
  var BASE = new URL(script.src, location.href).origin;
  var API = BASE + "/webchat/api/v1/";
  var STORE = "centralita-webchat:" + SITE;
  var OPEN_KEY = STORE + ":open";

  var cfg = null;           // server config
  var T = {};               // texts
  var token = readToken();
  var visitor = null;
  var ws = null;
  var subscribed = false;
  var everSubscribed = false;
  var retryDelay = 1000;
  var lastId = 0;
  var shown = {};           // message id -> element
  var pending = {};         // echo id -> {el, content, timer}
  var unread = [];          // agent message ids not yet shown on screen
  var choiceGroups = [];    // option buttons of bot questions still open (answered ones are disabled)
  var ui = {};
  var typingSentAt = 0;
  var typingIdle = null;
  var agentTypingTimer = null;

  // --- storage ---------------------------------------------------------------------------------------
  function readToken() {
    try { return localStorage.getItem(STORE) || ""; } catch (e) { return ""; }
  }
  function saveToken(value) {
    token = value || "";
    try { if (token) localStorage.setItem(STORE, token); else localStorage.removeItem(STORE); } catch (e) { /* private mode */ }
  }
  function rememberOpen(open) {
    try { sessionStorage.setItem(OPEN_KEY, open ? "1" : ""); } catch (e) { /* ignore */ }
  }
  function wasOpen() {
    try { return sessionStorage.getItem(OPEN_KEY) === "1"; } catch (e) { return false; }
  }

  // --- HTTP ------------------------------------------------------------------------------------------
  function call(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (token) headers["X-Visitor-Token"] = token;
    var sep = path.indexOf("?") < 0 ? "?" : "&";
    return fetch(API + path + sep + "site=" + encodeURIComponent(SITE), {
      method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
      credentials: "omit", mode: "cors",
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var err = new Error(data.message || String(r.status));
          err.status = r.status; err.data = data;
          throw err;
        }
        return data;
      });
    });
  }

  // --- DOM helpers -----------------------------------------------------------------------------------
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "class") node.className = attrs[k];
      else if (k === "hidden") node.hidden = !!attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    if (text != null) node.textContent = text;
    return node;
  }
  function clip() {  // Lucide's paperclip (ISC), drawn here: no icon font or emoji font needed on the host page
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    [["width", "13"], ["height", "13"], ["viewBox", "0 0 24 24"], ["fill", "none"], ["stroke", "currentColor"],
     ["stroke-width", "2"], ["stroke-linecap", "round"], ["stroke-linejoin", "round"], ["aria-hidden", "true"]]
      .forEach(function (a) { svg.setAttribute(a[0], a[1]); });
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "m16 6-8.414 8.586a2 2 0 0 0 2.829 2.829l8.414-8.586a4 4 0 1 0-5.657-5.657l-8.379 8.551a6 6 0 1 0 8.485 8.485l8.379-8.551");
    svg.appendChild(path);
    return svg;
  }
  function field(name, label, type, autocomplete) {
    var wrap = el("label", { class: "cw-field", "data-field": name });
    wrap.appendChild(el("span", {}, label));
    wrap.appendChild(el("input", { name: name, type: type, autocomplete: autocomplete, maxlength: "254" }));
    return wrap;
  }

  // --- UI --------------------------------------------------------------------------------------------
  function build() {
    var host = el("div", { id: "centralita-webchat", "data-position": cfg.position });
    host.style.setProperty("--cw-primary", cfg.colors.primary);
    host.style.setProperty("--cw-on-primary", cfg.colors.text);
    var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    root.appendChild(el("link", { rel: "stylesheet", href: BASE + "/static/webchat/widget.css" }));
    var wrap = el("div", { class: "cw " + (cfg.position === "left" ? "cw-left" : "cw-right") });

    var panel = el("section", { class: "cw-panel", role: "dialog", "aria-label": T.title, hidden: true });
    var head = el("header", { class: "cw-head" });
    var titles = el("div");
    titles.appendChild(el("strong", { class: "cw-title" }, T.title));
    ui.status = el("small", { class: "cw-status" });
    titles.appendChild(ui.status);
    head.appendChild(titles);
    ui.close = el("button", { type: "button", class: "cw-close", "aria-label": T.close }, "×");
    head.appendChild(ui.close);
    panel.appendChild(head);

    ui.log = el("div", { class: "cw-log", role: "log", "aria-live": "polite" });
    ui.log.appendChild(el("p", { class: "cw-welcome" }, T.welcome));
    ui.offline = el("p", { class: "cw-offline", hidden: true }, T.offline);
    ui.log.appendChild(ui.offline);
    ui.list = el("ol", { class: "cw-messages" });
    ui.log.appendChild(ui.list);
    ui.typing = el("p", { class: "cw-typing", hidden: true }, T.agent_typing);
    ui.log.appendChild(ui.typing);
    panel.appendChild(ui.log);

    ui.prechat = el("form", { class: "cw-form cw-prechat", hidden: true, novalidate: "" });
    ui.prechat.appendChild(el("p", {}, T.prechat_intro));
    ui.prechat.appendChild(field("name", T.name, "text", "name"));
    ui.prechat.appendChild(field("email", T.email, "email", "email"));
    ui.prechat.appendChild(field("phone", T.phone, "tel", "tel"));
    ui.prechatError = el("p", { class: "cw-error", role: "alert" });
    ui.prechat.appendChild(ui.prechatError);
    ui.prechat.appendChild(el("button", { type: "submit", class: "cw-primary" }, T.start));
    panel.appendChild(ui.prechat);

    ui.contact = el("form", { class: "cw-form cw-contact", hidden: true, novalidate: "" });
    ui.contact.appendChild(el("p", {}, T.leave_contact));
    ui.contact.appendChild(field("email", T.email, "email", "email"));
    ui.contact.appendChild(field("phone", T.phone, "tel", "tel"));
    ui.contactError = el("p", { class: "cw-error", role: "alert" });
    ui.contact.appendChild(ui.contactError);
    ui.contact.appendChild(el("button", { type: "submit", class: "cw-primary" }, T.save_contact));
    panel.appendChild(ui.contact);

    ui.conn = el("p", { class: "cw-conn", hidden: true }, T.reconnecting);
    panel.appendChild(ui.conn);
    ui.composer = el("form", { class: "cw-composer", hidden: true });
    ui.input = el("textarea", { rows: "2", maxlength: String(cfg.max_length), placeholder: T.placeholder,
                                "aria-label": T.placeholder });
    ui.composer.appendChild(ui.input);
    ui.composer.appendChild(el("button", { type: "submit", class: "cw-primary cw-send" }, T.send));
    ui.error = el("p", { class: "cw-error", role: "alert" });
    ui.composer.appendChild(ui.error);
    panel.appendChild(ui.composer);
    panel.appendChild(el("p", { class: "cw-powered" }, T.powered));

    ui.bubble = el("button", { type: "button", class: "cw-bubble", "aria-label": T.open, "aria-expanded": "false" });
    ui.bubble.innerHTML = '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true"><path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-4 4V5a2 2 0 0 1 2-2z"/></svg>';
    ui.badge = el("span", { class: "cw-badge", hidden: true });
    ui.bubble.appendChild(ui.badge);

    wrap.appendChild(panel);
    wrap.appendChild(ui.bubble);
    root.appendChild(wrap);
    ui.panel = panel;
    document.body.appendChild(host);

    ui.bubble.addEventListener("click", function () { setOpen(ui.panel.hidden); });
    ui.close.addEventListener("click", function () { setOpen(false); });
    panel.addEventListener("keydown", function (e) { if (e.key === "Escape") setOpen(false); });
    ui.prechat.addEventListener("submit", submitPrechat);
    ui.contact.addEventListener("submit", submitContact);
    ui.composer.addEventListener("submit", function (e) { e.preventDefault(); send(); });
    ui.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send(); }
    });
    ui.input.addEventListener("input", onTyping);
    document.addEventListener("visibilitychange", markRead);
  }

  function needsPrechat() {
    return cfg.prechat.name || cfg.prechat.contact !== "none" || !cfg.online;
  }
  function contactRule() {
    return cfg.online || cfg.prechat.contact !== "none" ? cfg.prechat.contact : "either";
  }

  function render() {
    ui.status.textContent = cfg.online ? T.online : T.away;
    ui.status.dataset.online = cfg.online ? "1" : "0";
    ui.offline.hidden = cfg.online;
    var showPrechat = !token && needsPrechat();
    ui.prechat.hidden = !showPrechat;
    if (showPrechat) {
      var rule = contactRule();
      ui.prechat.querySelector('[data-field="name"]').hidden = !cfg.prechat.name;
      ui.prechat.querySelector('[data-field="email"]').hidden = rule === "phone" || rule === "none";
      ui.prechat.querySelector('[data-field="phone"]').hidden = rule === "email" || rule === "none";
    }
    ui.contact.hidden = !(token && visitor && !visitor.has_contact && !cfg.online);
    ui.composer.hidden = showPrechat;
  }

  function setOpen(open) {
    ui.panel.hidden = !open;
    ui.bubble.setAttribute("aria-expanded", open ? "true" : "false");
    ui.bubble.setAttribute("aria-label", open ? T.close : T.open);
    rememberOpen(open);
    if (open) {
      render();
      markRead();
      var focus = ui.composer.hidden ? ui.prechat.querySelector("input:not([hidden])") : ui.input;
      if (focus) setTimeout(function () { focus.focus(); }, 0);
      scrollDown();
    }
  }

  function scrollDown() { ui.log.scrollTop = ui.log.scrollHeight; }

  function showMessage(m) {
    if (m.id && shown[m.id]) return;
    var item = m.echo_id && pending[m.echo_id] ? pending[m.echo_id].el : null;
    if (item) {
      clearTimeout(pending[m.echo_id].timer);
      delete pending[m.echo_id];
      item.classList.remove("cw-pending", "cw-failed");
      item.querySelector(".cw-meta").textContent = T.you;
    } else {
      var mine = m.message_type === 0;
      item = el("li", { class: "cw-msg " + (mine ? "cw-in" : "cw-out") });
      item.appendChild(el("span", { class: "cw-meta" }, mine ? T.you : (m.sender && m.sender.name) || T.agent));
      if (m.content) item.appendChild(el("div", { class: "cw-text" }, m.content));
      (m.attachments || []).forEach(function (a) {
        // Only links signed by the server, to its own address (never a script: the file is downloaded).
        if (!/^https?:\/\//.test(a.url || "")) return;
        var link = el("a", { class: "cw-file", href: a.url, target: "_blank", rel: "noopener noreferrer" });
        link.appendChild(clip());
        link.appendChild(document.createTextNode(" " + a.name));
        item.appendChild(link);
      });
      ui.list.appendChild(item);
      if (!mine && m.id && m.choices && m.choices.length) ui.list.appendChild(choicesRow(m));
    }
    // the visitor answered the questions before this message (pressed a button or wrote); a question that arrived
    // before the server confirmed her message (a later id) stays open
    if (m.message_type === 0) closeChoices(null, m.content, m.id);
    if (m.id) {
      item.dataset.id = m.id;
      shown[m.id] = item;
      lastId = Math.max(lastId, m.id);
    }
    if (m.message_type === 1) {
      ui.typing.hidden = true;
      if (m.status !== "read") unread.push(m.id);
      if (!onScreen()) ack([m.id], "delivered");
      markRead();
    }
    updateBadge();
    scrollDown();
  }

  // A bot's question: its options as buttons under the bubble. Pressing one sends its title as the visitor's
  // message (with the option's id, so the bot can match it exactly) and closes the question's buttons.
  function choicesRow(m) {
    var row = el("li", { class: "cw-choices-row" });
    var group = el("div", { class: "cw-choices", role: "group", "aria-label": T.choices || "" });
    group.dataset.message = String(m.id);
    (m.choices || []).forEach(function (c) {
      var button = el("button", { type: "button", class: "cw-choice" });
      button.appendChild(el("span", { class: "cw-choice-title" }, c.title));
      if (c.description) button.appendChild(el("span", { class: "cw-choice-desc" }, c.description));
      button.addEventListener("click", function (e) {
        if (button.disabled) return;
        closeChoices(button, null);
        post(c.title, { id: c.id, message_id: m.id });
        // a disabled button drops the focus: keyboard users go on in the composer (a tap opens no keyboard)
        if (e.detail === 0) ui.input.focus();
      });
      group.appendChild(button);
    });
    row.appendChild(group);
    choiceGroups.push(group);
    return row;
  }
  // Disables the open questions' buttons (those older than message `beforeId`, when given), marking the one
  // pressed (or, from history, the one whose title is what the visitor then sent).
  function closeChoices(pressed, answer, beforeId) {
    var closing = choiceGroups.filter(function (g) { return !beforeId || Number(g.dataset.message) < beforeId; });
    choiceGroups = choiceGroups.filter(function (g) { return closing.indexOf(g) < 0; });
    closing.forEach(function (group) {
      group.classList.add("cw-choices-done");
      Array.prototype.forEach.call(group.querySelectorAll("button"), function (b) {
        b.disabled = true;
        var title = b.querySelector(".cw-choice-title").textContent;
        if (b === pressed || (answer != null && title === answer)) {
          b.classList.add("cw-chosen");
          b.setAttribute("aria-pressed", "true");
        }
      });
    });
  }

  function onScreen() { return !ui.panel.hidden && document.visibilityState === "visible"; }
  function markRead() {
    if (!unread.length || !onScreen() || !subscribed) return;
    ack(unread, "read");
    unread = [];
    updateBadge();
  }
  function updateBadge() {
    ui.badge.hidden = !unread.length || !ui.panel.hidden;
    ui.badge.textContent = String(unread.length);
  }
  function ack(ids, status) {
    if (subscribed) ws.send(JSON.stringify({ action: "ack", ids: ids, status: status }));
  }

  // --- visitor and history -----------------------------------------------------------------------------
  function formValues(form) {
    var out = {};
    Array.prototype.forEach.call(form.querySelectorAll("label:not([hidden]) input"), function (i) {
      out[i.name] = i.value.trim();
    });
    out.page_url = location.href;
    return out;
  }
  function submitPrechat(e) {
    e.preventDefault();
    ui.prechatError.textContent = "";
    var values = formValues(ui.prechat);
    if (contactRule() === "either" && !values.email && !values.phone) {
      ui.prechatError.textContent = T.email_or_phone;
      return;
    }
    call("POST", "visitors", values).then(function (data) {
      saveToken(data.visitor_token);
      visitor = data.visitor;
      render();
      connect();
      ui.input.focus();
    }).catch(function (err) { ui.prechatError.textContent = err.message; });
  }
  function submitContact(e) {
    e.preventDefault();
    ui.contactError.textContent = "";
    call("POST", "visitors", formValues(ui.contact)).then(function (data) {
      visitor = data.visitor;
      render();
      ui.list.appendChild(el("li", { class: "cw-note" }, T.contact_saved));
    }).catch(function (err) { ui.contactError.textContent = err.message; });
  }
  function loadHistory(after) {
    if (!token) return Promise.resolve();
    return call("GET", "messages" + (after ? "?after=" + after : "")).then(function (data) {
      if (data.visitor_token) saveToken(data.visitor_token);
      visitor = data.visitor;
      data.messages.forEach(showMessage);
      render();
    }).catch(forgetIfInvalid);
  }
  function forgetIfInvalid(err) {
    if (err && err.status === 401) {
      saveToken("");
      visitor = null;
      if (ws) ws.close();
      render();
    }
  }

  // --- sending -----------------------------------------------------------------------------------------
  function echoId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }
  function send() {
    var content = ui.input.value.trim();
    ui.error.textContent = "";
    if (!content) return;
    if (content.length > cfg.max_length) { ui.error.textContent = T.too_long; return; }
    ui.input.value = "";
    stopTyping();
    closeChoices(null, null);
    post(content, null);
  }
  function post(content, reply) {
    ui.error.textContent = "";
    var start = token ? Promise.resolve() : call("POST", "visitors", { page_url: location.href }).then(function (d) {
      saveToken(d.visitor_token); visitor = d.visitor; connect();
    });
    var echo = echoId();
    var item = el("li", { class: "cw-msg cw-in cw-pending" });
    item.appendChild(el("span", { class: "cw-meta" }, T.sending));
    item.appendChild(el("div", { class: "cw-text" }, content));
    ui.list.appendChild(item);
    scrollDown();
    pending[echo] = { el: item, content: content, reply: reply, timer: null };
    item.addEventListener("click", function () {
      if (item.classList.contains("cw-failed") && pending[echo]) {
        item.classList.remove("cw-failed");
        item.querySelector(".cw-meta").textContent = T.sending;
        deliver(echo);
      }
    });
    start.then(function () { deliver(echo); }).catch(function (err) { failed(echo, err); });
  }
  function deliver(echo) {
    var p = pending[echo];
    if (!p) return;
    if (subscribed) {
      ws.send(JSON.stringify({ action: "send", content: p.content, echo_id: echo, page_url: location.href,
                               reply: p.reply || undefined }));
      // No echo from the socket in time: the same echo id over REST is stored at most once.
      p.timer = setTimeout(function () { viaRest(echo); }, 6000);
    } else {
      viaRest(echo);
    }
  }
  function viaRest(echo) {
    var p = pending[echo];
    if (!p) return;
    call("POST", "messages", { content: p.content, echo_id: echo, page_url: location.href, reply: p.reply || undefined })
      .then(showMessage).catch(function (err) { failed(echo, err); });
  }
  function failed(echo, err) {
    var p = pending[echo];
    if (!p) return;
    clearTimeout(p.timer);
    p.el.classList.add("cw-failed");
    p.el.querySelector(".cw-meta").textContent = T.failed;
    var code = err && (err.code || (err.data && err.data.code));
    ui.error.textContent = code === "rate_limited" ? T.rate_limited : (err && err.message) || "";
    forgetIfInvalid(err);
  }

  // --- typing ------------------------------------------------------------------------------------------
  function onTyping() {
    if (!subscribed) return;
    var now = Date.now();
    if (now - typingSentAt > 3000) {
      typingSentAt = now;
      ws.send(JSON.stringify({ action: "typing", on: true }));
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, 4000);
  }
  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingSentAt && subscribed) ws.send(JSON.stringify({ action: "typing", on: false }));
    typingSentAt = 0;
  }
  function agentTyping(on) {
    clearTimeout(agentTypingTimer);
    ui.typing.hidden = !on;
    if (on) {
      agentTypingTimer = setTimeout(function () { ui.typing.hidden = true; }, 7000);
      scrollDown();
    }
  }

  // --- websocket ---------------------------------------------------------------------------------------
  function connect() {
    if (!token || (ws && ws.readyState <= 1)) return;
    ws = new WebSocket(BASE.replace(/^http/, "ws") + "/ws/webchat/?site=" + encodeURIComponent(SITE));
    ws.onopen = function () { ws.send(JSON.stringify({ action: "subscribe", visitor_token: token })); };
    ws.onmessage = function (msg) {
      var f;
      try { f = JSON.parse(msg.data); } catch (e) { return; }
      if (f.type === "confirm_subscription") {
        subscribed = true;
        retryDelay = 1000;
        ui.conn.hidden = true;
        cfg.online = f.data.online;
        visitor = f.data.visitor;
        render();
        if (everSubscribed) loadHistory(lastId);  // catch up on what arrived while disconnected
        everSubscribed = true;
        markRead();
        Object.keys(pending).forEach(function (echo) {
          if (!pending[echo].timer && !pending[echo].el.classList.contains("cw-failed")) deliver(echo);
        });
      } else if (f.type === "reject_subscription") {
        forgetIfInvalid({ status: 401 });
      } else if (f.event === "message.created") {
        showMessage(f.data);
      } else if (f.event === "conversation.typing_on") {
        agentTyping(true);
      } else if (f.event === "conversation.typing_off") {
        agentTyping(false);
      } else if (f.event === "error" && f.data.echo_id) {
        failed(f.data.echo_id, f.data);
      }
    };
    ws.onclose = function (ev) {
      subscribed = false;
      if (ev.code === 4403 || !token) return;  // origin not allowed, or the visitor was forgotten
      ui.conn.hidden = false;
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    };
  }
  setInterval(function () {
    if (subscribed) ws.send(JSON.stringify({ action: "ping" }));
  }, 25000);

  // --- start -------------------------------------------------------------------------------------------
  function start() {
    call("GET", "config").then(function (data) {
      cfg = data;
      T = data.texts;
      build();
      render();
      if (token) { loadHistory(0).then(connect); }
      if (wasOpen()) setOpen(true);
    }).catch(function () { /* site disabled or origin not allowed: no bubble at all */ });
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
