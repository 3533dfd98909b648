// Conversation page of a web chat conversation: shows "the visitor is typing" (realtime event
// centralita:webchat, op typing) and tells the visitor's widget when the agent types a reply (never a note).
(function () {
  "use strict";
  const script = document.currentScript || document.querySelector("script[data-typing-url]");
  const id = Number(script && script.dataset.conversation);
  if (!id) return;
  const indicator = document.getElementById("webchat-visitor-typing");
  let hideTimer = null;
  document.body.addEventListener("centralita:webchat", function (ev) {
    const e = ev.detail || {};
    if (e.op !== "typing" || e.conversation_id !== id || !indicator) return;
    clearTimeout(hideTimer);
    indicator.hidden = !e.typing;
    // A visitor who closes the tab mid-word never sends "stopped": the hint fades on its own.
    if (e.typing) hideTimer = setTimeout(function () { indicator.hidden = true; }, 7000);
  });
  document.body.addEventListener("centralita:conversation", function (ev) {
    if (indicator && ev.detail.conversation && ev.detail.conversation.id === id) indicator.hidden = true;
  });

  const box = document.getElementById("reply-body");
  const form = document.getElementById("reply-form");
  if (!box || !form) return;
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]");
  let lastOn = 0;
  let idleTimer = null;
  let typing = false;
  function isReply() {
    const kind = form.querySelector("input[name=kind]:checked");
    return !kind || kind.value === "reply";
  }
  function signal(on) {
    typing = on;
    const body = new URLSearchParams({ typing: on ? "1" : "0" });
    fetch(script.dataset.typingUrl, {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.value : "" },
    }).catch(function () { /* a hint only: nothing to retry */ });
  }
  box.addEventListener("input", function () {
    if (!isReply()) { if (typing) signal(false); return; }
    const now = Date.now();
    if (now - lastOn > 3000) { lastOn = now; signal(true); }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { lastOn = 0; if (typing) signal(false); }, 4000);
  });
  form.addEventListener("change", function (ev) {
    if (ev.target && ev.target.name === "kind" && !isReply() && typing) signal(false);
  });
})();
