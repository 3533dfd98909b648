// Announcements on every signed-in page (registered on the "base" page, core.assets):
// * live refreshes: a realtime "centralita:announcement" event (announcements/events.py) re-fetches the banner
//   (#ann-banner) and the regions marked data-ann-live (the list, a confirmation list; data-ann-id limits one to
//   its announcement). A confirmation or a reading by someone else leaves this person's banner alone. Refreshes of a
//   region are coalesced (a burst of confirmations is one request). After a reconnection ("centralita:resync")
//   everything is re-fetched, except right after the page loaded (it is fresh already).
// * when a swap of the banner takes the focused button away (after "Leído y entendido" or "Cerrar", or a live
//   refresh), the focus goes to the next announcement's button, or to the page's main region when none is left.
// * the editor: the team checkboxes show only with "Equipos elegidos".
(function () {
  "use strict";
  const body = document.body;
  if (!body) return;
  const me = Number(body.dataset.userId || 0);
  const loadedAt = Date.now();
  let reconnected = false;
  const timers = {};

  function refresh(id) {
    if (!window.htmx || timers[id]) return;
    timers[id] = setTimeout(function () {
      delete timers[id];
      const el = document.getElementById(id);
      if (!el) return;
      const url = el.dataset.refreshUrl || (location.pathname + location.search);
      // htmx.ajax computes HX-Target from its source element, so the server is told explicitly which region
      window.htmx.ajax("GET", url, { source: el, target: el, swap: el.dataset.annSwap || "innerHTML",
        headers: { "HX-Target": el.tagName.toLowerCase() + "#" + id } });
    }, 250);
  }

  function refreshFor(e) {
    const mine = !e || (e.op !== "acknowledged" && e.op !== "read") || Number(e.user_id) === me;
    if (mine && document.getElementById("ann-banner")) refresh("ann-banner");
    document.querySelectorAll("[data-ann-live]").forEach(function (el) {
      const id = el.dataset.annId;
      if (el.id && (!e || !id || Number(id) === Number(e.announcement_id))) refresh(el.id);
    });
  }

  body.addEventListener("centralita:announcement", function (ev) { refreshFor(ev.detail || {}); });
  body.addEventListener("centralita:resync", function () {
    if (!reconnected && Date.now() - loadedAt < 10000) { reconnected = true; return; }
    reconnected = true;
    refreshFor(null);
  });

  // The banner's content is swapped after "Leído y entendido" / "Cerrar" and by live refreshes: when the focus was in
  // the banner and the swap took the focused button away, it goes to the next announcement's button, or to the
  // page's main region when none is left (htmx 4 names the events htmx:before:swap / htmx:after:swap).
  let focusInBanner = false;
  body.addEventListener("htmx:before:swap", function () {
    const banner = document.getElementById("ann-banner");
    focusInBanner = !!banner && banner.contains(document.activeElement);
  });
  body.addEventListener("htmx:after:swap", function () {
    if (!focusInBanner) return;
    const active = document.activeElement;
    if (active && active !== body && active.isConnected) return; // the focus survived the swap
    focusInBanner = false;
    const banner = document.getElementById("ann-banner");
    const next = banner && banner.querySelector('[data-testid="ann-banner-ack"], [data-testid="ann-banner-dismiss"]');
    const main = document.getElementById("main");
    if (next) next.focus();
    else if (main) main.focus();
  });

  function syncAudience(box) {
    const teams = box.querySelector("[data-ann-teams]");
    const chosen = box.querySelector('input[type="radio"]:checked');
    if (teams) teams.hidden = !chosen || chosen.value !== "equipos";
  }
  document.querySelectorAll("[data-ann-audience]").forEach(syncAudience);
  document.addEventListener("change", function (ev) {
    const box = ev.target.closest && ev.target.closest("[data-ann-audience]");
    if (box && ev.target.type === "radio") syncAudience(box);
  });
})();
