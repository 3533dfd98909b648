// Conversation pane of a web chat conversation: shows "the visitor is typing" (realtime event
// centralita:webchat, op typing) and tells the visitor's widget when the agent types a reply (never a note).
// The workspace swaps conversations in place and runs this script again each time: the listeners are
// registered once, on document, and read the open conversation from the page when they run.
(function () {
  "use strict";
  if (window.centralitaWebchatAgent) return;
  window.centralitaWebchatAgent = true;
  function indicator() { return document.getElementById("webchat-visitor-typing"); }
  function openId() { const node = indicator(); return node ? Number(node.dataset.conversation) : 0; }
  let hideTimer = null;
  document.body.addEventListener("centralita:webchat", function (ev) {
    const e = ev.detail || {};
    const node = indicator();
    if (e.op !== "typing" || !node || e.conversation_id !== openId()) return;
    clearTimeout(hideTimer);
    node.hidden = !e.typing;
    // A visitor who closes the tab mid-word never sends "stopped": the hint fades on its own.
    if (e.typing) hideTimer = setTimeout(function () { const n = indicator(); if (n) n.hidden = true; }, 7000);
  });
  document.body.addEventListener("centralita:conversation", function (ev) {
    const node = indicator();
    if (node && ev.detail.conversation && ev.detail.conversation.id === openId()) node.hidden = true;
  });

  let lastOn = 0;
  let idleTimer = null;
  let typingFor = 0; // the conversation the widget was last told "typing" about
  function isReply(form) {
    const kind = form.querySelector("input[name=kind]:checked");
    return !kind || kind.value === "reply";
  }
  function signal(id, url, on, form) {
    typingFor = on ? id : 0;
    const csrf = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    fetch(url, {
      method: "POST", body: new URLSearchParams({ typing: on ? "1" : "0" }), credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.value : "" },
    }).catch(function () { /* a hint only: nothing to retry */ });
  }
  document.addEventListener("input", function (ev) {
    const node = indicator();
    if (!node || ev.target.id !== "reply-body") return;
    const form = ev.target.form;
    const id = openId();
    const url = node.dataset.typingUrl;
    if (!isReply(form)) { if (typingFor === id) signal(id, url, false, form); return; }
    const now = Date.now();
    if (now - lastOn > 3000) { lastOn = now; signal(id, url, true, form); }
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { lastOn = 0; if (typingFor === id) signal(id, url, false, form); }, 4000);
  });
  document.addEventListener("change", function (ev) {
    const node = indicator();
    if (!node || ev.target.name !== "kind" || !ev.target.closest("#reply-form")) return;
    if (!isReply(ev.target.form) && typingFor === openId()) signal(openId(), node.dataset.typingUrl, false, ev.target.form);
  });
})();
