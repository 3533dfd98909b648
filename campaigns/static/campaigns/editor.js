// The campaign editor: shows the chosen channel's fields and the schedule's, offers only the templates of the chosen
// WhatsApp number, counts SMS characters and segments as the text is typed (a port of connectors/sms/segments.py:
// GSM-7 160/153, UCS-2 70/67, an escape or surrogate pair never split), and keeps "Enviar prueba" and "Lanzar" for
// the saved version (they act on what is stored). Without this script every field shows and the page still saves.
(function () {
  "use strict";

  // --- dialogs (launch confirmation): a close link closes its dialog instead of leaving the page -------------------
  document.addEventListener("click", function (ev) {
    const closer = ev.target.closest && ev.target.closest("[data-close-dialog]");
    if (!closer) return;
    const dialog = closer.closest("dialog");
    if (!dialog) return;
    ev.preventDefault();
    dialog.close();
    const hash = closer.hash || "";
    if (hash.length > 1) {
      const target = document.getElementById(hash.slice(1));
      if (target) target.scrollIntoView({block: "start"});
    }
  });

  const form = document.querySelector("[data-campaign-editor]");
  if (!form) return;

  function checked(name) {
    const input = form.querySelector('input[name="' + name + '"]:checked');
    return input ? input.value : "";
  }

  // --- channel and schedule sections -----------------------------------------------------------------------------
  function syncChannel() {
    const channel = checked("channel");
    form.querySelectorAll("[data-channel-section]").forEach(function (section) {
      section.hidden = section.dataset.channelSection !== channel;
    });
  }
  function syncSchedule() {
    const mode = checked("schedule_mode");
    form.querySelectorAll(".schedule-at").forEach(function (el) { el.hidden = mode !== "at"; });
    form.querySelectorAll(".schedule-window").forEach(function (el) { el.hidden = mode !== "local"; });
  }

  // --- templates of the chosen number ----------------------------------------------------------------------------
  const wabas = {};
  (form.dataset.numberWabas || "").split(",").forEach(function (pair) {
    const parts = pair.split(":");
    if (parts.length === 2) wabas[parts[0]] = parts[1];
  });
  const numberSelect = form.querySelector('select[name="wa_number"]');
  const templateSelect = form.querySelector("[data-template-select]");
  function syncTemplates(userChange) {
    if (!numberSelect || !templateSelect) return;
    const waba = wabas[numberSelect.value] || "";
    let chosenHidden = false;
    Array.prototype.forEach.call(templateSelect.options, function (option) {
      if (!option.value) return;
      const other = Boolean(waba) && option.dataset.waba !== waba;
      option.hidden = other;
      option.disabled = other;
      if (other && option.selected) chosenHidden = true;
    });
    if (chosenHidden && userChange) {
      templateSelect.value = "";
      templateSelect.dispatchEvent(new Event("change", {bubbles: true}));
    }
  }

  // --- a template variable: a customer field, or fixed text --------------------------------------------------------
  function syncVariable(select) {
    const row = select.closest("[data-template-var]");
    const text = row && row.querySelector("[data-var-text]");
    if (text) text.hidden = select.value !== "__text__";
  }
  function syncVariables() { form.querySelectorAll("[data-var-source]").forEach(syncVariable); }

  // --- SMS segments ----------------------------------------------------------------------------------------------
  const BASIC = new Set(Array.from("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"));
  const EXTENSION = new Set(Array.from("\f^{}\\[~]|€"));
  function pack(sizes, single, part) {
    const total = sizes.reduce(function (a, b) { return a + b; }, 0);
    if (total === 0) return 0;
    if (total <= single) return 1;
    let parts = 1, used = 0;
    sizes.forEach(function (size) {
      if (used + size > part) { parts += 1; used = 0; }
      used += size;
    });
    return parts;
  }
  function segments(body) {
    const chars = Array.from(body);
    const gsm = chars.every(function (ch) { return BASIC.has(ch) || EXTENSION.has(ch); });
    let sizes;
    if (gsm) {
      sizes = chars.map(function (ch) { return EXTENSION.has(ch) ? 2 : 1; });
      return {encoding: "GSM-7", characters: sizes.reduce(function (a, b) { return a + b; }, 0),
              parts: pack(sizes, 160, 153)};
    }
    sizes = chars.map(function (ch) { return ch.codePointAt(0) > 0xFFFF ? 2 : 1; });
    return {encoding: "UCS-2", characters: sizes.reduce(function (a, b) { return a + b; }, 0),
            parts: pack(sizes, 70, 67)};
  }
  window.CampaignSegments = segments;  // the browser test checks the port against the Python original
  const smsBody = form.querySelector("[data-sms-body]");
  const counter = form.querySelector("[data-sms-counter]");
  function syncCounter() {
    if (!smsBody || !counter) return;
    const s = segments(smsBody.value);
    const template = s.parts === 1 ? counter.dataset.templateOne : counter.dataset.template;
    const encoding = s.encoding === "GSM-7" ? counter.dataset.labelGsm : counter.dataset.labelUcs;
    counter.textContent = template.replace("{chars}", String(s.characters)).replace("{parts}", String(s.parts))
      .replace("{encoding}", encoding) + (s.encoding === "UCS-2" && s.characters ? " — " + counter.dataset.hintUcs : "");
    counter.classList.toggle("is-ucs", s.encoding === "UCS-2" && s.characters > 0);
  }

  // --- unsaved changes: test and launch act on the saved draft -----------------------------------------------------
  let dirty = false;
  function markDirty() {
    if (dirty) return;
    dirty = true;
    document.querySelectorAll("[data-dirty-note]").forEach(function (el) { el.hidden = false; });
    document.querySelectorAll("[data-needs-saved]").forEach(function (el) {
      el.setAttribute("aria-disabled", "true");
      if (el.tagName === "BUTTON") el.disabled = true;
    });
  }
  document.addEventListener("click", function (ev) {
    const blocked = ev.target.closest && ev.target.closest('[data-needs-saved][aria-disabled="true"]');
    if (blocked) { ev.preventDefault(); ev.stopImmediatePropagation(); }
  }, true);

  form.addEventListener("change", function (ev) {
    const t = ev.target;
    if (t.name === "channel") syncChannel();
    if (t.name === "schedule_mode") syncSchedule();
    if (t === numberSelect) syncTemplates(true);
    if (t.matches && t.matches("[data-var-source]")) syncVariable(t);
    markDirty();
  });
  form.addEventListener("input", function (ev) {
    if (ev.target === smsBody) syncCounter();
    markDirty();
  });
  form.addEventListener("submit", function () { dirty = false; });

  // A new template's variables arrived (htmx): show the right inputs and refresh the preview with them.
  const templateFields = document.getElementById("template-fields");
  if (templateFields && window.MutationObserver) {
    new MutationObserver(function () {
      syncVariables();
      document.body.dispatchEvent(new CustomEvent("campaign:refresh"));
    }).observe(templateFields, {childList: true});
  }

  syncChannel();
  syncSchedule();
  syncTemplates(false);
  syncVariables();
  syncCounter();
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
