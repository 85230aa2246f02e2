/* rtcstats session viewer: draws the per-connection and per-track charts with uPlot.
   The series are embedded in the page (#rtcstats-series): {startMs, connections: {id: {series}},
   streams: {id: {series}}}, each series {t: [epoch ms], v: [values]}. */
(function () {
  "use strict";

  var COLORS = {
    bitrateKbps: "#2563eb",
    availableOutgoingKbps: "#0891b2",
    lossPct: "#dc2626",
    jitterMs: "#d97706",
    rttMs: "#7c3aed",
    fps: "#059669"
  };
  var HEIGHT = 170;
  var plots = [];

  function pad(n) {
    return n < 10 ? "0" + n : String(n);
  }

  function clock(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var h = Math.floor(s / 3600);
    var m = Math.floor((s % 3600) / 60);
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s % 60);
  }

  function number(value) {
    if (value == null) return "–";
    var abs = Math.abs(value);
    return abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
  }

  function widthOf(element) {
    return Math.max(220, Math.floor(element.getBoundingClientRect().width) || 320);
  }

  function draw(figure, payload) {
    var group = payload[figure.getAttribute("data-group")] || {};
    var item = group[figure.getAttribute("data-id")];
    var metric = figure.getAttribute("data-metric");
    var series = item && item.series ? item.series[metric] : null;
    if (!series || !series.t || !series.t.length) {
      figure.classList.add("no-data");
      return;
    }
    var base = typeof payload.startMs === "number" ? payload.startMs : series.t[0];
    var xs = series.t.map(function (t) {
      return (t - base) / 1000;
    });
    var color = COLORS[metric] || "#334155";
    var unit = figure.getAttribute("data-unit") || "";
    var target = figure.querySelector(".plot");
    var opts = {
      width: widthOf(target),
      height: HEIGHT,
      scales: { x: { time: false } },
      legend: { show: true, live: true },
      cursor: { drag: { x: true, y: false } },
      axes: [
        {
          values: function (u, ticks) {
            return ticks.map(clock);
          }
        },
        {
          size: 56,
          values: function (u, ticks) {
            return ticks.map(number);
          }
        }
      ],
      series: [
        {
          label: "time",
          value: function (u, v) {
            return v == null ? "–" : clock(v);
          }
        },
        {
          label: figure.getAttribute("data-label") || metric,
          stroke: color,
          fill: color + "1f",
          width: 1.5,
          points: { show: xs.length < 40 },
          value: function (u, v) {
            return v == null ? "–" : number(v) + " " + unit;
          }
        }
      ]
    };
    plots.push({ plot: new uPlot(opts, [xs, series.v], target), target: target });
    figure.classList.add("drawn");
  }

  function resize() {
    plots.forEach(function (p) {
      p.plot.setSize({ width: widthOf(p.target), height: HEIGHT });
    });
  }

  function start() {
    var source = document.getElementById("rtcstats-series");
    if (!source || typeof uPlot === "undefined") return;
    var payload = JSON.parse(source.textContent || "{}");
    var figures = document.querySelectorAll("figure.chart");
    for (var i = 0; i < figures.length; i++) {
      try {
        draw(figures[i], payload);
      } catch (err) {
        figures[i].classList.add("failed");
        if (window.console) console.error("chart failed", err);
      }
    }
    document.body.setAttribute("data-charts-drawn", String(plots.length));
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(resize, 150);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
