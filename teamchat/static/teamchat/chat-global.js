// Team chat on every page: the unread badge beside "Chat del equipo" (and each channel in the chat's sidebar),
// availability dots kept live, and a sound / browser notification for a direct message or a mention (per the
// person's preferences in Mi perfil). Counts come from the server (GET /chat/no-leidos) on every (re)connect and
// after a read; between them, new messages of others add one.
(function () {
  "use strict";
  const body = document.body;
  if (!body || body.dataset.realtime !== "on" || body.dataset.chat !== "on") return;
  const me = Number(body.dataset.userId);
  const prefs = { sound: body.dataset.notifySound === "on", browser: body.dataset.notifyBrowser === "on" };
  let counts = {};
  let total = null;

  function openChannel() {
    const page = document.querySelector("[data-chat-page]");
    return page ? Number(page.dataset.channelId || 0) : 0;
  }
  function render() {
    document.querySelectorAll("[data-chat-unread]").forEach(function (el) {
      el.textContent = total > 0 ? (total > 99 ? "99+" : String(total)) : "";
      el.hidden = !(total > 0);
    });
    document.querySelectorAll("[data-chat-channel-unread]").forEach(function (el) {
      const n = counts[el.dataset.chatChannelUnread] || 0;
      el.textContent = n > 0 ? (n > 99 ? "99+" : String(n)) : "";
      el.hidden = !(n > 0);
    });
  }
  let pending = null;
  function refresh() {
    if (pending) return;
    pending = fetch("/chat/no-leidos", { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) { counts = data.channels || {}; total = data.total || 0; render(); }
      })
      .catch(function () { /* offline: the next resync retries */ })
      .finally(function () { pending = null; });
  }
  window.centralitaChatRefreshUnread = refresh;

  let audio = null;
  ["pointerdown", "keydown"].forEach(function (t) {
    document.addEventListener(t, function () {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (prefs.sound && !audio && Ctx) audio = new Ctx();
    }, { once: true });
  });
  function beep() {
    if (!audio) return;
    if (audio.state === "suspended") audio.resume();
    const t = audio.currentTime;
    [[660, 0], [990, 0.1]].forEach(function (note) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = note[0];
      gain.gain.setValueAtTime(0.0001, t + note[1]);
      gain.gain.exponentialRampToValueAtTime(0.18, t + note[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + note[1] + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + note[1]);
      osc.stop(t + note[1] + 0.18);
    });
  }
  function notify(e, direct) {
    const looking = openChannel() === e.channel_id && document.visibilityState === "visible" && document.hasFocus();
    if (looking) return;
    if (prefs.sound) beep();
    if (!prefs.browser || !("Notification" in window) || Notification.permission !== "granted") return;
    const title = direct ? (body.dataset.labelChatDirect || "Centralita") + " · " + (e.author || "")
      : (body.dataset.labelChatMention || "Centralita") + " · " + (e.author || "");
    try {
      const n = new Notification(title, { body: e.preview || "", tag: "centralita-chat-" + e.channel_id });
      n.onclick = function () { window.focus(); location.href = "/chat/c/" + Number(e.channel_id) + "/"; n.close(); };
    } catch (err) { /* some browsers only allow notifications from a service worker */ }
  }

  body.addEventListener("centralita:chat", function (ev) {
    const e = ev.detail || {};
    if (e.op === "message") {
      if (e.author_id === me) return;
      const direct = e.channel_kind === "directo" || e.channel_kind === "grupo";
      const mentioned = (e.mentioned_ids || []).indexOf(me) >= 0 || e.mentions_channel;
      if (!e.parent_id) {
        const viewing = openChannel() === e.channel_id && document.visibilityState === "visible";
        if (!viewing) {
          counts[e.channel_id] = (counts[e.channel_id] || 0) + 1;
          total = (total || 0) + 1;
          render();
        }
      }
      if (direct || mentioned) notify(e, direct);
    } else if (e.op === "read" || e.op === "channel_added" || e.op === "channel_removed") {
      refresh();
    }
  });
  body.addEventListener("centralita:resync", refresh);
  // Availability dots (data-presence-user) follow each person's changes live.
  body.addEventListener("centralita:presence", function (ev) {
    const e = ev.detail || {};
    if (!e.user_id || !e.availability) return;
    document.querySelectorAll('[data-presence-user="' + Number(e.user_id) + '"]').forEach(function (el) {
      Array.from(el.classList).forEach(function (c) { if (c.indexOf("avail-") === 0 && c !== "avail-dot") el.classList.remove(c); });
      el.classList.add("avail-" + e.availability);
      if (e.label) el.title = e.label;
    });
  });
  const first = document.querySelector("[data-chat-unread]");
  total = first && first.textContent ? parseInt(first.textContent, 10) || 0 : 0;
})();
