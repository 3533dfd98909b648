// Call screen behaviour that survives htmx swaps (every listener is delegated from the document):
// copy a phone number to the clipboard, and the keyboard-driven people picker used to reassign a lead
// (ARIA combobox + listbox: arrows move, Enter picks, Escape closes).
(function () {
  "use strict";

  // --- copy to clipboard ---------------------------------------------------------------------------
  let copyTimer = null;
  function announce(text) {
    const status = document.getElementById("copy-status");
    if (!status) return;
    status.textContent = text;
    clearTimeout(copyTimer);
    copyTimer = setTimeout(function () { status.textContent = ""; }, 2500);
  }
  function fallbackCopy(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }
  document.addEventListener("click", function (ev) {
    const button = ev.target.closest("[data-copy]");
    if (!button) return;
    const status = document.getElementById("copy-status");
    const copied = status ? status.dataset.copied : "Copiado";
    const failed = status ? status.dataset.failed : "";
    const text = button.dataset.copy;
    const done = function () { announce(copied); };
    const fail = function () { if (fallbackCopy(text)) { done(); } else { announce(failed); } };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fail);
    } else {
      fail();
    }
  });

  // --- people picker (reassign) ------------------------------------------------------------------------
  function parts() {
    const input = document.getElementById("reassign-search");
    const list = document.getElementById("reassign-options");
    const chosen = document.getElementById("reassign-to");
    return input && list && chosen ? { input: input, list: list, chosen: chosen } : null;
  }
  function options(p) {
    return Array.prototype.slice.call(p.list.querySelectorAll('[role="option"]:not([aria-disabled="true"])'));
  }
  function setOpen(p, open) {
    p.list.hidden = !open;
    p.input.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) p.input.removeAttribute("aria-activedescendant");
  }
  function activate(p, option) {
    options(p).forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    if (option) {
      p.input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }
  }
  function choose(p, option) {
    p.chosen.value = option.dataset.userId;
    p.input.value = option.dataset.name;
    p.input.dataset.picked = "1";  // a search answer still on its way must not reopen the list
    setOpen(p, false);
  }
  document.addEventListener("keydown", function (ev) {
    const p = parts();
    if (!p || ev.target !== p.input) return;
    const all = options(p);
    const current = p.list.querySelector('[aria-selected="true"]');
    const index = all.indexOf(current);
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      if (p.list.hidden && all.length) setOpen(p, true);
      if (!all.length) return;
      const next = ev.key === "ArrowDown" ? Math.min(index + 1, all.length - 1) : Math.max(index - 1, 0);
      activate(p, all[next]);
    } else if (ev.key === "Enter" && p.input.dataset.stale) {
      ev.preventDefault();  // the options still show an earlier search: wait for the answer to what was typed
    } else if (ev.key === "Enter" && !p.list.hidden && current) {
      ev.preventDefault();  // pick the person; a second Enter submits the form
      choose(p, current);
    } else if (ev.key === "Escape" && !p.list.hidden) {
      ev.preventDefault();
      setOpen(p, false);
    }
  });
  document.addEventListener("input", function (ev) {
    const p = parts();
    if (!p || ev.target !== p.input) return;
    p.chosen.value = "";  // typing again undoes the previous pick
    delete p.input.dataset.picked;
    p.input.dataset.stale = "1";
  });
  document.addEventListener("mousedown", function (ev) {
    const option = ev.target.closest && ev.target.closest("#reassign-options [role=option]");
    const p = parts();
    if (!p || !option || option.getAttribute("aria-disabled") === "true") return;
    ev.preventDefault();  // keep the focus in the search box
    choose(p, option);
  });
  document.addEventListener("focusout", function (ev) {
    const p = parts();
    if (p && ev.target === p.input) setTimeout(function () { setOpen(p, false); }, 150);
  });
  document.addEventListener("htmx:after:swap", function (ev) {
    const p = parts();
    const target = ev.detail && ev.detail.ctx && ev.detail.ctx.target;
    if (!p || target !== p.list) return;
    // only the answer to what is typed now makes the options current (an earlier search may answer last)
    let asked = null;
    try { asked = new URL(ev.detail.ctx.request.action, location.href).searchParams.get("q"); } catch (e) { asked = null; }
    if (asked === null || asked === p.input.value) delete p.input.dataset.stale;
    if (document.activeElement === p.input && p.list.children.length && !p.input.dataset.picked) {
      setOpen(p, true);
      activate(p, null);
    }
  });
})();
