// Lead-flow report page: draws the four charts from the JSON embedded in the results fragment (exactly what
// GET /api/v1/reports/lead-flow returns). A filter change swaps the fragment (htmx); the observer redraws.
(function () {
  "use strict";
  const results = document.getElementById("leadflow-results");
  const CC = window.CentralitaCharts;
  if (!results || !CC) return;
  const P = CC.PALETTE;
  // Colour carries meaning only redundantly (legend, labels, table): green/vermillion stay apart for
  // protanopes and deuteranopes in this palette, and "No clasificado" is neutral grey.
  const OUTCOME_COLORS = { positivo: P.green, negativo: P.vermillion, parcial: P.orange, no_clasificado: P.grey };

  function json(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function render() {
    const data = json("leadflow-data");
    const t = json("leadflow-labels");
    if (!data || !t) return;
    const lang = document.documentElement.lang || "es";
    const minutes = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
    CC.fromRows(document.getElementById("chart-operators"), {
      // Horizontal: one row per operator, so every name shows (vertical bars skipped names to fit).
      type: "bar", horizontal: true, rows: data.by_operator, label: "operator_name", xTitle: t.operators,
      series: [
        { key: "calls", label: t.calls, color: P.blue },
        { key: "unique_leads", label: t.unique_leads, color: P.orange },
        { key: "closed", label: t.closed, color: P.green },
      ],
    });
    CC.fromRows(document.getElementById("chart-hours"), {
      type: "bar", rows: data.by_hour, xTitle: t.hour,
      label: function (r) { return String(r.hour).padStart(2, "0"); },
      series: [
        { key: "calls", label: t.calls, color: P.blue },
        { key: "sales", label: t.sales, color: P.green },
      ],
    });
    const money = CC.moneyFormatter(t.money);
    CC.fromRows(document.getElementById("chart-sales"), {
      type: "bar", horizontal: true, rows: data.by_operator.filter(function (r) { return r.sales > 0; }),
      label: "operator_name", xTitle: t.operators, yTitle: t.revenue, formatValue: money,
      series: [{ key: function (r) { return Number(r.revenue); }, label: t.revenue, color: P.green }],
    });
    CC.fromRows(document.getElementById("chart-outcomes"), {
      type: "doughnut", rows: data.outcomes, label: "label",
      colors: data.outcomes.map(function (r) { return OUTCOME_COLORS[r.outcome] || P.grey; }),
      series: [{ key: "calls", label: t.calls }],
    });
    // The most readable unit for the slowest value shown: minutes up to two hours, hours up to two days, days beyond
    // (no "30.000 min").
    const speedRows = data.by_operator.filter(function (r) { return r.speed_to_lead_count > 0; });
    const slowest = Math.max.apply(null, [0].concat(speedRows.map(function (r) {
      return Math.max(r.speed_to_lead_mean_seconds || 0, r.speed_to_lead_median_seconds || 0);
    })));
    const unit = slowest >= 2 * 86400 ? { seconds: 86400, title: t.days }
      : slowest >= 2 * 3600 ? { seconds: 3600, title: t.hours_unit } : { seconds: 60, title: t.minutes };
    const inUnit = function (key) {
      return function (r) { return r[key] === null ? null : r[key] / unit.seconds; };
    };
    CC.fromRows(document.getElementById("chart-speed"), {
      type: "bar", horizontal: true, rows: speedRows,
      label: "operator_name", yTitle: unit.title, xTitle: t.operators,
      formatValue: function (v) { return minutes.format(v); },
      series: [
        { key: inUnit("speed_to_lead_median_seconds"), label: t.speed_median, color: P.blue },
        { key: inUnit("speed_to_lead_mean_seconds"), label: t.speed_mean, color: P.orange },
      ],
    });
  }

  let pending = false;
  new MutationObserver(function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; render(); });
  }).observe(results, { childList: true });
  CC.bindDownloads(document);
  render();
})();
