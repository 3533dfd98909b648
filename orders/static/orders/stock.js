// Live stock on the call screen: "centralita:stock" events carry the new availability of the products
// another agent just sold (or that came back); the search results update in place.
(function () {
  "use strict";
  document.body.addEventListener("centralita:stock", function (ev) {
    (ev.detail.products || []).forEach(function (p) {
      document.querySelectorAll('[data-stock-sku="' + p.sku + '"]').forEach(function (el) {
        const label = el.querySelector("[data-available]");
        if (label) label.textContent = p.available;
        const qty = el.querySelector("[data-quantity]");
        const add = el.querySelector("[data-add]");
        if (qty) qty.max = p.available;
        if (add) add.disabled = p.available <= 0;
        el.classList.add("flash");
        setTimeout(function () { el.classList.remove("flash"); }, 1300);
      });
    });
  });
})();
