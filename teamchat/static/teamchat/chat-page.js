// The chat page: new messages appear in place (the realtime event names the message; the page fetches its row
// rendered for this reader, with the cards this reader may see), sending, editing, deleting and reacting without a
// reload, files attached or pasted from the clipboard, "… está escribiendo", the read mark kept up to date, earlier
// messages on demand, and threads beside the channel (a page of their own on a phone).
(function () {
  "use strict";
  const page = document.querySelector("[data-chat-page]");
  if (!page) return;
  const body = document.body;
  const me = Number(body.dataset.userId);
  const channelId = Number(page.dataset.channelId || 0);
  const rowsEl = document.getElementById("chat-rows");
  const historyEl = document.getElementById("chat-history");
  const threadPane = document.getElementById("chat-thread");
  const wide = window.matchMedia("(min-width: 1100px)");

  function csrf() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    try { return JSON.parse(body.getAttribute("hx-headers:inherited") || "{}")["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }
  function fragment(html) {
    const t = document.createElement("template");
    t.innerHTML = html;
    return t.content;
  }
  function processed(nodes) {
    if (window.htmx) nodes.forEach(function (n) { window.htmx.process(n); });
  }
  function lastId(list) {
    let max = 0;
    if (!list) return 0;
    list.querySelectorAll(":scope > .chat-row").forEach(function (li) { max = Math.max(max, Number(li.dataset.messageId)); });
    return max;
  }
  function nearBottom() {
    return !historyEl || historyEl.scrollHeight - historyEl.scrollTop - historyEl.clientHeight < 120;
  }
  function toBottom() { if (historyEl) historyEl.scrollTop = historyEl.scrollHeight; }
  // Puts each row of `html` in `list`: an existing row with the same id is replaced (an edit, a reaction, or the
  // same message arriving by both the send's answer and the realtime event), a new one appended (or prepended).
  function upsert(list, html, prepend) {
    if (!list) return [];
    const added = [];
    const frag = fragment(html);
    const rows = Array.from(frag.children);
    const anchor = prepend ? list.firstElementChild : null;
    rows.forEach(function (row) {
      const existing = row.id ? list.querySelector(":scope > #" + CSS.escape(row.id)) : null;
      if (existing) { existing.replaceWith(row); added.push(row); return; }
      if (row.dataset.chatDivider !== undefined && list.querySelector("[data-chat-divider]")) return;
      if (prepend) {
        list.insertBefore(row, anchor);
      } else {
        // In id order: a colleague's message fetched after one's own later message goes before it.
        const id = Number(row.dataset.messageId || 0);
        let after = null;
        if (id) {
          const later = Array.from(list.querySelectorAll(":scope > .chat-row")).filter(function (li) {
            return Number(li.dataset.messageId) > id;
          });
          after = later.length ? later[0] : null;
        }
        if (after) list.insertBefore(row, after); else list.appendChild(row);
      }
      added.push(row);
    });
    processed(added);
    const empty = document.querySelector("[data-chat-empty]");
    if (empty && list.querySelector(".chat-row")) empty.remove();
    return added;
  }
  function request(url, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    opts.headers = Object.assign({ "X-CSRFToken": csrf(), "HX-Request": "true" }, opts.headers);
    return fetch(url, opts);
  }
  function showError(form, text) {
    const box = form && form.querySelector("[data-chat-error]");
    if (!box) return;
    box.textContent = text || "";
    box.hidden = !text;
  }
  function errorText(response) {
    return response.json().then(function (d) { return d.detail || page.dataset.labelError; })
      .catch(function () { return page.dataset.labelError; });
  }

  // --- the read mark -------------------------------------------------------------------------------------------
  let readTimer = null;
  let readSent = 0;
  function markRead() {
    if (!channelId || page.dataset.member !== "on" || document.visibilityState !== "visible" || !nearBottom()) return;
    const upTo = lastId(rowsEl);
    if (!upTo || upTo <= readSent) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      readSent = upTo;
      const data = new FormData();
      data.append("up_to", String(upTo));
      request(page.dataset.readUrl, { method: "POST", body: data }).catch(function () { readSent = 0; });
    }, 400);
  }

  // --- new messages ------------------------------------------------------------------------------------------------
  // What has been fetched from the server in order, up to which id: one's own message, shown from the send's
  // answer, does not move it (messages of others sent just before it are still to fetch).
  let cursor = lastId(rowsEl);
  let hasLater = historyEl ? historyEl.dataset.hasLater !== undefined : false;
  let fetching = false;
  let again = false;
  function fetchNew() {
    if (!rowsEl || !page.dataset.messagesUrl) return;
    if (fetching) { again = true; return; }
    fetching = true;
    const stick = nearBottom() && !hasLater;
    request(page.dataset.messagesUrl + "?after=" + cursor)
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (html.trim()) {
          const rows = upsert(rowsEl, html, false);
          rows.forEach(function (row) { cursor = Math.max(cursor, Number(row.dataset.messageId || 0)); });
          hasLater = rows.length >= 50;
          if (stick) toBottom();
        } else {
          hasLater = false;
        }
        markRead();
      })
      .catch(function () { /* offline: the resync after reconnecting fetches them */ })
      .finally(function () {
        fetching = false;
        if (again) { again = false; fetchNew(); }
      });
  }
  function refreshRow(messageId) {
    [rowsEl, threadRows()].forEach(function (list) {
      if (!list) return;
      const inThread = list !== rowsEl;
      const row = list.querySelector(":scope > #" + (inThread ? "t-" : "m-") + Number(messageId));
      if (!row) return;
      request("/chat/m/" + Number(messageId) + "/" + (inThread ? "?hilo=1" : ""))
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) { if (html.trim()) upsert(list, html, false); });
    });
  }

  // --- threads -------------------------------------------------------------------------------------------------------
  function threadRows() { return threadPane ? threadPane.querySelector("[data-thread-rows]") : null; }
  function threadRoot() {
    const b = threadPane && threadPane.querySelector("[data-thread-root]");
    return b ? Number(b.dataset.threadRoot) : 0;
  }
  function openThread(rootId) {
    const url = "/chat/m/" + Number(rootId) + "/hilo";
    if (!wide.matches || !threadPane || page.dataset.threadPage !== undefined) { location.href = url; return; }
    request(url).then(function (r) { return r.ok ? r.text() : ""; }).then(function (html) {
      if (!html) return;
      threadPane.innerHTML = html;
      threadPane.hidden = false;
      const b = threadPane.querySelector("[data-thread-root]");
      if (b) b.dataset.cursor = String(lastId(threadRows()));
      page.classList.add("chat-with-thread");
      processed([threadPane]);
      wireComposers(threadPane);
      const box = threadPane.querySelector("textarea");
      if (box) box.focus();
    });
  }
  function fetchReplies() {
    const list = threadRows();
    const b = threadPane && threadPane.querySelector("[data-thread-root]");
    if (!list || !b) return;
    const after = Number(b.dataset.cursor || lastId(list));
    request(b.dataset.repliesUrl + "?after=" + after)
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (!html.trim()) return;
        const rows = upsert(list, html, false);
        rows.forEach(function (row) { b.dataset.cursor = String(Math.max(Number(b.dataset.cursor || after), Number(row.dataset.messageId || 0))); });
        list.lastElementChild.scrollIntoView({ block: "nearest" });
      });
  }

  // --- composer ------------------------------------------------------------------------------------------------------
  function renderFiles(form) {
    const input = form.querySelector("[data-chat-file-input]");
    const list = form.querySelector("[data-chat-files]");
    if (!input || !list) return;
    list.textContent = "";
    Array.from(input.files).forEach(function (file, index) {
      const li = document.createElement("li");
      if (file.type.indexOf("image/") === 0 && /^image\/(png|jpeg|gif|webp)$/.test(file.type)) {
        const img = document.createElement("img");
        img.alt = "";
        img.src = URL.createObjectURL(file);
        img.onload = function () { URL.revokeObjectURL(img.src); };
        li.appendChild(img);
      }
      const name = document.createElement("span");
      name.textContent = file.name;
      li.appendChild(name);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn-link";
      remove.textContent = "×";
      remove.setAttribute("aria-label", (page.dataset.labelRemoveFile || "") + " " + file.name);
      remove.addEventListener("click", function () {
        const keep = new DataTransfer();
        Array.from(input.files).forEach(function (f, i) { if (i !== index) keep.items.add(f); });
        input.files = keep.files;
        renderFiles(form);
      });
      li.appendChild(remove);
      list.appendChild(li);
    });
  }
  function addFiles(form, files) {
    const input = form.querySelector("[data-chat-file-input]");
    if (!input || !files.length) return;
    const all = new DataTransfer();
    Array.from(input.files).forEach(function (f) { all.items.add(f); });
    files.forEach(function (f, i) {
      // A pasted screenshot has no useful name: give it one people can read.
      const name = f.name && f.name !== "image.png" ? f.name
        : "captura-" + new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-") + (i ? "-" + i : "") + ".png";
      all.items.add(new File([f], name, { type: f.type }));
    });
    input.files = all.files;
    renderFiles(form);
  }
  let typingSent = 0;
  function wireComposers(root) {
    root.querySelectorAll("form[data-chat-composer]").forEach(function (form) {
      if (form.dataset.wired) return;
      form.dataset.wired = "1";
      const box = form.querySelector("textarea");
      const input = form.querySelector("[data-chat-file-input]");
      if (input) input.addEventListener("change", function () { renderFiles(form); });
      box.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
          ev.preventDefault();
          form.requestSubmit();
        }
      });
      box.addEventListener("input", function () {
        const now = Date.now();
        if (channelId && window.centralitaSend && now - typingSent > 3000) {
          typingSent = now;
          window.centralitaSend({ type: "chat_typing", channel_id: channelId });
        }
      });
      box.addEventListener("paste", function (ev) {
        const items = (ev.clipboardData && ev.clipboardData.items) || [];
        // Text copied from a spreadsheet or a document also carries a picture of it: that is a text paste.
        if (Array.from(items).some(function (item) { return item.kind === "string" && item.type === "text/plain"; })) return;
        const files = [];
        Array.from(items).forEach(function (item) {
          if (item.kind === "file") { const f = item.getAsFile(); if (f) files.push(f); }
        });
        if (files.length) { ev.preventDefault(); addFiles(form, files); }
      });
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (form.dataset.sending) return; // a second Enter while the first is on its way
        form.dataset.sending = "1";
        const button = form.querySelector("button[type=submit]");
        if (button) button.disabled = true;
        showError(form, "");
        request(form.action, { method: "POST", body: new FormData(form) })
          .then(function (r) {
            if (!r.ok) return errorText(r).then(function (t) { showError(form, t); });
            return r.text().then(function (html) {
              const list = form.dataset.thread ? threadRows() : rowsEl;
              upsert(list, html, false);
              box.value = "";
              // Writing in a public channel joins it, and what one writes after is read.
              if (page.dataset.member !== "on") page.dataset.member = "on";
              if (input) { input.value = ""; renderFiles(form); }
              if (form.dataset.thread) { if (list && list.lastElementChild) list.lastElementChild.scrollIntoView({ block: "nearest" }); }
              else toBottom();
              markRead();
            });
          })
          .catch(function () { showError(form, page.dataset.labelError); })
          .finally(function () { delete form.dataset.sending; if (button) button.disabled = false; box.focus(); });
      });
    });
  }
  wireComposers(document);

  // --- a message's tools -------------------------------------------------------------------------------------------
  document.addEventListener("submit", function (ev) {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.matches("[data-chat-action], [data-chat-edit]")) {
      ev.preventDefault();
      if (form.dataset.confirm !== undefined && !window.confirm(page.dataset.labelConfirmDelete)) return;
      const row = form.closest(".chat-row");
      const list = row ? row.parentElement : null;
      // The pressed button's name and value too (the reaction picker is one form with a button per emoji).
      request(form.action, { method: "POST", body: new FormData(form, ev.submitter || null) })
        .then(function (r) {
          if (!r.ok) return errorText(r).then(function (t) { showError(form, t); if (!form.querySelector("[data-chat-error]")) window.alert(t); });
          return r.text().then(function (html) { upsert(list, html, false); });
        });
    }
  });
  // A message's reaction picker is built when its "Reaccionar" opens: the emoji come once with the page
  // (data-emoji), not as a form of buttons in every row. The form is sent as the row's other tools are.
  document.addEventListener("toggle", function (ev) {
    const details = ev.target;
    if (!(details instanceof HTMLDetailsElement) || !details.open || !details.matches(".chat-react-picker")) return;
    const holder = details.querySelector(".chat-emoji");
    if (!holder || holder.firstChild) return;
    const form = document.createElement("form");
    form.method = "post";
    form.action = details.dataset.reactUrl;
    form.className = "inline";
    form.setAttribute("data-chat-action", "");
    if (details.dataset.hilo !== undefined) {
      const hilo = document.createElement("input");
      hilo.type = "hidden"; hilo.name = "hilo"; hilo.value = "1";
      form.appendChild(hilo);
    }
    (page.dataset.emoji || "").split(" ").filter(Boolean).forEach(function (emoji) {
      const button = document.createElement("button");
      button.className = "chat-emoji-btn"; button.name = "emoji"; button.value = emoji; button.textContent = emoji;
      button.setAttribute("aria-label", (page.dataset.labelReactWith || "{emoji}").replace("{emoji}", emoji));
      form.appendChild(button);
    });
    holder.appendChild(form);
  }, true);
  let lastOpener = null;
  document.addEventListener("click", function (ev) {
    const target = ev.target instanceof Element ? ev.target : null;
    if (!target) return;
    const open = target.closest("[data-chat-open-thread]");
    if (open) { ev.preventDefault(); lastOpener = open; openThread(open.dataset.chatOpenThread); return; }
    const close = target.closest("[data-chat-close-thread]");
    if (close && threadPane && page.dataset.threadPage === undefined) {
      ev.preventDefault();
      threadPane.hidden = true;
      threadPane.textContent = "";
      page.classList.remove("chat-with-thread");
      if (lastOpener && document.body.contains(lastOpener)) lastOpener.focus();
      return;
    }
    const cancel = target.closest("[data-chat-edit-cancel]");
    if (cancel) { ev.preventDefault(); refreshRow(cancel.dataset.chatEditCancel); return; }
    const earlier = target.closest("[data-chat-load-earlier]");
    if (earlier && rowsEl) {
      ev.preventDefault();
      const holder = earlier.closest("[data-chat-earlier]");
      const before = historyEl.scrollHeight;
      request(page.dataset.messagesUrl + "?before=" + Number(earlier.dataset.before))
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          if (holder) holder.remove();
          upsert(rowsEl, html, true);
          historyEl.scrollTop += historyEl.scrollHeight - before;
        });
      return;
    }
    const unreadFrom = target.closest("[data-chat-unread-from]");
    if (unreadFrom && channelId) {
      ev.preventDefault();
      const data = new FormData();
      data.append("from", unreadFrom.dataset.chatUnreadFrom);
      request("/chat/c/" + channelId + "/no-leido", { method: "POST", body: data }).then(function (r) {
        if (!r.ok) return;
        readSent = Number(unreadFrom.dataset.chatUnreadFrom) - 1;
        page.dataset.member = "paused"; // no automatic read mark until the person scrolls or writes again
        const old = rowsEl.querySelector("[data-chat-divider]");
        if (old) old.remove();
        const row = unreadFrom.closest(".chat-row");
        const divider = document.createElement("li");
        divider.className = "chat-divider";
        divider.dataset.chatDivider = "";
        const label = document.createElement("span");
        label.textContent = page.dataset.labelNew || "";
        divider.appendChild(label);
        if (row) row.before(divider);
      });
      return;
    }
    const jump = target.closest("[data-chat-jump]");
    if (jump) {
      const divider = rowsEl && rowsEl.querySelector("[data-chat-divider]");
      if (divider) historyEl.scrollTop = Math.max(0, divider.offsetTop - 48);
      jump.hidden = true;
    }
  });

  // The chat fills the window below whatever the page shows above it (banners, notices), never more.
  function fit() {
    const top = page.getBoundingClientRect().top + window.scrollY;
    page.style.setProperty("--chat-height", Math.max(420, window.innerHeight - top - 12) + "px");
  }
  fit();
  window.addEventListener("resize", fit);

  // --- scrolling and the first unread ------------------------------------------------------------------------------
  if (historyEl) {
    const divider = rowsEl && rowsEl.querySelector("[data-chat-divider]");
    if (divider) {
      historyEl.scrollTop = Math.max(0, divider.offsetTop - 48);
      const jump = document.querySelector("[data-chat-jump]");
      const shown = function () {
        const box = historyEl.getBoundingClientRect();
        const d = divider.getBoundingClientRect();
        return d.top >= box.top && d.bottom <= box.bottom;
      };
      if (jump && !shown()) jump.hidden = false;
      historyEl.addEventListener("scroll", function () { if (jump && shown()) jump.hidden = true; });
    } else {
      toBottom();
    }
    historyEl.addEventListener("scroll", function () {
      if (hasLater && nearBottom()) fetchNew();
      if (page.dataset.member === "paused") return;
      markRead();
    });
    markRead();
  }
  document.addEventListener("visibilitychange", markRead);

  // People pickers: typing filters the list by name (accents and case ignored).
  function fold(text) { return (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase(); }
  document.querySelectorAll("[data-chat-people-filter]").forEach(function (input) {
    const list = input.closest("fieldset").querySelector(".chat-people-list");
    input.addEventListener("input", function () {
      const q = fold(input.value.trim());
      list.querySelectorAll("li[data-person-name]").forEach(function (li) {
        li.hidden = q !== "" && fold(li.dataset.personName).indexOf(q) < 0;
      });
    });
  });

  // --- realtime ------------------------------------------------------------------------------------------------------
  let typingTimer = null;
  const typers = {};
  function showTyping() {
    const el = document.querySelector("[data-chat-typing]");
    if (!el) return;
    const names = Object.keys(typers).map(function (k) { return typers[k]; });
    if (!names.length) { el.textContent = ""; return; }
    el.textContent = names.length === 1 ? page.dataset.labelTypingOne.replace("{name}", names[0])
      : page.dataset.labelTypingMany;
  }
  // A channel this sidebar does not list yet (a direct message someone just opened, a channel one was added to):
  // the sidebar is fetched again, then its counts.
  let sidebarTimer = null;
  function refreshSidebar() {
    clearTimeout(sidebarTimer);
    sidebarTimer = setTimeout(function () {
      const side = page.querySelector(".chat-side");
      if (!side) return;
      request(location.pathname, { headers: { "HX-Request": "" } }).then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          const fresh = new DOMParser().parseFromString(html, "text/html").querySelector(".chat-side");
          if (!fresh) return;
          side.innerHTML = fresh.innerHTML;
          processed([side]);
          if (window.centralitaChatRefreshUnread) window.centralitaChatRefreshUnread();
        });
    }, 300);
  }
  body.addEventListener("centralita:chat", function (ev) {
    const e = ev.detail || {};
    if ((e.op === "message" || e.op === "channel_added" || e.op === "channel_removed" || e.op === "channel_updated")
        && (e.op !== "message" || !page.querySelector('[data-chat-channel-unread="' + Number(e.channel_id) + '"]'))) {
      refreshSidebar();
    }
    if (e.channel_id !== channelId) return;
    if (e.op === "message") {
      delete typers[e.author_id];
      showTyping();
      if (e.parent_id) {
        refreshRow(e.parent_id);
        if (threadRoot() === e.parent_id) fetchReplies();
      } else if (page.dataset.threadPage === undefined) {
        fetchNew();
      }
    } else if (e.op === "message_changed") {
      refreshRow(e.message_id);
    } else if (e.op === "typing" && e.user_id !== me) {
      typers[e.user_id] = e.name;
      showTyping();
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { Object.keys(typers).forEach(function (k) { delete typers[k]; }); showTyping(); }, 5000);
    } else if (e.op === "channel_removed") {
      location.href = "/chat/";
    }
  });
  body.addEventListener("centralita:resync", function () {
    fetchNew();
    if (threadRoot()) fetchReplies();
  });
})();
