// Page behaviour shared by every screen. Presence: any element with data-presence-user="<id>" shows that
// user's availability and is updated live from "centralita:presence" events.
(function () {
  "use strict";
  const body = document.body;
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
})();
