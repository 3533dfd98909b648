// Shared chart helpers for every report page (the lead-flow report and the performance dashboard). Charts are
// drawn with the vendored Chart.js from the same JSON rows the API serves, in the Okabe–Ito palette
// (distinguishable with the common colour-vision deficiencies), with type large enough for a projector and no
// animation (a chart exported right after a filter change must not be caught half drawn). A chart exports as
// PNG (on white, so it pastes into slides and documents), and any rows export as CSV in the browser (UTF-8 with
// BOM, commas).
//
//   CentralitaCharts.fromRows(canvas, {type: "bar", rows, label: "operator_name",
//                                      series: [{key: "calls", label: "Llamadas"}]});
//   Options for the dashboard: stacked (bars or areas), area (filled lines), tooltipFooter(row) -> text,
//   onPoint(row, series, index) when a bar, point or slice is clicked (the pointer shows it is clickable).
//   CentralitaCharts.toPng(canvas, "chart.png");
//   CentralitaCharts.downloadCsv(rows, ["operator", "calls"], "table.csv");
//   <button data-chart-png="canvas-id" data-filename="x.png"> works once bindDownloads(document) ran.
(function () {
  "use strict";
  if (!window.Chart) return;

  // Okabe & Ito (2008), "Color Universal Design"; grey for "no value / unclassified".
  const PALETTE = Object.freeze({
    blue: "#0072B2", orange: "#E69F00", green: "#009E73", vermillion: "#D55E00",
    skyBlue: "#56B4E9", purple: "#CC79A7", yellow: "#F0E442", black: "#000000", grey: "#999999",
  });
  // Series order: the strongest contrasts against white and against each other come first.
  const SERIES = [PALETTE.blue, PALETTE.orange, PALETTE.green, PALETTE.vermillion, PALETTE.purple,
    PALETTE.skyBlue, PALETTE.black, PALETTE.yellow];
  const INK = "#1b1f24";
  // Lines differ by marker too, not only by colour (and survive a black-and-white printout).
  const POINT_STYLES = ["circle", "rect", "triangle", "rectRot", "crossRot", "star", "rectRounded", "cross"];

  Chart.defaults.font.size = 16;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily || Chart.defaults.font.family;
  Chart.defaults.color = INK;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.position = "bottom";
  Chart.defaults.plugins.legend.labels.boxWidth = 18;
  Chart.defaults.plugins.tooltip.titleFont = { size: 16, weight: "bold" };
  Chart.defaults.plugins.tooltip.bodyFont = { size: 16 };

  // A PNG from toDataURL() is transparent by default: black text on a dark slide would vanish.
  const whiteBackground = {
    id: "centralitaWhiteBackground",
    beforeDraw: function (chart) {
      const ctx = chart.canvas.getContext("2d");
      ctx.save();
      ctx.globalCompositeOperation = "destination-over";
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, chart.canvas.width, chart.canvas.height);
      ctx.restore();
    },
  };

  function locale() {
    return document.documentElement.lang || navigator.language || "es";
  }

  function pick(row, key) {
    return typeof key === "function" ? key(row) : row[key];
  }

  // spec: {type: "bar" | "doughnut" | "pie" | "line", rows: [...], label: key | fn(row),
  //        series: [{key: key | fn(row), label, color?}], colors?: [per-row colors, for doughnuts],
  //        yTitle?, xTitle?, horizontal?, formatValue?: fn(number) -> string, options?: extra Chart.js options,
  //        stacked?, area?, legend?: bool, formatTick?: fn(number) -> string (axis; default formatValue),
  //        tooltipFooter?: fn(row) -> string, onPoint?: fn(row, series, index)}
  // Each point's or bar's value written next to it (spec.valueLabels), so a chart reads without hovering.
  function valueLabels(format) {
    return {
      id: "centralitaValueLabels",
      afterDatasetsDraw: function (chart) {
        // Only where each point has room for its value (a phone shows them in the tooltip and the table).
        const points = chart.data.labels.length || 1;
        if (chart.chartArea.width / points < 64) return;
        const ctx = chart.ctx;
        ctx.save();
        ctx.font = "600 13px " + Chart.defaults.font.family;
        ctx.textAlign = "center";
        ctx.textBaseline = "bottom";
        chart.data.datasets.forEach(function (dataset, i) {
          const meta = chart.getDatasetMeta(i);
          if (meta.hidden) return;
          meta.data.forEach(function (element, j) {
            const v = dataset.data[j];
            if (v === null || v === undefined) return;
            ctx.fillStyle = dataset.borderColor || INK;
            ctx.fillText(format(v), element.x, element.y - 6);
          });
        });
        ctx.restore();
      },
    };
  }

  function wrapLabel(label, width) {
    const text = label === null || label === undefined ? "" : String(label);
    if (text.length <= width) return text;
    const lines = [];
    let current = "";
    text.split(/\s+/).forEach(function (word) {
      if (current && (current + " " + word).length > width) { lines.push(current); current = word; }
      else current = current ? current + " " + word : word;
    });
    if (current) lines.push(current);
    const kept = lines.slice(0, 2).map(function (line) { return line.length > width ? line.slice(0, width - 1) + "…" : line; });
    if (lines.length > 2) kept[1] = kept[1].slice(0, width - 1).replace(/…?$/, "…");
    return kept;
  }

  function fromRows(canvas, spec) {
    const existing = Chart.getChart(canvas);
    if (existing) existing.destroy();
    const rows = spec.rows || [];
    const round = spec.type === "doughnut" || spec.type === "pie";
    const datasets = spec.series.map(function (s, i) {
      const color = s.color || SERIES[i % SERIES.length];
      const data = rows.map(function (r) { const v = pick(r, s.key); return v === undefined ? null : v; });
      if (round) {
        return { label: s.label || "", data: data, borderColor: "#ffffff", borderWidth: 2,
          backgroundColor: spec.colors || rows.map(function (_r, j) { return SERIES[j % SERIES.length]; }) };
      }
      if (spec.type === "line") {
        return { label: s.label || "", data: data, borderColor: color, backgroundColor: spec.area ? color + "B3" : color,
          borderWidth: 3, pointStyle: POINT_STYLES[i % POINT_STYLES.length], pointRadius: 5, pointHoverRadius: 8,
          pointBackgroundColor: color, tension: 0, fill: spec.area ? (spec.stacked && i > 0 ? "-1" : "origin") : false };
      }
      return { label: s.label || "", data: data, backgroundColor: color, borderColor: color, borderWidth: 1,
        maxBarThickness: 56 };
    });
    const format = spec.formatValue || function (v) { return new Intl.NumberFormat(locale()).format(v); };
    const options = {
      locale: locale(),
      responsive: true,
      plugins: {
        legend: { display: spec.legend !== undefined ? spec.legend : round || datasets.length > 1 },
        tooltip: { callbacks: { label: function (ctx) {
          const v = ctx.raw;
          const name = round ? ctx.label : ctx.dataset.label;
          return (name ? name + ": " : "") + (v === null ? "—" : format(v));
        }, footer: function (items) {
          return spec.tooltipFooter && items.length ? spec.tooltipFooter(rows[items[0].dataIndex]) : "";
        } } },
      },
    };
    if (spec.onPoint) {
      options.onClick = function (_event, elements) {
        if (!elements.length) return;
        const el = elements[0];
        spec.onPoint(rows[el.index], round ? spec.series[0] : spec.series[el.datasetIndex], el.index);
      };
      options.onHover = function (event, elements) {
        event.native.target.style.cursor = elements.length ? "pointer" : "default";
      };
    }
    if (!round) {
      const valueAxis = spec.horizontal ? "x" : "y";
      const categoryAxis = spec.horizontal ? "y" : "x";
      options.indexAxis = spec.horizontal ? "y" : "x";
      options.scales = {};
      options.scales[valueAxis] = { beginAtZero: true, grid: { color: "#d0d5db" },
        ticks: { precision: spec.formatValue ? undefined : 0, maxRotation: 0, autoSkipPadding: 12,
          callback: function (v) { return (spec.formatTick || format)(v); } },
        title: { display: !!spec.yTitle, text: spec.yTitle || "" } };
      // Names stay horizontal: wrapped on two lines and cut with "…" beyond (the tooltip has the whole name);
      // rotated names took half of each card and ran into the axis title.
      const width = spec.labelWidth || (spec.horizontal ? 22 : 14);
      options.scales[categoryAxis] = { grid: { display: false }, title: { display: !!spec.xTitle, text: spec.xTitle || "" },
        ticks: { maxRotation: 0, minRotation: 0, autoSkipPadding: 8, autoSkip: !spec.horizontal,
          callback: function (value) { return wrapLabel(this.getLabelForValue(value), width); } } };
      // Horizontal bars name every row: the box grows with the rows (CSSOM, allowed by the CSP).
      if (spec.horizontal && canvas.parentElement) {
        canvas.parentElement.style.height = Math.max(260, rows.length * 44 + 90) + "px";
      }
      if (spec.valueMax !== undefined) options.scales[valueAxis].max = spec.valueMax;
      if (spec.stacked) {
        options.scales[valueAxis].stacked = true;
        options.scales[categoryAxis].stacked = true;
      }
      if (spec.type === "line") options.interaction = { mode: "nearest", intersect: true };
    }
    const plugins = [whiteBackground];
    if (spec.valueLabels) {
      plugins.push(valueLabels(spec.formatValue || format));
      options.layout = { padding: { top: 22, right: 28, left: 8 } };  // room for the labels of the edge points
    }
    const chart = new Chart(canvas, {
      type: spec.type,
      data: { labels: rows.map(function (r) { return pick(r, spec.label); }), datasets: datasets },
      options: Object.assign(options, spec.options || {}),
      plugins: plugins,
    });
    canvas.dataset.chartRows = String(rows.length);
    return chart;
  }

  function download(href, filename) {
    const a = document.createElement("a");
    a.href = href;
    a.download = filename;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function toPng(canvas, filename) {
    download(canvas.toDataURL("image/png"), filename || (canvas.id || "grafico") + ".png");
  }

  function csvCell(value) {
    if (value === null || value === undefined) return "";
    const s = String(value);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  // Same format as the server's reports/exports.py: header row, commas, CRLF, empty cell for null.
  function toCsv(rows, columns) {
    const lines = [columns.map(csvCell).join(",")];
    rows.forEach(function (r) { lines.push(columns.map(function (c) { return csvCell(r[c]); }).join(",")); });
    return lines.join("\r\n") + "\r\n";
  }

  function downloadCsv(rows, columns, filename) {
    const blob = new Blob(["\ufeff" + toCsv(rows, columns)], { type: "text/csv;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    download(url, filename || "datos.csv");
    setTimeout(function () { URL.revokeObjectURL(url); }, 0);
  }

  // Delegated, so buttons inside fragments swapped in later keep working.
  function bindDownloads(root) {
    root.addEventListener("click", function (ev) {
      const button = ev.target.closest("[data-chart-png]");
      if (!button) return;
      const canvas = document.getElementById(button.dataset.chartPng);
      if (canvas) toPng(canvas, button.dataset.filename);
    });
  }

  // Amounts exactly as the server's core.money.format_money writes them (spec: core.money.money_spec).
  function moneyFormatter(spec) {
    return function (value) {
      const n = Number(value);
      if (value === null || value === undefined || Number.isNaN(n)) return "—";
      const fixed = Math.abs(n).toFixed(spec.decimals);
      const parts = fixed.split(".");
      const whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, spec.thousands);
      const number = (n < 0 ? "-" : "") + whole + (parts[1] ? spec.decimal + parts[1] : "");
      return spec.display === "symbol" ? spec.symbol + "\u00a0" + number : number + "\u00a0" + spec.currency;
    };
  }

  window.CentralitaCharts = Object.freeze({
    PALETTE: PALETTE, SERIES: SERIES, fromRows: fromRows, toPng: toPng, toCsv: toCsv,
    downloadCsv: downloadCsv, bindDownloads: bindDownloads, moneyFormatter: moneyFormatter,
  });
})();
