// The rule editor: add and remove condition and action rows, and show for each row only the inputs its field or
// action takes (the server validates the same; without this script the page still saves the rows it shows).
(function () {
  "use strict";
  // The same rows on the sequence editor (its messages), without per-row syncing.
  const form = document.getElementById("rule-form") || document.getElementById("sequence-form");
  if (!form) return;
  const lists = {condition: "rule-conditions", action: "rule-actions", step: "sequence-steps-rows"};

  function syncCondition(row) {
    const field = row.querySelector("[data-cond-field]");
    const op = row.querySelector("[data-cond-op]");
    const value = row.querySelector("[data-cond-value]");
    const chosen = field.selectedOptions[0];
    const ops = chosen && chosen.value ? chosen.dataset.ops.split(",") : null;
    let firstAllowed = null;
    for (const option of op.options) {
      const allowed = !ops || ops.includes(option.value);
      option.hidden = !allowed;
      option.disabled = !allowed;
      if (allowed && firstAllowed === null) firstAllowed = option;
    }
    if (op.selectedOptions[0] && op.selectedOptions[0].disabled && firstAllowed) firstAllowed.selected = true;
    const needsValue = !chosen || !chosen.value || chosen.dataset.needsValue === "1";
    value.hidden = !needsValue;
    if (chosen && chosen.value) value.placeholder = chosen.dataset.hint || "";
  }

  function syncAction(row) {
    const type = row.querySelector("[data-action-type]");
    const chosen = type.selectedOptions[0];
    const has = (part) => chosen && chosen.value && chosen.dataset[part];
    const hints = JSON.parse(form.dataset.hints || "{}");
    for (const part of ["value", "text", "template"]) {
      const el = row.querySelector(`[data-part="${part}"]`);
      if (el) el.hidden = !has(part) || (part === "value" && chosen.dataset.value === "sequence");
    }
    const sequence = row.querySelector('[data-part="sequence"]');  // a sequence is picked by name from a list
    if (sequence) sequence.hidden = !(chosen && chosen.dataset.value === "sequence");
    if (chosen && chosen.value) {
      const valueInput = row.querySelector("[data-action-value]");
      if (valueInput && chosen.dataset.value) valueInput.setAttribute("list", "rule-values-" + chosen.dataset.value);
      const valueHint = row.querySelector('[data-hint-for="value"]');
      const textHint = row.querySelector('[data-hint-for="text"]');
      if (valueHint) valueHint.textContent = hints[chosen.dataset.value] || "";
      if (textHint) textHint.textContent = hints[chosen.dataset.text] || "";
    }
  }

  function sync(row) {
    if (row.dataset.ruleRow === "condition") syncCondition(row);
    else if (row.dataset.ruleRow === "action") syncAction(row);
  }

  function emptyNote() {
    const note = form.querySelector("[data-empty-conditions]");
    if (note) note.hidden = form.querySelectorAll('#rule-conditions [data-rule-row]').length > 0;
  }

  // Days and time only for a rule "at a scheduled time".
  function syncSchedule() {
    const event = form.querySelector("select[name=event]"), box = form.querySelector("[data-schedule-fields]");
    if (event && box) box.hidden = event.value !== "schedule";
  }
  form.addEventListener("change", (event) => {
    if (event.target.matches("select[name=event]")) syncSchedule();
    const row = event.target.closest("[data-rule-row]");
    if (row && (event.target.matches("[data-cond-field]") || event.target.matches("[data-action-type]"))) sync(row);
  });

  form.addEventListener("click", (event) => {
    const remove = event.target.closest("[data-remove-row]");
    if (remove) {
      const row = remove.closest("[data-rule-row]");
      const list = row.parentElement;
      row.remove();
      emptyNote();
      const focusable = list.querySelector("select") || form.querySelector(`[data-add-row]`);
      if (focusable) focusable.focus();
      return;
    }
    const add = event.target.closest("[data-add-row]");
    if (add) {
      const kind = add.dataset.addRow;
      const list = document.getElementById(lists[kind]);
      const template = document.getElementById(`${kind}-template`);
      const n = Number(list.dataset.next || "0");
      list.dataset.next = String(n + 1);
      const holder = document.createElement("div");
      holder.innerHTML = template.innerHTML.replaceAll("__N__", String(n));
      const row = holder.firstElementChild;
      list.appendChild(row);
      sync(row);
      emptyNote();
      const first = row.querySelector("select, input, textarea");
      if (first) first.focus();
    }
  });

  form.querySelectorAll("[data-rule-row]").forEach(sync);
})();
