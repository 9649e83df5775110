// Sunshine pages' one script: htmx requests carry the CSRF token; charts are drawn from their data-chart option
// (JSON in an attribute: no inline script, the Content-Security-Policy forbids it) and again after htmx swaps.
(function () {
  "use strict";
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRF-Token"] = csrf();
  });
  function drawCharts(root) {
    if (typeof window.echarts === "undefined") { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var option;
      try { option = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
      var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(option, true);
      el.setAttribute("data-chart-ready", "1");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (evt) { drawCharts(evt.target); });
  window.addEventListener("resize", function () {
    if (typeof window.echarts === "undefined") { return; }
    document.querySelectorAll("[data-chart-ready]").forEach(function (el) {
      var chart = window.echarts.getInstanceByDom(el);
      if (chart) { chart.resize(); }
    });
  });
  // a print button without inline script: <button type="button" data-print>
  document.addEventListener("click", function (evt) {
    var target = evt.target instanceof Element ? evt.target.closest("[data-print]") : null;
    if (target) { evt.preventDefault(); window.print(); }
  });
  // a confirm step for buttons that change a record: <button data-confirm="…">
  document.addEventListener("submit", function (evt) {
    var button = evt.submitter;
    var text = button && button.getAttribute("data-confirm");
    if (text && !window.confirm(text)) { evt.preventDefault(); }
  });
})();
