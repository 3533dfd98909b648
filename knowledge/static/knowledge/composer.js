// The knowledge base's picker under the composer (knowledge/_composer.html): opening it focuses its search box, which
// asks the server as the agent types (htmx swaps the hits in); "Insertar texto" / "Insertar enlace" fetch the
// published article's plain text or public link, close the picker and insert it at the caret of the reply, where
// the agent reviews it before sending. Esc closes the picker.
// Delegated from document: the conversation pane is swapped by htmx.
(function () {
  "use strict";

  function area() { return document.getElementById("reply-body"); }

  function insertAtCaret(ta, text) {
    const start = ta.selectionStart ?? ta.value.length, end = ta.selectionEnd ?? ta.value.length;
    const before = ta.value.slice(0, start), after = ta.value.slice(end);
    const lead = before && !/\s$/.test(before) ? (text.indexOf("\n") >= 0 ? "\n\n" : " ") : "";
    const trail = after && !/^\s/.test(after) ? " " : "";
    ta.value = before + lead + text + trail + after;
    const caret = (before + lead + text).length;
    ta.setSelectionRange(caret, caret);
    ta.focus();
    ta.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("toggle", function (ev) {
    const details = ev.target;
    if (!(details instanceof HTMLDetailsElement) || !details.classList.contains("kb-picker") || !details.open) return;
    const search = details.querySelector("input[type=search]");
    if (search) search.focus();
  }, true);

  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "Escape" || !(ev.target instanceof Element)) return;
    const details = ev.target.closest(".kb-picker");
    if (!details || !details.open) return;
    ev.preventDefault();
    details.open = false;
    const summary = details.querySelector("summary");
    if (summary) summary.focus();
  });

  document.addEventListener("click", function (ev) {
    const button = ev.target instanceof Element ? ev.target.closest("[data-kb-insert]") : null;
    if (!button) return;
    ev.preventDefault();
    const root = button.closest("[data-kb]"), ta = area();
    if (!root || !ta) return;
    const url = root.dataset.kbArticleUrl.replace("/0/", "/" + Number(button.dataset.kbId) + "/");
    const kind = button.dataset.kbInsert;
    button.disabled = true;
    const status = root.querySelector("[data-kb-status]");
    function say(message) { if (status) status.textContent = message || ""; }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (data) {
        button.disabled = false;
        // taken back to draft or deleted since the search, or the server did not answer: say so, insert nothing
        if (!data) { say(root.dataset.kbGone); return; }
        const text = kind === "link" ? data.title + ": " + data.url : data.text;
        if (!text) { say(root.dataset.kbGone); return; }
        // the reply's limit is the channel's (the text box's maxlength): a longer article is not cut silently
        const room = ta.maxLength > 0 ? ta.maxLength - ta.value.length + (ta.selectionEnd - ta.selectionStart) : Infinity;
        if (text.length + 2 > room) { say(root.dataset.kbTooLong); return; }
        const details = root.querySelector("details");
        if (details) details.open = false;  // the box covers the reply: close it so the inserted text shows
        insertAtCaret(ta, text);
        say(root.dataset.kbInserted);
      })
      .catch(function () { button.disabled = false; say(root.dataset.kbGone); });
  });
})();
