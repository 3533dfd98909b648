// Live inbox list: "centralita:conversation" events carry the changed row (state, owner, preview);
// known rows update in place, new conversations appear at the top of the first page.
(function () {
  "use strict";
  const table = document.getElementById("inbox-table");
  if (!table) return;
  document.body.addEventListener("centralita:conversation", function (ev) {
    const c = ev.detail.conversation;
    if (!c) return;
    const tbody = table.querySelector("tbody");
    let row = tbody.querySelector('tr[data-conversation-id="' + c.id + '"]');
    if (!row) {
      if (new URLSearchParams(location.search).get("after")) return;
      const empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      row = document.createElement("tr");
      row.dataset.conversationId = c.id;
      row.innerHTML = '<td><a></a><br><small class="muted"></small></td><td data-f="preview"><small></small></td>' +
        "<td></td><td data-f=\"assignee\"></td><td data-f=\"state\"><span class=\"badge\"></span></td><td></td>";
      row.querySelector("a").href = "/inbox/" + c.id + "/";
      row.querySelector("a").textContent = c.customer;
      row.querySelector("small.muted").textContent = c.channel + " · #" + c.id;
      row.children[2].textContent = c.inbox;
      tbody.prepend(row);
    }
    row.querySelector('[data-f="preview"] small').textContent = c.last_message_preview || "";
    row.querySelector('[data-f="assignee"]').textContent = c.assignee || "—";
    row.querySelector('[data-f="state"] .badge').textContent = c.state;
    row.classList.add("flash");
    setTimeout(function () { row.classList.remove("flash"); }, 1300);
  });
})();
