// Small declarative behaviours for every page. They replace inline event handlers (onchange="…", onclick="…"),
// which the Content-Security-Policy forbids (docs/security.md). Listeners sit on the document, so markup that
// htmx swaps in later works without re-binding.
//   <form data-submit-on-change>            is sent as soon as one of its fields changes (filter bars)
//   <form data-confirm="¿Seguro?">          asks before it is sent; nothing is sent if the person cancels
//   <button data-show-dialog="dialog-id">   opens that <dialog> as a modal
//   <form data-query-from-location="name">  fills its field `name` with the address bar's query string when sent
//                                           (lists that filter in place keep their filters only in the address)
(function () {
  "use strict";

  document.addEventListener("change", function (ev) {
    const form = ev.target.form;
    if (form && form.hasAttribute("data-submit-on-change")) form.requestSubmit();
  });

  // Capture phase: the question comes before any other submit handler (htmx, in-place forms) acts on the form.
  document.addEventListener("submit", function (ev) {
    const form = ev.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      ev.preventDefault();
      ev.stopImmediatePropagation();
      return;
    }
    const field = form.dataset.queryFromLocation;
    if (field && form.elements[field]) form.elements[field].value = window.location.search.replace(/^\?/, "");
  }, true);

  document.addEventListener("click", function (ev) {
    const opener = ev.target.closest && ev.target.closest("[data-show-dialog]");
    if (!opener) return;
    const dialog = document.getElementById(opener.dataset.showDialog);
    if (dialog && !dialog.open) dialog.showModal();
  });
})();
