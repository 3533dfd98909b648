// The customer list's filters on a phone: the search stays, the other filters fold behind "Filtros y orden"
// (without JavaScript the button stays hidden and every filter shows).
(function () {
  "use strict";
  var button = document.querySelector("[data-filters-toggle]");
  var form = document.getElementById("customer-filters");
  if (!button || !form) { return; }
  form.classList.add("is-collapsible");
  button.hidden = false;
  button.addEventListener("click", function () {
    var open = form.classList.toggle("is-open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });
})();
