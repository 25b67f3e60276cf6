/* Draws the collateral page's chart from the JSON the page carries (#collateral-data): for each
   revaluation run, the total coverage (Σ collateral value ÷ Σ outstanding, right axis) and the
   pledges valued, in warning and below the liquidation line (left axis).  A separate file, not an
   inline script, so the Content-Security-Policy can forbid inline scripts.  The chart element gets
   data-rendered="1" once ECharts has finished drawing it. */
(function () {
  "use strict";
  var source = document.getElementById("collateral-data");
  var element = document.getElementById("chart-coverage");
  if (!source || !element || typeof echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var labels = data.labels;
  var chart = echarts.init(element, null, { renderer: "canvas" });
  chart.on("finished", function () {
    element.setAttribute("data-rendered", "1");
  });
  chart.setOption({
    color: ["#2e7d32", "#607d8b", "#f9a825", "#c62828"],
    grid: { left: 16, right: 24, top: 40, bottom: 48, containLabel: true },
    tooltip: { trigger: "axis" },
    legend: { bottom: 0 },
    xAxis: { type: "category", data: data.days, boundaryGap: false },
    yAxis: [
      { type: "value", name: labels.pledges_unit, minInterval: 1 },
      { type: "value", name: "%", position: "right", splitLine: { show: false } }
    ],
    series: [
      { name: labels.coverage_total, type: "line", yAxisIndex: 1, data: data.coverage, connectNulls: false, symbolSize: 6 },
      { name: labels.pledges_valued, type: "line", data: data.pledges, symbolSize: 6 },
      { name: labels.kind_warning, type: "line", data: data.warnings, symbolSize: 6 },
      { name: labels.kind_liquidation, type: "line", data: data.liquidations, symbolSize: 6 }
    ],
    graphic: data.days.length ? [] : [{
      type: "text", left: "center", top: "middle", style: { text: data.empty, fill: "#607d8b", fontSize: 14 }
    }]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
