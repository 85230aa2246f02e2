/* Dump explorer of the console: chart any property of any getStats report id (vendored uPlot). */
(function () {
  "use strict";
  var root = document.getElementById("stats");
  if (!root) return;
  var select = document.getElementById("stat-select");
  var rate = document.getElementById("stat-rate");
  var box = document.getElementById("stat-props");
  var charts = document.getElementById("stat-charts");
  var COLOURS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];
  var current = null;  // {pc, id, series}
  var drawn = {};      // prop -> uPlot

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Per-second rate of a counter: (v[i] - v[i-1]) / (t[i] - t[i-1]) with t in ms; gaps and resets are null.
  function perSecond(t, v) {
    return v.map(function (value, i) {
      if (i === 0 || value == null || v[i - 1] == null || t[i] <= t[i - 1] || value < v[i - 1]) return null;
      return (value - v[i - 1]) * 1000 / (t[i] - t[i - 1]);
    });
  }

  // A counter (bytesSent, packetsLost, framesDecoded...): whole numbers that never go down.
  function isCounter(values) {
    var last = null, seen = 0;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v == null) continue;
      if (v !== Math.floor(v) || (last !== null && v < last)) return false;
      last = v; seen++;
    }
    return seen > 1;
  }

  function draw(prop, index) {
    var s = current.series;
    var asRate = rate.checked && isCounter(s.props[prop]);
    var values = asRate ? perSecond(s.t, s.props[prop]) : s.props[prop];
    var figure = el("figure", {"class": "chart", "data-prop": prop});
    figure.appendChild(el("figcaption", {}, prop + (asRate ? " per second" : "")));
    var plot = el("div", {"class": "plot", "role": "img", "aria-label": prop + " of " + current.id + " over time"});
    figure.appendChild(plot);
    charts.appendChild(figure);
    var opts = {
      width: Math.max(300, figure.clientWidth || 360), height: 170, legend: {show: false},
      scales: {x: {time: true}},
      series: [{}, {label: prop, stroke: COLOURS[index % COLOURS.length], width: 2}],
      axes: [{}, {size: 60}]
    };
    drawn[prop] = new uPlot(opts, [s.t.map(function (ms) { return ms / 1000; }), values], plot);
  }

  function redraw() {
    Object.keys(drawn).forEach(function (prop) { drawn[prop].destroy(); });
    drawn = {};
    charts.textContent = "";
    var ticked = Array.prototype.filter.call(box.querySelectorAll("input"), function (i) { return i.checked; });
    ticked.forEach(function (input, n) { draw(input.value, n); });
    root.dataset.charts = String(ticked.length);
  }

  function showProps() {
    box.textContent = "";
    box.appendChild(el("legend", {}, "Properties of " + current.id));
    Object.keys(current.series.props).forEach(function (prop, n) {
      var id = "prop-" + n;
      var label = el("label", {"for": id});
      var input = el("input", {type: "checkbox", id: id, value: prop});
      input.addEventListener("change", redraw);
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + prop));
      box.appendChild(label);
    });
    box.hidden = false;
  }

  select.addEventListener("change", function () {
    var option = select.selectedOptions[0];
    if (!option || !option.value) return;
    var pc = option.dataset.pc, id = option.dataset.id;
    root.dataset.state = "loading";
    var url = root.dataset.url + "?pc=" + encodeURIComponent(pc) + "&id=" + encodeURIComponent(id);
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (series) {
        current = {pc: pc, id: id, series: series};
        showProps();
        redraw();
        root.dataset.state = "loaded";
      })
      .catch(function (err) { root.dataset.state = "failed"; box.hidden = false; box.textContent = "Could not load: " + err.message; });
  });
  rate.addEventListener("change", function () { if (current) redraw(); });
  root.dataset.ready = "1";
})();
