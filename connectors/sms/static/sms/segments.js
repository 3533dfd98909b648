// The SMS composer's segment counter: how many SMS the reply will cost, as connectors/sms/segments.py counts them
// (GSM 03.38: 160 septets, 153 per part, extension characters take 2; otherwise UCS-2: 70 UTF-16 units, 67 per
// part, an emoji takes 2; a two-unit character is never split between parts). The conversation pane is swapped in
// place, so the listener is delegated from the document.
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "\f^{}\\[~]|€";

  function pack(sizes, single, part) {
    var total = 0, i;
    for (i = 0; i < sizes.length; i++) { total += sizes[i]; }
    if (total === 0) { return [0, 0]; }
    if (total <= single) { return [total, 1]; }
    var parts = 1, used = 0;
    for (i = 0; i < sizes.length; i++) {
      if (used + sizes[i] > part) { parts += 1; used = 0; }
      used += sizes[i];
    }
    return [total, parts];
  }

  function count(text) {
    var chars = Array.from(text), gsm = true, i;
    for (i = 0; i < chars.length; i++) {
      if (BASIC.indexOf(chars[i]) < 0 && EXTENSION.indexOf(chars[i]) < 0) { gsm = false; break; }
    }
    var sizes = chars.map(function (c) {
      return gsm ? (EXTENSION.indexOf(c) >= 0 ? 2 : 1) : c.length;  // a JS string's length is in UTF-16 units
    });
    var packed = gsm ? pack(sizes, 160, 153) : pack(sizes, 70, 67);
    return {encoding: gsm ? "GSM-7" : "UCS-2", characters: packed[0], parts: packed[1]};
  }

  function fill(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_m, key) { return String(values[key]); });
  }

  function update(form) {
    var out = form.querySelector("[data-sms-segments]");
    var box = form.querySelector("textarea[name=body]");
    if (!out || !box) { return; }
    var note = form.querySelector("input[name=kind][value=note]");
    out.hidden = Boolean(note && note.checked);
    var s = count(box.value);
    var template = s.parts === 0 ? out.dataset.none : (s.parts === 1 ? out.dataset.one : out.dataset.many);
    out.textContent = fill(template, {chars: s.characters, parts: s.parts, encoding: s.encoding,
                                      max: s.encoding === "GSM-7" ? 160 : 70});
  }

  function onChange(event) {
    var form = event.target && event.target.closest ? event.target.closest("form") : null;
    if (form && form.querySelector("[data-sms-segments]")) { update(form); }
  }

  document.addEventListener("input", onChange);
  document.addEventListener("change", onChange);
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("form [data-sms-segments]").forEach(function (el) { update(el.closest("form")); });
  });
  window.CentralitaSms = {count: count};
})();
