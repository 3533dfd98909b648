// Page behaviour shared by every screen.
// - Presence: any element with data-presence-user="<id>" shows that user's availability and is updated live from
//   "centralita:presence" events; the top bar's "not receiving work" notice follows the same events.
// - Navigation drawer for narrow screens (the menu button in the top bar).
// - Unread work: new assignments, customer replies in my conversations and mentions since this tab opened, shown in
//   the document title and on the "Bandeja" menu item; optional sound and browser notification (Mi perfil).
(function () {
  "use strict";
  const body = document.body;
  const me = {
    id: Number(body.dataset.userId || 0),
    username: body.dataset.username || "",
    sound: body.dataset.notifySound === "on",
    browser: body.dataset.notifyBrowser === "on",
  };

  // --- presence -------------------------------------------------------------------------------------------
  function updateNotice(e) {
    const notice = document.querySelector('[data-avail-notice="' + e.user_id + '"]');
    if (!notice) return;
    notice.hidden = e.availability === "disponible";
    const text = notice.querySelector("[data-avail-notice-text]");
    if (text && notice.dataset.template) text.textContent = notice.dataset.template.replace("__STATE__", e.label);
  }
  body.addEventListener("centralita:presence", function (ev) {
    const e = ev.detail;
    document.querySelectorAll('[data-presence-user="' + e.user_id + '"]').forEach(function (el) {
      if (el.dataset.eventId && Number(el.dataset.eventId) > e.event_id) return; // older than what we show
      el.dataset.eventId = e.event_id;
      el.className = el.className.replace(/avail-\S+/g, "").trim() + " avail-" + e.availability;
      const label = el.querySelector("[data-presence-label]");
      if (label) label.textContent = e.label;
      if (el.tagName === "SELECT") el.value = e.availability;
      el.classList.add("flash");
      setTimeout(function () { el.classList.remove("flash"); }, 1300);
    });
    if (e.user_id === me.id) updateNotice(e);
  });

  // --- navigation drawer (≤ 800 px) -------------------------------------------------------------------------
  const shell = document.querySelector(".shell");
  const toggle = document.querySelector(".menu-toggle");
  const sidebar = document.getElementById("sidebar");
  function setNav(open, returnFocus) {
    if (!shell || !toggle) return;
    shell.classList.toggle("nav-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      const first = sidebar ? sidebar.querySelector("a") : null;
      // Once the drawer is visible: retried for up to a second, since a busy page may show it later than 50 ms
      // (focus() on a still-hidden link does nothing, silently).
      let tries = 0;
      const focusFirst = function () {
        if (!first || !shell.classList.contains("nav-open")) return;
        first.focus();
        if (document.activeElement !== first && tries++ < 20) setTimeout(focusFirst, 50);
      };
      setTimeout(focusFirst, 50);
    } else if (returnFocus) {
      toggle.focus();
    }
  }
  if (toggle) {
    toggle.addEventListener("click", function () { setNav(!shell.classList.contains("nav-open"), false); });
    document.querySelectorAll("[data-nav-close]").forEach(function (el) {
      el.addEventListener("click", function () { setNav(false, true); });
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" && shell.classList.contains("nav-open")) { ev.preventDefault(); setNav(false, true); }
    });
    window.matchMedia("(min-width: 801px)").addEventListener("change", function (mq) {
      if (mq.matches) setNav(false, false);
    });
  }

  // --- unread work ------------------------------------------------------------------------------------------
  // Client-side and per tab on purpose: sessionStorage survives navigation inside the tab, and opening the
  // conversation (its page, or in place in the inbox) clears it.
  const STORE = "centralita.unread." + me.id;
  const baseTitle = document.title.replace(/^\(\d+\)\s*/, "");
  function load() {
    try { return JSON.parse(sessionStorage.getItem(STORE) || "{}") || {}; } catch (e) { return {}; }
  }
  function save(unread) {
    try { sessionStorage.setItem(STORE, JSON.stringify(unread)); } catch (e) { /* storage full or disabled */ }
    render(unread);
  }
  function render(unread) {
    const n = Object.keys(unread).length;
    document.title = n ? "(" + n + ") " + baseTitle : baseTitle;
    document.querySelectorAll("[data-unread-count]").forEach(function (el) {
      el.hidden = n === 0;
      el.textContent = n ? String(n) : "";
      el.title = n ? n + " " + (body.dataset.labelUnread || "") : "";
    });
  }
  function openConversationId() {
    const m = location.pathname.match(/^\/inbox\/(\d+)\/?$/);
    return m ? Number(m[1]) : null;
  }
  function markRead(id) {
    const unread = load();
    if (unread[id]) { delete unread[id]; save(unread); }
  }
  const lastAlert = {};
  function markUnread(id, reason, text) {
    if (!id) return;
    if (openConversationId() === id && document.visibilityState === "visible") return; // looking at it already
    const unread = load();
    const isNew = !unread[id];
    unread[id] = reason;
    save(unread);
    // An inbound message that routes a conversation to me arrives as "assigned" and "message": alert once.
    const now = Date.now();
    if (!isNew && lastAlert[id] && now - lastAlert[id] < 3000) return;
    lastAlert[id] = now;
    alertUser(reason, text, id);
  }

  let audio = null;
  function ensureAudio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audio && Ctx) audio = new Ctx();
  }
  // Browsers only let a page make sound after a user gesture, so the context is created on the first one.
  ["pointerdown", "keydown"].forEach(function (t) {
    document.addEventListener(t, function () { if (me.sound) ensureAudio(); }, { once: true });
  });
  function beep() {
    if (!audio) return;
    if (audio.state === "suspended") audio.resume();
    const t = audio.currentTime;
    [[880, 0], [1320, 0.12]].forEach(function (note) {  // two short rising tones
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = note[0];
      gain.gain.setValueAtTime(0.0001, t + note[1]);
      gain.gain.exponentialRampToValueAtTime(0.2, t + note[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + note[1] + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(t + note[1]);
      osc.stop(t + note[1] + 0.2);
    });
  }

  function alertUser(reason, text, id) {
    if (me.sound) beep();
    if (!me.browser || !("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible" && document.hasFocus()) return; // the title and badge suffice
    const title = body.dataset["labelNotify" + reason.charAt(0).toUpperCase() + reason.slice(1)] || "Centralita";
    try {
      const n = new Notification(title, { body: text || "", tag: "centralita-conversation-" + id });
      n.onclick = function () { window.focus(); location.href = "/inbox/" + id + "/"; n.close(); };
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }

  if (me.id) {
    const opened = openConversationId();
    if (opened) markRead(opened); else render(load());
    body.addEventListener("centralita:conversation", function (ev) {
      const e = ev.detail || {};
      const c = e.conversation || {};
      if (!c.id) return;
      const mine = c.assignee === me.username;
      if (e.op === "assigned") {
        const byMe = e.item && e.item.author === me.username; // taking a conversation is not news
        if (mine && !byMe) markUnread(c.id, "assigned", c.customer);
        else markRead(c.id); // moved to someone else: no longer my work
      } else if (e.op === "message" && mine && e.message && e.message.kind === "inbound") {
        markUnread(c.id, "message", c.customer + ": " + (e.message.body || "").slice(0, 120));
      }
    });
    body.addEventListener("centralita:mention", function (ev) {
      const e = ev.detail || {};
      markUnread(e.conversation_id, "mention", (e.by ? e.by + ": " : "") + (e.body || "").slice(0, 120));
    });
    body.addEventListener("centralita:conversation-opened", function (ev) {
      if (ev.detail && ev.detail.id) markRead(Number(ev.detail.id));
    });
    // A notice for this person (e.g. a message they scheduled could not be sent): a line at the top of the page, in
    // their language, that links to the conversation; it counts as unread work too.
    body.addEventListener("centralita:notice", function (ev) {
      const e = ev.detail || {};
      const lang = (document.documentElement.lang || "es").slice(0, 2);
      const text = (e.texts && (e.texts[lang] || e.texts.es)) || "";
      if (!text) return;
      let box = document.querySelector("[data-live-notices]");
      if (!box) {
        box = document.createElement("div");
        box.className = "messages";
        box.setAttribute("role", "alert");
        box.dataset.liveNotices = "";
        const main = document.getElementById("main");
        if (main) main.prepend(box); else body.prepend(box);
      }
      const line = document.createElement("p");
      line.className = "msg msg-" + (e.level === "error" ? "error" : "info");
      if (e.conversation_id) {
        const link = document.createElement("a");
        link.href = "/inbox/" + Number(e.conversation_id) + "/";
        link.textContent = text;
        line.appendChild(link);
        markUnread(Number(e.conversation_id), "notice", text);
      } else {
        line.textContent = text;
      }
      box.appendChild(line);
    });
    // Another tab of this user cannot share sessionStorage; when this tab regains sight of an open
    // conversation page, that conversation counts as read.
    document.addEventListener("visibilitychange", function () {
      const id = openConversationId();
      if (id && document.visibilityState === "visible") markRead(id);
    });
  }

  // Buttons on Mi perfil: ask for notification permission only when the person clicks.
  document.querySelectorAll("[data-notify-permission]").forEach(function (btn) {
    const status = document.querySelector("[data-notify-permission-status]");
    function show() {
      if (!status) return;
      const p = "Notification" in window ? Notification.permission : "unsupported";
      status.textContent = status.dataset["label" + p.charAt(0).toUpperCase() + p.slice(1)] || p;
    }
    show();
    btn.addEventListener("click", function () {
      if (!("Notification" in window)) { show(); return; }
      Notification.requestPermission().then(show);
    });
  });
  document.querySelectorAll("[data-notify-test-sound]").forEach(function (btn) {
    btn.addEventListener("click", function () { ensureAudio(); beep(); });
  });

  // Keyboard: "g h" goes home; "/" focuses the first search box on the page.
  let last = "";
  document.addEventListener("keydown", function (ev) {
    const tag = (ev.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "/") {
      const search = document.querySelector("input[type=search]");
      if (search) { ev.preventDefault(); search.focus(); }
    } else if (last === "g" && ev.key === "h") {
      location.href = "/";
    }
    last = ev.key;
  });

  // Dates and times written the way the server writes them (config/formats: SHORT_DATETIME_FORMAT), so a timeline
  // item added live reads like the ones the page came with: "04/12/2026 14:08" · "Dec 4, 2026 14:08".
  const two = function (n) { return String(n).padStart(2, "0"); };
  let monthNames = null;
  function shortDatetime(value) {
    const date = value instanceof Date ? value : new Date(value);
    if (isNaN(date.getTime())) return "";
    const lang = document.documentElement.lang || "es";
    const time = two(date.getHours()) + ":" + two(date.getMinutes());
    if (lang.startsWith("en")) {
      monthNames = monthNames || new Intl.DateTimeFormat("en", { month: "short" });
      return monthNames.format(date) + " " + date.getDate() + ", " + date.getFullYear() + " " + time;
    }
    return two(date.getDate()) + "/" + two(date.getMonth() + 1) + "/" + date.getFullYear() + " " + time;
  }
  // A date field whose value a script set (the dashboard restoring the filters of a URL): show it in the picker.
  function syncDate(hidden) {
    const picker = hidden.previousElementSibling && hidden.previousElementSibling._picker;
    if (!picker) return;
    const parts = (hidden.value || "").split("-").map(Number);
    if (parts.length === 3 && parts[0]) picker.selectDate(new Date(parts[0], parts[1] - 1, parts[2]), { silent: true });
    else picker.clear({ silent: true });
  }
  window.CentralitaFormat = Object.freeze({ shortDatetime: shortDatetime, syncDate: syncDate });

  // Date fields in the reader's language (the native <input type="date"> follows the browser's locale, so a
  // Spanish page showed mm/dd/yyyy): a vendored picker (air-datepicker) on a text field showing dd/mm/yyyy
  // (Spanish) or "Dec 4, 2026" (English), while a hidden field with the original name carries YYYY-MM-DD to the
  // server, and fires "change" for the forms that listen (the dashboard, htmx filters).
  function pickerLocale(lang) {
    const names = function (options, count, start) {
      const f = new Intl.DateTimeFormat(lang, options);
      return Array.from({ length: count }, function (_v, i) { return f.format(start(i)); });
    };
    const weekday = function (i) { return new Date(Date.UTC(2023, 0, 1 + i, 12)); };  // 1 Jan 2023 was a Sunday
    const month = function (i) { return new Date(Date.UTC(2023, i, 15, 12)); };
    const cap = function (s) { return s.charAt(0).toUpperCase() + s.slice(1); };
    const en = lang.startsWith("en");
    return {
      days: names({ weekday: "long", timeZone: "UTC" }, 7, weekday).map(cap),
      daysShort: names({ weekday: "short", timeZone: "UTC" }, 7, weekday).map(cap),
      daysMin: names({ weekday: "short", timeZone: "UTC" }, 7, weekday).map(function (d) { return cap(d).slice(0, 2); }),
      months: names({ month: "long", timeZone: "UTC" }, 12, month).map(cap),
      monthsShort: names({ month: "short", timeZone: "UTC" }, 12, month).map(function (m) { return cap(m.replace(".", "")); }),
      today: en ? "Today" : "Hoy", clear: en ? "Clear" : "Limpiar",
      dateFormat: en ? "MMM d, yyyy" : "dd/MM/yyyy", timeFormat: "HH:mm", firstDay: 1,
    };
  }
  function enhanceDates(root) {
    if (!window.AirDatepicker) return;
    const lang = document.documentElement.lang || "es";
    root.querySelectorAll('input[type="date"]:not([data-picker])').forEach(function (input) {
      const hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = input.name;
      hidden.value = input.value;
      hidden.dataset.served = input.defaultValue;  // what the page came with (the dashboard's back button)
      input.removeAttribute("name");
      input.type = "text";
      input.dataset.picker = "date";
      input.autocomplete = "off";
      if (!input.placeholder) {  // a filter field without a visible label says what it is ("Desde", "Hasta")
        const label = input.labels && input.labels[0];
        input.placeholder = label ? label.textContent.trim() : "";
      }
      input.after(hidden);
      const parts = hidden.value.split("-").map(Number);
      const selected = parts.length === 3 && parts[0] ? [new Date(parts[0], parts[1] - 1, parts[2])] : [];
      input._picker = new window.AirDatepicker(input, {
        locale: pickerLocale(lang), altField: hidden, altFieldDateFormat: "yyyy-MM-dd", autoClose: true,
        selectedDates: selected, isMobile: window.matchMedia("(max-width: 800px)").matches,
        buttons: ["today", "clear"],
        onSelect: function () { hidden.dispatchEvent(new Event("change", { bubbles: true })); },
      });
      // Typed text is not parsed: emptying the field clears the date (and the filter) instead of keeping the old one.
      input.addEventListener("input", function () {
        if (input.value.trim() === "" && hidden.value !== "") {
          input._picker.clear({ silent: true });
          hidden.value = "";
          hidden.dispatchEvent(new Event("change", { bubbles: true }));
        }
      });
    });
  }
  enhanceDates(document);
  // htmx 4 names the event htmx:after:swap (htmx 2's htmx:afterSwap never fires with the vendored 4.0).
  // Its target may be the element an outerHTML swap replaced: the whole document is looked at (inputs already
  // enhanced are skipped).
  document.body.addEventListener("htmx:after:swap", function () { enhanceDates(document); });
})();

// Downloads (core/_csv_links.html): a link marked data-export gets the page's export choices (#export-options:
// headers, durations) and its flavour (dialect) when clicked. The choices are remembered in this browser.
(function () {
  "use strict";
  const KEY = "centralita.exportOptions";
  function form() { return document.getElementById("export-options"); }
  function saved() {
    try { return JSON.parse(window.localStorage.getItem(KEY) || "{}"); } catch (e) { return {}; }
  }
  function restore() {
    const f = form();
    if (!f) return;
    const s = saved();
    Object.keys(s).forEach(function (name) {
      f.querySelectorAll("input[type=radio]").forEach(function (input) {
        if (input.name === name && input.value === s[name]) input.checked = true;
      });
    });
  }
  document.addEventListener("change", function (ev) {
    const f = ev.target.closest && ev.target.closest("#export-options");
    if (!f) return;
    const chosen = {};
    new FormData(f).forEach(function (v, k) { chosen[k] = v; });
    try { window.localStorage.setItem(KEY, JSON.stringify(chosen)); } catch (e) { /* private mode: not remembered */ }
  });
  document.addEventListener("click", function (ev) {
    const a = ev.target.closest && ev.target.closest("a[data-export]");
    if (!a) return;
    const url = new URL(a.getAttribute("href"), window.location.href);
    const f = form();
    if (f) new FormData(f).forEach(function (v, k) { url.searchParams.set(k, v); });
    url.searchParams.set("dialect", a.dataset.export);
    a.setAttribute("href", url.pathname + url.search);
  }, true);
  restore();
})();
