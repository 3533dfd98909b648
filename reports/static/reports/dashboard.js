// Performance dashboard (/reportes/). Fetches GET /api/v1/reports/dashboard with the session cookie — exactly
// the JSON API clients get — and draws the KPI cards and the charts with the shared helper (charts.js). A filter
// change fetches again and puts the filters in the address (pushState; back/forward restore them) without
// reloading the page. Clicking a bar, point or slice lists the conversations behind it in a dialog
// (GET /api/v1/reports/dashboard/conversations, 50 per page). Texts come translated from the server
// (json_script "dashboard-config", built by reports/dashboard_ui.py).
(function () {
  "use strict";
  const CC = window.CentralitaCharts;
  const form = document.getElementById("dashboard-filters");
  const configEl = document.getElementById("dashboard-config");
  if (!CC || !form || !configEl) return;
  const cfg = JSON.parse(configEl.textContent);
  const T = cfg.texts;
  const P = CC.PALETTE;
  const lang = document.documentElement.lang || "es";
  const integer = new Intl.NumberFormat(lang);
  const percent = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 });
  // Amounts exactly as the server writes them (core.money); axis ticks compact ("1,2 M") with the same currency.
  const moneyFull = CC.moneyFormatter(cfg.money);
  const money = { format: moneyFull };
  const compact = new Intl.NumberFormat(lang, { notation: "compact", maximumFractionDigits: 1 });
  const moneyShort = { format: function (v) {
    const n = compact.format(v);
    return cfg.money.display === "symbol" ? cfg.money.symbol + "\u00a0" + n : n + "\u00a0" + cfg.money.currency;
  } };
  const hoursTick = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  const statusEl = document.getElementById("dashboard-status");
  const errorEl = document.getElementById("dashboard-error");
  const STATE_COLORS = { interesado: P.skyBlue, en_seguimiento: P.orange, convertido: P.green, no_interesado: P.grey };
  const CHANNEL_COLORS = [P.blue, P.orange, P.green, P.vermillion, P.purple, P.skyBlue, P.black, P.yellow];
  let current = null; // the last answer drawn
  let sequence = 0; // answers to older requests are dropped

  // --- formatting ------------------------------------------------------------------------------------------

  // Python-style "%(name)s" / "%(name)02d" templates (the server's translations)
  function fill(template, values) {
    return template.replace(/%\((\w+)\)(0?)(\d*)[sd]/g, function (_m, key, zero, width) {
      const v = String(values[key]);
      return zero && width ? v.padStart(Number(width), "0") : v;
    });
  }

  // Same rule as the `duration` template filter (reports_format.py): "45 s", "3 min 20 s", "1 h 05 min", "3 d 4 h"
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const total = Math.round(seconds);
    const d = Math.floor(total / 86400), h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60), s = total % 60;
    if (d) return fill(T.duration.d, { d: d, h: h });
    if (h) return fill(T.duration.h, { h: h, m: m });
    if (m) return fill(T.duration.m, { m: m, s: s });
    return fill(T.duration.s, { s: s });
  }

  function rate(v) { return v === null || v === undefined ? "—" : percent.format(v); }

  function parseDay(iso) { return new Date(iso.slice(0, 10) + "T00:00:00Z"); }

  function bucketLabel(iso, granularity, withYear) {
    const opts = granularity === "month" ? { month: "short", year: "numeric" } : { day: "2-digit", month: "short" };
    if (withYear && granularity !== "month") opts.year = "2-digit";
    opts.timeZone = "UTC";
    return new Intl.DateTimeFormat(lang, opts).format(parseDay(iso));
  }

  function dateTime(iso, tz) {
    if (!iso) return "—";
    return new Intl.DateTimeFormat(lang, { dateStyle: "short", timeStyle: "short", timeZone: tz }).format(new Date(iso));
  }

  // The buckets of reports.dashboard.buckets(): every day/week (Monday)/month overlapping the window.
  function bucketStarts(start, end, granularity) {
    const last = parseDay(end);
    let b = parseDay(start);
    if (granularity === "week") b = new Date(b.getTime() - ((b.getUTCDay() + 6) % 7) * 86400000);
    if (granularity === "month") b = new Date(Date.UTC(b.getUTCFullYear(), b.getUTCMonth(), 1));
    const out = [];
    while (b <= last) {
      out.push(b.toISOString().slice(0, 10));
      if (granularity === "month") b = new Date(Date.UTC(b.getUTCFullYear(), b.getUTCMonth() + 1, 1));
      else b = new Date(b.getTime() + (granularity === "week" ? 7 : 1) * 86400000);
    }
    return out;
  }

  // --- KPI cards: value, traffic light and its words (colour is never the only cue) --------------------------

  function kpiStatus(k, v) {
    if (v === null || v === undefined) return "none";
    if (k.better === "none") return "info";  // a figure without a target: no traffic light
    if (k.better === "lower") return v < k.ok ? "ok" : v < k.warn ? "warn" : "bad";
    return v >= k.ok ? "ok" : v >= k.warn ? "warn" : "bad";
  }

  function kpiValue(k, v) {
    if (k.fmt === "duration") return duration(v);
    if (k.fmt === "money") return v === null || v === undefined ? "—" : moneyFull(Number(v));
    if (k.fmt === "rate") return rate(v);
    return v === null || v === undefined ? "—" : integer.format(v);
  }

  function renderKpis(kpis) {
    if (!kpis) return;
    cfg.kpis.forEach(function (k) {
      const card = document.querySelector('[data-kpi="' + k.key + '"]');
      if (!card) return;
      const s = kpiStatus(k, kpis[k.key]);
      card.dataset.status = s;
      card.querySelector(".kpi").textContent = kpiValue(k, kpis[k.key]);
      const status = card.querySelector(".kpi-status-text");
      if (status) status.textContent = T.status[s];
    });
  }

  // --- data tables under the charts ("Ver datos") -------------------------------------------------------------

  function renderTable(key, columns, rows) {
    const box = document.getElementById("table-" + key);
    if (!box) return;
    const table = document.createElement("table");
    table.className = "data";
    const head = table.createTHead().insertRow();
    columns.forEach(function (c) { const th = document.createElement("th"); th.textContent = c[0]; head.appendChild(th); });
    const body = table.createTBody();
    rows.forEach(function (r) {
      const tr = body.insertRow();
      columns.forEach(function (c) { tr.insertCell().textContent = c[1](r); });
    });
    if (!rows.length) {
      const td = body.insertRow().insertCell();
      td.colSpan = columns.length;
      td.className = "muted";
      td.textContent = T.no_data;
    }
    box.replaceChildren(table);
  }

  // --- the charts ------------------------------------------------------------------------------------------

  function draw(key, spec) {
    const canvas = document.getElementById("chart-" + key);
    if (canvas) CC.fromRows(canvas, spec);
  }

  const DRAW = {
    agent_volume: function (data) {
      const rows = data.agent_volume;
      draw("agent_volume", {
        type: "bar", rows: rows, label: "agent_name", xTitle: T.agent, yTitle: T.conversations,
        series: [{ key: "conversations", label: T.conversations, color: P.blue },
          { key: "successful", label: T.successful, color: P.green }],
        tooltipFooter: function (r) { return T.success_rate + ": " + rate(r.success_rate); },
        onPoint: function (r, s) { drill({ chart: "agent_volume", agent_id: r.agent_id, series: s.key }, [r.agent_name, s.label]); },
      });
      renderTable("agent_volume", [[T.agent, function (r) { return r.agent_name; }],
        [T.conversations, function (r) { return integer.format(r.conversations); }],
        [T.successful, function (r) { return integer.format(r.successful); }],
        [T.success_rate, function (r) { return rate(r.success_rate); }]], rows);
    },
    agent_response_times: function (data) {
      // Fastest first response first (agents without one last, by name): the line reads left to right as a ranking,
      // each point carries its value, and a toggle shows the same numbers as bars.
      const rows = data.agent_response_times.slice().sort(function (a, b) {
        const x = a.avg_first_response_seconds, y = b.avg_first_response_seconds;
        if (x === null && y === null) return a.agent_name.localeCompare(b.agent_name);
        if (x === null) return 1;
        if (y === null) return -1;
        return x - y || a.agent_name.localeCompare(b.agent_name);
      });
      const hours = function (key) { return function (r) { return r[key] === null ? null : r[key] / 3600; }; };
      const toggle = document.querySelector('[data-chart-toggle="agent_response_times"]');
      const asBars = toggle && toggle.getAttribute("aria-pressed") === "true";
      draw("agent_response_times", {
        type: asBars ? "bar" : "line", valueLabels: true, rows: rows, label: "agent_name", xTitle: T.agent, yTitle: T.hours,
        formatValue: function (v) { return duration(v * 3600); },
        formatTick: function (v) { return hoursTick.format(v); },
        series: [{ key: hours("avg_first_response_seconds"), label: T.first_response, color: P.blue, drill: "first_response" },
          { key: hours("avg_resolution_seconds"), label: T.resolution, color: P.vermillion, drill: "resolution" }],
        onPoint: function (r, s) { drill({ chart: "agent_response_times", agent_id: r.agent_id, series: s.drill }, [r.agent_name, s.label]); },
      });
      renderTable("agent_response_times", [[T.agent, function (r) { return r.agent_name; }],
        [T.first_response, function (r) { return duration(r.avg_first_response_seconds); }],
        [T.resolution, function (r) { return duration(r.avg_resolution_seconds); }]], rows);
    },
    sales_conversations: function (data) {
      const d = data.sales_conversations;
      const rows = [{ key: "with_sale", label: T.with_sale, n: d.with_sale },
        { key: "without_sale", label: T.without_sale, n: d.without_sale }];
      draw("sales_conversations", {
        type: "pie", rows: rows, label: "label", colors: [P.green, P.orange],
        series: [{ key: "n", label: T.conversations }],
        onPoint: function (r) { drill({ chart: "sales_conversations", series: r.key }, [r.label]); },
      });
      const note = document.querySelector('[data-testid="conversion-rate"]');
      if (note) note.textContent = T.conversion_rate + ": " + rate(d.conversion_rate) + " · " + T.closed + ": " + integer.format(d.closed);
      renderTable("sales_conversations", [[T.state, function (r) { return r.label; }],
        [T.conversations, function (r) { return integer.format(r.n); }]], rows);
    },
    revenue_by_agent: function (data) {
      const rows = data.revenue_by_agent;
      draw("revenue_by_agent", {
        type: "bar", horizontal: true, rows: rows, label: "agent_name", xTitle: T.agent, yTitle: T.revenue,
        formatValue: function (v) { return money.format(v); },
        formatTick: function (v) { return moneyShort.format(v); },
        series: [{ key: function (r) { return Number(r.revenue); }, label: T.revenue, color: P.blue }],
        onPoint: function (r) { drill({ chart: "revenue_by_agent", agent_id: r.agent_id }, [r.agent_name, T.revenue]); },
      });
      renderTable("revenue_by_agent", [[T.agent, function (r) { return r.agent_name; }],
        [T.revenue, function (r) { return money.format(Number(r.revenue)); }]], rows);
    },
    customer_states: function (data) {
      const rows = data.customer_states;
      const states = Object.keys(T.customer_states);
      const label = bucketLabeler(data);
      draw("customer_states", {
        type: "line", area: true, stacked: true, rows: rows, label: function (r) { return label(r.bucket); },
        xTitle: T.bucket[data.granularity], yTitle: T.customers,
        series: states.map(function (s) { return { key: s, label: T.customer_states[s], color: STATE_COLORS[s] }; }),
        onPoint: function (r, s) { drill({ chart: "customer_states", bucket: r.bucket, series: s.key }, [label(r.bucket), s.label]); },
      });
      renderTable("customer_states", [[T.bucket[data.granularity], function (r) { return label(r.bucket); }]].concat(
        states.map(function (s) { return [T.customer_states[s], function (r) { return integer.format(r[s]); }]; })), rows);
    },
    retention: function (data) {
      const rows = data.retention;
      const label = function (r) { return bucketLabel(r.month + "-01", "month"); };
      // The seed asks for the rate: the share of each month's active customers who came back vs. who were new.
      const share = function (key) { return function (r) { return r.active ? (100 * r[key]) / r.active : null; }; };
      draw("retention", {
        type: "line", rows: rows, label: label, xTitle: T.month, yTitle: T.percent_of_active,
        formatValue: function (v) { return rate(v / 100); },
        formatTick: function (v) { return integer.format(v) + " %"; },
        valueMax: 100,
        series: [{ key: share("returning"), label: T.returning, color: P.green, drillKey: "returning" },
          { key: share("new"), label: T.new, color: P.orange, drillKey: "new" }],
        tooltipFooter: function (r) { return T.active + ": " + integer.format(r.active); },
        onPoint: function (r, s) { drill({ chart: "retention", bucket: r.month + "-01", series: s.drillKey }, [label(r), s.label]); },
      });
      renderTable("retention", [[T.month, label], [T.active, function (r) { return integer.format(r.active); }],
        [T.new, function (r) { return integer.format(r.new); }], [T.returning, function (r) { return integer.format(r.returning); }],
        [T.returning_rate, function (r) { return rate(r.returning_rate); }]], rows);
    },
    daily_activity: function (data) {
      const rows = data.daily_activity;
      const label = bucketLabeler(data);
      draw("daily_activity", {
        type: "line", rows: rows, label: function (r) { return label(r.bucket); },
        xTitle: T.bucket[data.granularity], yTitle: T.conversations,
        series: [{ key: "started", label: T.started, color: P.blue }, { key: "resolved", label: T.resolved, color: P.green }],
        onPoint: function (r, s) { drill({ chart: "daily_activity", bucket: r.bucket, series: s.key }, [label(r.bucket), s.label]); },
      });
      renderTable("daily_activity", [[T.bucket[data.granularity], function (r) { return label(r.bucket); }],
        [T.started, function (r) { return integer.format(r.started); }],
        [T.resolved, function (r) { return integer.format(r.resolved); }]], rows);
    },
    sales_by_channel: function (data) {
      const label = bucketLabeler(data);
      const channels = [];
      const wide = {};
      bucketStarts(data.start, data.end, data.granularity).forEach(function (b) { wide[b] = { bucket: b }; });
      data.sales_by_channel.forEach(function (r) {
        if (channels.indexOf(r.channel) < 0) channels.push(r.channel);
        (wide[r.bucket] = wide[r.bucket] || { bucket: r.bucket })[r.channel] = r.sales;
      });
      channels.sort();
      const rows = Object.keys(wide).sort().map(function (b) { return wide[b]; });
      const name = function (ch) { return cfg.channels[ch] || ch; };
      draw("sales_by_channel", {
        type: "bar", stacked: true, legend: true, rows: rows, label: function (r) { return label(r.bucket); },
        xTitle: T.bucket[data.granularity], yTitle: T.sales,
        series: channels.map(function (ch, i) {
          return { key: function (r) { return r[ch] || 0; }, channel: ch, label: name(ch), color: CHANNEL_COLORS[i % CHANNEL_COLORS.length] };
        }),
        onPoint: function (r, s) { drill({ chart: "sales_by_channel", bucket: r.bucket, channel: s.channel }, [label(r.bucket), s.label]); },
      });
      renderTable("sales_by_channel", [[T.bucket[data.granularity], function (r) { return label(r.bucket); }],
        [T.channel, function (r) { return name(r.channel); }], [T.sales, function (r) { return integer.format(r.sales); }]],
        data.sales_by_channel);
    },
    sla_compliance: function (data) {
      const label = bucketLabeler(data);
      const channels = [];
      const wide = {};
      bucketStarts(data.start, data.end, data.granularity).forEach(function (b) { wide[b] = { bucket: b }; });
      data.sla_compliance.forEach(function (r) {
        if (channels.indexOf(r.channel) < 0) channels.push(r.channel);
        (wide[r.bucket] = wide[r.bucket] || { bucket: r.bucket })[r.channel] = r.compliance_rate;
      });
      channels.sort();
      const rows = Object.keys(wide).sort().map(function (b) { return wide[b]; });
      const name = function (ch) { return cfg.channels[ch] || ch; };
      draw("sla_compliance", {
        type: "line", legend: true, rows: rows, label: function (r) { return label(r.bucket); },
        xTitle: T.bucket[data.granularity], yTitle: T.sla_rate, valueMax: 100,
        formatValue: function (v) { return rate(v / 100); },
        formatTick: function (v) { return integer.format(v) + " %"; },
        series: channels.map(function (ch, i) {
          return { key: function (r) { return r[ch] == null ? null : 100 * r[ch]; }, label: name(ch), color: CHANNEL_COLORS[i % CHANNEL_COLORS.length] };
        }),
      });
      renderTable("sla_compliance", [[T.bucket[data.granularity], function (r) { return label(r.bucket); }],
        [T.channel, function (r) { return name(r.channel); }], [T.sla_met, function (r) { return integer.format(r.met); }],
        [T.sla_breached, function (r) { return integer.format(r.breached); }],
        [T.sla_rate, function (r) { return rate(r.compliance_rate); }]], data.sla_compliance);
    },
    sla_breaches: function (data) {
      const rows = data.sla_breaches;
      const targets = Object.keys(T.sla_targets);
      draw("sla_breaches", {
        type: "bar", horizontal: true, stacked: true, legend: true, rows: rows, label: "agent_name", xTitle: T.agent, yTitle: T.breaches,
        series: targets.map(function (t, i) { return { key: t, label: T.sla_targets[t], color: CHANNEL_COLORS[i % CHANNEL_COLORS.length] }; }),
      });
      renderTable("sla_breaches", [[T.agent, function (r) { return r.agent_name; }]].concat(
        targets.map(function (t) { return [T.sla_targets[t], function (r) { return integer.format(r[t]); }]; }),
        [[T.total, function (r) { return integer.format(r.total); }]]), rows);
    },
  };

  function bucketLabeler(data) {
    const withYear = data.start.slice(0, 4) !== data.end.slice(0, 4);
    return function (iso) { return bucketLabel(iso, data.granularity, withYear); };
  }

  function render(data) {
    current = data;
    renderKpis(data.kpis);
    cfg.charts.forEach(function (key) { if (DRAW[key] && data[key] !== undefined) DRAW[key](data); });
  }

  document.addEventListener("click", function (ev) {
    const button = ev.target.closest("[data-chart-toggle]");
    if (!button || !current) return;
    const bars = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", String(bars));
    button.textContent = bars ? T.as_lines : T.as_bars;
    DRAW[button.dataset.chartToggle](current);
  });

  // --- filters, address and downloads ----------------------------------------------------------------------

  function filterParams() {
    const q = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { if (v !== "") q.set(k, v); });
    return q;
  }

  function updateLinks(q) {
    document.querySelectorAll("[data-csv-chart]").forEach(function (a) {
      const p = new URLSearchParams(q);
      p.set("format", "csv");
      p.set("chart", a.dataset.csvChart);
      a.href = cfg.api + "?" + p;
    });
    document.querySelectorAll("[data-export-api]").forEach(function (a) {
      const p = new URLSearchParams(q);
      p.delete("granularity");
      a.href = cfg[a.dataset.exportApi] + "?" + p;
    });
    const json = document.getElementById("dashboard-json");
    if (json) json.href = cfg.api + "?" + q;
  }

  function showError(message) {
    errorEl.hidden = !message;
    errorEl.textContent = message || "";
  }

  function load(push) {
    const q = filterParams();
    if (push) history.pushState(null, "", "?" + q);
    updateLinks(q);
    const mine = ++sequence;
    statusEl.textContent = T.loading;
    document.body.dataset.dashboard = "loading";
    fetch(cfg.api + "?" + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (mine !== sequence) return;
        if (!res.ok) throw new Error(res.body.detail || res.body.code);
        showError("");
        render(res.body);
        statusEl.textContent = "";
        document.body.dataset.dashboard = "ready";
      })
      .catch(function (err) {
        if (mine !== sequence) return;
        statusEl.textContent = "";
        showError(T.error.replace("%s", err.message));
        document.body.dataset.dashboard = "error";
      });
  }

  form.addEventListener("change", function () { load(true); });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); load(true); });
  // Back/forward: the form takes the address's filters. A missing one means "all" for a select that offers it;
  // otherwise (dates, granularity: only the first entry may lack them) the value the page was served with.
  function servedValue(el) {
    if (el.dataset && el.dataset.served !== undefined) return el.dataset.served;  // a date picker's hidden field
    if (el.tagName !== "SELECT") return el.defaultValue;
    const all = Array.prototype.find.call(el.options, function (o) { return o.value === ""; });
    const served = Array.prototype.find.call(el.options, function (o) { return o.defaultSelected; });
    return (all || served || el.options[0]).value;
  }
  window.addEventListener("popstate", function () {
    const q = new URLSearchParams(location.search);
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name) el.value = q.has(el.name) ? q.get(el.name) : servedValue(el);
      if (el.type === "hidden" && window.CentralitaFormat) window.CentralitaFormat.syncDate(el);
    });
    load(false);
  });

  // --- drill-down --------------------------------------------------------------------------------------------

  const dialog = document.getElementById("drill");
  const drillRows = document.getElementById("drill-rows");
  let point = null;

  function drill(p, words) {
    point = { params: p, page: 1, title: [cfg.titles[p.chart] || ""].concat(words).filter(Boolean).join(" · ") };
    document.getElementById("drill-title").textContent = point.title;
    drillRows.replaceChildren();
    if (!dialog.open) dialog.showModal();
    loadDrill();
  }

  function loadDrill() {
    const q = filterParams();
    q.set("granularity", current ? current.granularity : q.get("granularity") || "week");
    Object.keys(point.params).forEach(function (k) {
      const v = point.params[k];
      if (v !== null && v !== undefined && v !== "") q.set(k, v);
    });
    q.set("page", point.page);
    const countEl = document.getElementById("drill-count");
    countEl.textContent = T.loading;
    dialog.dataset.state = "loading";
    fetch(cfg.drill_api + "?" + q, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok) throw new Error(res.body.detail || res.body.code);
        renderDrill(res.body);
      })
      .catch(function (err) {
        countEl.textContent = T.error.replace("%s", err.message);
        dialog.dataset.state = "error";
      });
  }

  function renderDrill(page) {
    const perCustomer = page.chart === "customer_states" || page.chart === "retention";
    document.getElementById("drill-count").textContent = page.count
      ? fill(perCustomer ? T.drill_count_customers : T.drill_count, { count: integer.format(page.count) })
      : T.drill_empty;
    const tz = current ? current.time_zone : undefined;
    drillRows.replaceChildren.apply(drillRows, page.results.map(function (r) {
      const tr = document.createElement("tr");
      const link = document.createElement("a");
      link.href = cfg.inbox_url.replace("/0/", "/" + r.conversation_id + "/");
      link.textContent = "#" + r.conversation_id;
      tr.insertCell().appendChild(link);
      [r.customer_name, r.agent_name || "—", cfg.channels[r.channel] || r.channel, r.state_label,
        dateTime(r.started_at, tz), dateTime(r.closed_at, tz), r.outcome_label || "—",
        r.sales ? integer.format(r.sales) + (r.revenue === null ? "" : " · " + money.format(Number(r.revenue))) : "—"]
        .forEach(function (text) { tr.insertCell().textContent = text; });
      return tr;
    }));
    document.getElementById("drill-page").textContent = fill(T.drill_page, { page: page.page, pages: page.pages });
    dialog.querySelector('[data-drill-page="-1"]').disabled = !page.previous;
    dialog.querySelector('[data-drill-page="1"]').disabled = !page.next;
    dialog.dataset.state = "ready";
  }

  dialog.addEventListener("click", function (ev) {
    if (ev.target.closest("[data-drill-close]")) { dialog.close(); return; }
    const pager = ev.target.closest("[data-drill-page]");
    if (pager && point) { point.page += Number(pager.dataset.drillPage); loadDrill(); }
  });
  document.querySelectorAll("[data-drill-kpi]").forEach(function (button) {
    button.addEventListener("click", function () {
      drill({ chart: "kpis", series: button.dataset.drillKpi }, [button.dataset.drillLabel]);
    });
  });

  CC.bindDownloads(document);
  load(false);
})();
