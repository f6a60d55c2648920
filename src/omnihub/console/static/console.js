// OmniHub console: a goal's live timeline over Server-Sent Events, and the hit-rate chart.
(function () {
  "use strict";

  function clock(iso) {
    if (!iso) return "";
    return new Date(iso).toISOString().substring(11, 19);
  }

  function scrollToEnd(list) {
    var box = list.closest(".timeline");
    if (box) box.scrollTop = box.scrollHeight;
  }

  function followTimeline() {
    var list = document.getElementById("timeline");
    if (list) scrollToEnd(list);
    var state = document.getElementById("stream-state");
    if (!list || list.dataset.finished === "true" || !window.EventSource) return;
    var source = new EventSource(list.dataset.stream);
    var refresh = null;
    source.onopen = function () { state.textContent = "live"; };
    source.addEventListener("goal", function (message) {
      var e = JSON.parse(message.data);
      if (list.querySelector('[data-version="' + e.version + '"]')) return;
      var item = document.createElement("li");
      item.dataset.version = e.version;
      item.className = "ev ev-" + e.type + " fresh";
      var time = document.createElement("time");
      time.dateTime = e.at || "";
      time.textContent = clock(e.at);
      var name = document.createElement("strong");
      name.textContent = e.type;
      var text = document.createElement("span");
      text.textContent = " " + e.text;
      item.append(time, name, text);
      list.append(item);
      scrollToEnd(list);
      // Coalesce bursts of events into one refresh of the plan, steps and audit panel.
      clearTimeout(refresh);
      refresh = setTimeout(function () { document.body.dispatchEvent(new Event("goal-changed")); }, 150);
    });
    source.addEventListener("end", function () {
      source.close();
      state.textContent = "finished";
      list.dataset.finished = "true";
      document.body.dispatchEvent(new Event("goal-changed"));
    });
    source.onerror = function () { if (list.dataset.finished !== "true") state.textContent = "reconnecting…"; };
  }

  // One span only: show the hour around it rather than letting the time axis span years.
  function xScale(times) {
    var lo = Math.min.apply(null, times), hi = Math.max.apply(null, times);
    if (times.length > 1 && lo !== hi) return { time: true };
    return { time: true, auto: false, min: lo - 1800, max: hi + 1800 };
  }

  function drawChart() {
    var box = document.getElementById("hit-chart");
    if (!box || !window.uPlot) return;
    var s = JSON.parse(box.dataset.series);
    var opts = {
      width: Math.max(320, box.clientWidth - 10),
      height: 250,
      scales: { x: xScale(s.t), rate: { range: [0, 100] }, n: { range: function (u, lo, hi) { return [0, Math.max(1, hi)]; } } },
      series: [
        {},
        { label: "hit rate %", scale: "rate", stroke: "#1e7b3a", width: 2, points: { show: true } },
        { label: "plans", scale: "n", stroke: "#1f5fbf", dash: [4, 4], width: 1 }
      ],
      axes: [{}, { scale: "rate", label: "hit rate %" }, { scale: "n", side: 1, label: "plans", grid: { show: false } }]
    };
    new uPlot(opts, [s.t, s.rate, s.plans], box);
  }

  // Selects marked data-autosubmit send their form on change (an inline onchange handler
  // would need 'unsafe-inline' in the Content-Security-Policy).
  function autoSubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.requestSubmit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    autoSubmit();
    followTimeline();
    if (window.uPlot) { drawChart(); } else { window.addEventListener("load", drawChart); }
  });
})();
