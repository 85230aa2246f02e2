/* mediaplane console: live charts (vendored uPlot) and the drag-and-drop dump upload. No build step. */
(function () {
  "use strict";
  var CSRF = document.body.dataset.csrf;
  var COLOURS = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* ---- charts ------------------------------------------------------------------------------ */

  // {t: [epoch s], v: [..]} -> uPlot data [[x], [y]]
  function seriesData(s) { return [s.t, s.v]; }

  function drawChart(figure, metric, series, colour) {
    var width = Math.max(260, figure.clientWidth || 320);
    var opts = {
      width: width, height: 160,
      scales: {x: {time: true}},
      legend: {show: false},
      series: [{}, {label: metric.label, stroke: colour, width: 2, spanGaps: false,
                    value: function (u, v) { return v == null ? "—" : v + " " + metric.unit; }}],
      axes: [{}, {size: 50}]
    };
    return new uPlot(opts, seriesData(series), figure.querySelector(".plot"));
  }

  function roomCharts(root) {
    var url = root.dataset.url, refresh = Number(root.dataset.refresh || 5) * 1000;
    var charts = {};  // "user|metric" -> uPlot
    var status = document.getElementById("room-status");

    function render(payload) {
      var users = Object.keys(payload.users).sort();
      if (!users.length) {
        root.textContent = "No samples in the chart window.";
      }
      users.forEach(function (user, index) {
        var section = root.querySelector('section[data-user="' + CSS.escape(user) + '"]');
        if (!section) {
          section = el("section", {"class": "user", "data-user": user});
          section.appendChild(el("h2", {}, user));
          var grid = el("div", {"class": "chart-grid"});
          section.appendChild(grid);
          root.appendChild(section);
        }
        payload.metrics.forEach(function (metric) {
          var key = user + "|" + metric.key;
          var series = payload.users[user][metric.key];
          if (!series || !series.t.length) return;
          if (charts[key]) { charts[key].setData(seriesData(series)); return; }
          var figure = el("figure", {"class": "chart", "data-metric": metric.key, "data-user": user});
          figure.appendChild(el("figcaption", {}, metric.label + " (" + metric.unit + ")"));
          figure.appendChild(el("div", {"class": "plot", "role": "img",
                                        "aria-label": metric.label + " of " + user + " over time"}));
          section.querySelector(".chart-grid").appendChild(figure);
          charts[key] = drawChart(figure, metric, series, COLOURS[index % COLOURS.length]);
        });
      });
      if (status) status.textContent = payload.live ? "Live · refreshing every " + refresh / 1000 + " s"
                                                      : "Idle · not refreshing";
      root.dataset.drawn = String(Object.keys(charts).length);
      root.dataset.updatedAt = String(Date.now());
      return payload.live;
    }

    function load() {
      fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (payload) { if (render(payload)) setTimeout(load, refresh); })
        .catch(function (err) {
          if (status) status.textContent = "Could not load the charts (" + err.message + "); retrying";
          setTimeout(load, refresh * 2);
        });
    }
    load();
  }

  /* ---- upload ------------------------------------------------------------------------------ */

  function uploader(root) {
    var api = root.dataset.api, chunkSize = Number(root.dataset.chunkBytes || 1048576);
    var input = root.querySelector("input[type=file]");
    var drop = root.querySelector(".drop");
    var bar = root.querySelector("progress");
    var state = root.querySelector("#upload-state");
    var result = root.querySelector("#upload-result");

    function say(text, kind) { state.textContent = text; root.dataset.state = kind; }

    function send(method, path, body, onProgress) {
      return new Promise(function (resolve, reject) {
        var xhr = new XMLHttpRequest();
        xhr.open(method, api + path);
        xhr.setRequestHeader("X-CSRFToken", CSRF);
        xhr.setRequestHeader("Accept", "application/json");
        if (onProgress) xhr.upload.onprogress = function (e) { if (e.lengthComputable) onProgress(e.loaded); };
        xhr.onload = function () {
          var json = null;
          try { json = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
          resolve({status: xhr.status, json: json});
        };
        xhr.onerror = function () { reject(new Error("network error")); };
        if (body && !(body instanceof FormData)) {
          xhr.setRequestHeader("Content-Type", "application/json");
          body = JSON.stringify(body);
        }
        xhr.send(body || null);
      });
    }

    function errorOf(answer) {
      return (answer.json && (answer.json.error || answer.json.detail)) || ("HTTP " + answer.status);
    }

    function poll(id, viewer) {
      send("GET", "/sessions/" + encodeURIComponent(id)).then(function (answer) {
        if (answer.status === 409) { say("Analysing…", "analysing"); setTimeout(function () { poll(id, viewer); }, 1500); return; }
        if (answer.status === 200) {
          say("Ready", "ready");
          result.hidden = false;
          var link = result.querySelector("#open-analysis");
          link.href = viewer; link.textContent = "Open the analysis of " + id;
          var explore = result.querySelector("#open-explorer");
          if (explore) explore.href = root.dataset.explorer.replace("__ID__", encodeURIComponent(id));
          return;
        }
        say("Analysis failed: " + errorOf(answer), "failed");
      }, function (err) { say("Lost the server: " + err.message, "failed"); });
    }

    function upload(file) {
      var fileId = (self.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now());
      var chunks = Math.max(1, Math.ceil(file.size / chunkSize));
      var sent = 0;
      bar.max = file.size || 1; bar.value = 0; result.hidden = true;
      say("Uploading " + file.name + "…", "uploading");
      function chunk(index) {
        if (index >= chunks) {
          say("Assembling…", "assembling");
          return send("POST", "/upload", {fileId: fileId, assemble: true, fileName: file.name});
        }
        var form = new FormData();
        form.append("fileId", fileId);
        form.append("chunkIndex", String(index));
        form.append("totalChunks", String(chunks));
        form.append("fileName", file.name);
        var part = file.slice(index * chunkSize, Math.min(file.size, (index + 1) * chunkSize));
        form.append("chunk", part, file.name);
        return send("POST", "/upload", form, function (loaded) {
          bar.value = Math.min(file.size, sent + Math.min(loaded, part.size));
          bar.textContent = Math.round(100 * bar.value / bar.max) + "%";
        }).then(function (answer) {
          if (answer.status !== 200) throw new Error(errorOf(answer));
          sent += part.size; bar.value = sent;
          return chunk(index + 1);
        });
      }
      chunk(0).then(function (answer) {
        if (!answer || answer.status !== 200) throw new Error(errorOf(answer));
        bar.value = bar.max;
        poll(answer.json.rtcstatsId, root.dataset.viewer.replace("__ID__", answer.json.rtcstatsId));
      }).catch(function (err) { say("Upload failed: " + err.message, "failed"); });
    }

    input.addEventListener("change", function () { if (input.files.length) upload(input.files[0]); });
    ["dragenter", "dragover"].forEach(function (name) {
      drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      if (e.dataTransfer && e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
    });
  }

  var room = document.getElementById("room-charts");
  if (room) roomCharts(room);
  var up = document.getElementById("upload");
  if (up) uploader(up);
  document.body.dataset.consoleReady = "1";  // handlers are attached (tests wait for it)
})();
