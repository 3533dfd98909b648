// Live queue: rows update in place from "centralita:lead" events (the event carries the change, so no page
// refetch); a lead new to this page is appended when it fits on it, otherwise a banner offers a refresh.
(function () {
  "use strict";
  const results = document.getElementById("queue-results");
  if (!results) return;
  const template = document.getElementById("queue-row-template");
  const banner = document.getElementById("new-leads");
  let newCount = 0;
  // The page's SHORT_DATETIME_FORMAT (config/formats): d/m/Y H:i in Spanish, Y-m-d H:i in English.
  function shortDateTime(iso) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso);
    if (!m) return iso;
    return document.documentElement.lang === "es"
      ? m[3] + "/" + m[2] + "/" + m[1] + " " + m[4] + ":" + m[5]
      : m[1] + "-" + m[2] + "-" + m[3] + " " + m[4] + ":" + m[5];
  }
  function fill(row, lead) {
    const set = function (key, value) {
      const el = row.querySelector('[data-f="' + key + '"]');
      if (el) el.textContent = value || "";
    };
    set("name", lead.name);
    set("customer_name", lead.customer_name);
    set("status_label", lead.status_label);
    set("held_by_name", lead.held_by_name);
    set("last_note", (lead.last_note || "").slice(0, 90));
    const link = row.querySelector('a[data-f="name"]');
    if (link) link.href = "/call-center-queue/leads/" + lead.id + "/";
    const badge = row.querySelector('[data-f="status_label"]');
    if (badge) badge.className = "badge status-" + lead.status;
    row.classList.add("flash");
    setTimeout(function () { row.classList.remove("flash"); }, 1300);
  }
  document.body.addEventListener("centralita:lead", function (ev) {
    const lead = ev.detail.lead;
    const tbody = results.querySelector("tbody");
    if (!tbody || !lead) return;
    const row = tbody.querySelector('tr[data-lead-id="' + lead.id + '"]');
    if (row) {
      if (!lead.in_queue) { row.remove(); return; }
      fill(row, lead);
      return;
    }
    if (!lead.in_queue || lead.held_by) return;
    const rows = tbody.querySelectorAll("tr[data-lead-id]").length;
    const size = Number(results.dataset.pageSize || 50);
    const filtered = results.dataset.filtered === "1";
    if (!filtered && rows < size && !document.getElementById("queue-next-page")) {
      const empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      const fresh = template.content.firstElementChild.cloneNode(true);
      fresh.dataset.leadId = lead.id;
      fill(fresh, lead);
      const arrived = fresh.querySelector('[data-f="arrived"]');
      if (arrived) arrived.textContent = shortDateTime(lead.queue_entered_at || "");
      tbody.appendChild(fresh);
    } else if (banner) {
      newCount += 1;
      banner.hidden = false;
      banner.querySelector("[data-count]").textContent = newCount;
    }
  });
})();
