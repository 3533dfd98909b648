// Quick replies in the composer (automation/_composer.html): typing "/" and a shortcut at the start of a word opens
// a filtered list (↑/↓ to move, Enter or Tab to insert, Esc to close); the chosen reply arrives rendered for this
// conversation and replaces the "/shortcut" typed. Variables without a value stay in the text and are named under
// it until the agent completes or deletes them (the server refuses to send them too). On a WhatsApp conversation
// whose 24-hour window is closed, the list offers the approved templates and choosing one opens it.
// Everything is delegated from document: the conversation pane is swapped by htmx.
(function () {
  "use strict";
  const VARIABLE = /\{\{\s*(cliente|customer|agente|agent|pedido|order|conversacion|conversación|conversation)\.[A-Za-z0-9_ÁÉÍÓÚáéíóúÑñ]+\s*\}\}/gi;
  const TOKEN = /(^|\s)\/([A-Za-z0-9_-]{0,30})$/;
  let token = null;  // {start, end, q} of the "/word" being typed
  let timer = null;
  let seq = 0;

  function root() { return document.querySelector("[data-qr]"); }
  function area() { return document.getElementById("reply-body"); }
  function list() { return document.getElementById("qr-list"); }
  function isReply() {
    const kind = document.querySelector("#reply-form input[name=kind]:checked");
    return !kind || kind.value === "reply";
  }
  function options() { const l = list(); return l ? Array.prototype.slice.call(l.querySelectorAll("[role=option]")) : []; }
  function active() { return options().find(function (o) { return o.getAttribute("aria-selected") === "true"; }); }
  function setActive(option) {
    options().forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    const ta = area();
    if (option && ta) { ta.setAttribute("aria-activedescendant", option.id); option.scrollIntoView({ block: "nearest" }); }
  }
  function isOpen() { const l = list(); return !!(l && !l.hidden); }
  function setExpanded(open) {
    const ta = area(), button = document.querySelector("[data-qr-open]");
    if (ta) { ta.setAttribute("aria-expanded", open ? "true" : "false"); if (!open) ta.removeAttribute("aria-activedescendant"); }
    if (button) button.setAttribute("aria-expanded", open ? "true" : "false");
  }
  function close() {
    const l = list();
    if (l) { l.hidden = true; l.innerHTML = ""; }
    token = null;
    setExpanded(false);
  }
  function currentToken(ta) {
    const upto = ta.value.slice(0, ta.selectionStart);
    const m = TOKEN.exec(upto);
    return m ? { start: upto.length - m[2].length - 1, end: ta.selectionStart, q: m[2] } : null;
  }
  function load() {
    const r = root(), l = list();
    if (!r || !l || !token) return;
    const mine = ++seq;
    fetch(r.dataset.qrPickerUrl + "?q=" + encodeURIComponent(token.q), { credentials: "same-origin" })
      .then(function (res) { return res.ok ? res.text() : ""; })
      .then(function (html) {
        if (mine !== seq || !token) return;  // a later keystroke asked again
        l.innerHTML = html;
        l.hidden = false;
        setExpanded(true);
        setActive(options()[0]);
      });
  }
  function csrf() {
    const field = document.querySelector("#reply-form [name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }
  function replaceToken(ta, text) {
    const start = token ? token.start : ta.selectionStart, end = token ? token.end : ta.selectionStart;
    ta.value = ta.value.slice(0, start) + text + ta.value.slice(end);
    const caret = start + text.length;
    ta.setSelectionRange(caret, caret);
  }
  function choose(option) {
    const ta = area(), r = root();
    if (!option || !ta || !r) return;
    if (option.dataset.templateId) {  // the window is closed: the template is completed and sent below
      replaceToken(ta, "");
      close();
      const box = document.querySelector("[data-testid=wa-templates]");
      const fieldset = box && box.querySelector('[data-testid=wa-template][data-template-id="' +
                                                Number(option.dataset.templateId) + '"]');
      if (box) box.open = true;
      if (fieldset) {
        fieldset.scrollIntoView({ block: "center" });
        const first = fieldset.querySelector("input, button");
        if (first) first.focus();
      }
      return;
    }
    const url = r.dataset.qrUseUrl.replace("/0/", "/" + option.dataset.quickReplyId + "/");
    const chosen = token;
    close();
    fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (data) {
        if (!data) return;
        // The "/word" may have moved or changed while the answer travelled: replace it only where it still is.
        const still = chosen && ta.value.slice(chosen.start, chosen.end) === "/" + chosen.q;
        token = still ? chosen : null;
        replaceToken(ta, data.body);
        token = null;
        if (data.attachment && window.CentralitaComposer) {  // its file goes with the answer (removable chip)
          window.CentralitaComposer.attachReference(ta.form, data.attachment.ref, data.attachment.name,
                                                    data.attachment.size);
        }
        ta.focus();
        ta.dispatchEvent(new Event("input", { bubbles: true }));
      });
  }
  function flagMissing() {
    const ta = area(), flag = document.querySelector("[data-qr-missing]");
    if (!ta || !flag) return;
    const found = isReply() ? (ta.value.match(VARIABLE) || []) : [];
    const unique = found.filter(function (v, i) { return found.indexOf(v) === i; });
    flag.hidden = unique.length === 0;
    flag.textContent = unique.length ? flag.dataset.template + " " + unique.join(", ") : "";
  }

  document.addEventListener("input", function (ev) {
    const ta = ev.target;
    if (!(ta instanceof HTMLTextAreaElement) || ta.id !== "reply-body" || !root()) return;
    flagMissing();
    const found = isReply() ? currentToken(ta) : null;
    if (!found) { if (isOpen() || token) close(); return; }
    token = found;
    clearTimeout(timer);
    timer = setTimeout(load, 120);
  });
  // An internal note is never sent to the customer: no list of replies and no "Enviar más tarde" for it.
  function followKind() {
    const reply = isReply();
    document.querySelectorAll("[data-schedule]").forEach(function (box) {
      box.hidden = !reply;
      if (!reply) box.open = false;
    });
  }
  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.name === "kind" && ev.target.closest("#reply-form")) {
      close(); flagMissing(); followKind();
    }
  });
  // Before the workspace's own keys (capture): while the list is open, these keys belong to it.
  document.addEventListener("keydown", function (ev) {
    if (!isOpen() || ev.target !== area() || ev.isComposing) return;  // (an IME's Enter composes a word)
    const all = options(), current = active(), i = all.indexOf(current);
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      if (all.length) setActive(all[(i + (ev.key === "ArrowDown" ? 1 : all.length - 1)) % all.length]);
    } else if ((ev.key === "Enter" && !ev.ctrlKey && !ev.metaKey && !ev.shiftKey) || (ev.key === "Tab" && !ev.shiftKey)) {
      if (!current) return;
      choose(current);
    } else if (ev.key === "Escape") {
      close();
    } else {
      return;
    }
    ev.preventDefault();
    ev.stopPropagation();
  }, true);
  document.addEventListener("mousedown", function (ev) {  // mousedown: before the text box loses focus
    const option = ev.target.closest && ev.target.closest("#qr-list [role=option]");
    if (option) { ev.preventDefault(); choose(option); }
  });
  document.addEventListener("click", function (ev) {
    const button = ev.target.closest && ev.target.closest("[data-qr-open]");
    if (!button) {
      if (isOpen() && !ev.target.closest("#qr-list") && ev.target !== area()) close();
      return;
    }
    const ta = area();
    if (!ta) return;
    if (isOpen()) { close(); ta.focus(); return; }
    const kind = document.querySelector('#reply-form input[name=kind][value=reply]');
    if (kind && !kind.checked) { kind.checked = true; kind.dispatchEvent(new Event("change", { bubbles: true })); }
    ta.focus();
    const at = ta.selectionStart, before = ta.value.slice(0, at);
    const slash = (before && !/\s$/.test(before) ? " " : "") + "/";
    ta.value = before + slash + ta.value.slice(at);
    ta.setSelectionRange(at + slash.length, at + slash.length);
    ta.dispatchEvent(new Event("input", { bubbles: true }));
  });
  // "Enviar más tarde": the shortcuts fill the date and time; "Programar envío" sends the text box's content with
  // them, and the side panel's list of scheduled messages is replaced by the server's.
  document.addEventListener("click", function (ev) {
    const shortcut = ev.target.closest && ev.target.closest("[data-schedule-at]");
    if (shortcut) {
      const box = shortcut.closest("[data-schedule]");
      const value = shortcut.dataset.scheduleAt;  // YYYY-MM-DDTHH:MM, local time
      const date = box.querySelector("[data-schedule-date]"), time = box.querySelector("[data-schedule-time]");
      setDate(date, value.slice(0, 10));
      time.value = value.slice(11, 16);
      return;
    }
    const send = ev.target.closest && ev.target.closest("[data-schedule-send]");
    if (!send) return;
    const box = send.closest("[data-schedule]"), ta = area();
    const error = box.querySelector("[data-schedule-error]");
    error.textContent = "";
    // Files go with an answer sent now; a scheduled message is text (or a template): say so, never drop them.
    if (ta && ta.form && ta.form.querySelector("[data-file-chips] .file-chip")) {
      error.textContent = box.dataset.noFiles || "";
      return;
    }
    const data = new FormData();
    const chosen = box.querySelector("[data-schedule-template]:checked");
    if (chosen && chosen.value) {  // a WhatsApp template and its values instead of the text box
      data.append("template", chosen.value);
      box.querySelectorAll('[data-schedule-var="' + chosen.value + '"]').forEach(function (input) {
        data.append("var_" + chosen.value + "_" + input.dataset.key, input.value);
      });
    }
    data.append("body", chosen && chosen.value ? "" : (ta ? ta.value : ""));
    data.append("kind", isReply() ? "reply" : "note");
    data.append("send_date", dateValue(box.querySelector("[data-schedule-date]")));
    data.append("send_time", box.querySelector("[data-schedule-time]").value);
    send.disabled = true;
    fetch(box.dataset.scheduleUrl, { method: "POST", body: data, credentials: "same-origin",
                                     headers: { "X-CSRFToken": csrf() } })
      .then(function (res) {
        if (res.ok) return res.text().then(function (html) {
          const list = document.getElementById("scheduled-list");
          if (list) {
            list.outerHTML = html;
            const fresh = document.getElementById("scheduled-list");
            if (window.htmx && window.htmx.process) window.htmx.process(fresh);  // edit and cancel work in place
            fresh.dispatchEvent(new CustomEvent("htmx:after:swap", { bubbles: true }));  // date pickers
          }
          if (ta && !(chosen && chosen.value)) { ta.value = ""; ta.dispatchEvent(new Event("input", { bubbles: true })); }
          const textChoice = box.querySelector('[data-schedule-template=""]');
          if (textChoice) textChoice.checked = true;  // the next "Programar envío" sends the text box again
          box.open = false;
        });
        return res.json().then(function (body) { error.textContent = body.detail || res.statusText; },
                               function () { error.textContent = res.statusText; });
      })
      .finally(function () { send.disabled = false; });
  });
  // On WhatsApp the box also offers the approved templates, fetched the first time it opens (the page pays nothing
  // for them until then).
  document.addEventListener("toggle", function (ev) {
    const box = ev.target;
    if (!(box instanceof HTMLDetailsElement) || !box.open || !box.hasAttribute("data-schedule")) return;
    const slot = box.querySelector("[data-schedule-templates]");
    if (!slot || slot.dataset.loaded) return;
    slot.dataset.loaded = "1";
    slot.setAttribute("aria-busy", "true");
    fetch(slot.dataset.scheduleTemplatesUrl, { credentials: "same-origin" })
      .then(function (res) {
        if (!res.ok || res.redirected) throw new Error(res.statusText);  // a login page is not a template list
        return res.text();
      })
      .then(function (html) { slot.innerHTML = html; })
      .catch(function () { delete slot.dataset.loaded; slot.textContent = slot.dataset.error || ""; })
      .finally(function () { slot.removeAttribute("aria-busy"); });
  }, true);
  // Enter in the box schedules (it would otherwise submit the reply form around it).
  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" || ev.isComposing || !(ev.target instanceof HTMLInputElement)) return;
    const box = ev.target.closest("[data-schedule]");
    if (!box) return;
    ev.preventDefault();
    const send = box.querySelector("[data-schedule-send]");
    if (send) send.click();
  });
  // The date field may be enhanced by the date picker (core/app.js): its value then lives in a hidden twin.
  function dateTwin(input) {
    const next = input && input.nextElementSibling;
    return next && next.type === "hidden" ? next : null;
  }
  function dateValue(input) { const twin = dateTwin(input); return twin ? twin.value : (input ? input.value : ""); }
  function setDate(input, iso) {
    const twin = dateTwin(input);
    if (twin && input._picker) {
      const parts = iso.split("-").map(Number);
      input._picker.selectDate(new Date(parts[0], parts[1] - 1, parts[2]));
      twin.value = iso;
    } else if (input) {
      input.value = iso;
    }
  }

  // After a send the form is emptied: no flag and no open list left behind.
  document.addEventListener("htmx:after:request", function () { setTimeout(function () { close(); flagMissing(); }, 0); });
  // htmx 4 names it htmx:after:swap: a new conversation in the pane starts with no "/word" pending.
  document.addEventListener("htmx:after:swap", function () { token = null; followKind(); });
})();
