// Conversation screen: announce "I have this open" every 20 s (collision warning), show who else has it open,
// and reload the page's timeline when this conversation changes (new message, state, owner).
(function () {
  "use strict";
  const script = document.currentScript || document.querySelector("script[data-conversation]");
  const id = Number(script && script.dataset.conversation);
  if (!id) return;
  function announce() { if (window.centralitaSend) window.centralitaSend({ type: "viewing", conversation_id: id }); }
  document.body.addEventListener("centralita:resync", announce);
  setInterval(announce, 20000);
  const banner = document.getElementById("collision");
  document.body.addEventListener("centralita:viewing", function (ev) {
    if (ev.detail.conversation_id !== id || !banner) return;
    const others = (ev.detail.viewers || []).filter(function (n) { return n !== banner.dataset.me; });
    banner.hidden = others.length === 0;
    banner.querySelector("[data-names]").textContent = others.join(", ");
  });
  let pending = null;
  document.body.addEventListener("centralita:conversation", function (ev) {
    if (!ev.detail.conversation || ev.detail.conversation.id !== id) return;
    const typing = document.getElementById("reply-body");
    if (typing && typing.value) return; // never wipe what the agent is writing; the next event or reload shows it
    clearTimeout(pending);
    pending = setTimeout(function () { location.reload(); }, 300);
  });
})();
