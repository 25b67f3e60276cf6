/* Draws the dashboard's charts (green balance, label counts, benefits, CERF by quarter, collateral alerts by run) from the JSON the page carries (#chart-data).
   A separate file, not an inline script, so the pages' Content-Security-Policy can forbid inline
   scripts.  Each chart element gets data-rendered="1" once ECharts has finished drawing it. */
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var charts = [];
  var STATUS_COLOURS = {
    green: "#2e7d32",
    not_green: "#90a4ae",
    needs_review: "#f9a825",
    none: "#cfd8dc"
  };

  function format(value, digits) {
    return Number(value).toLocaleString(undefined, {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits
    });
  }

  function tick(value) {  // axis labels: whole numbers as such, small ones with their decimals
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: 2 });
  }

  function start(id) {
    var element = document.getElementById(id);
    if (!element) {
      return null;
    }
    var chart = echarts.init(element, null, { renderer: "canvas" });
    chart.on("finished", function () {
      element.setAttribute("data-rendered", "1");
    });
    charts.push(chart);
    return chart;
  }

  var bar = start("chart-level1");
  if (bar) {
    var level1 = data.level1;
    bar.setOption({
      color: ["#2e7d32"],
      grid: { left: 16, right: 72, top: 16, bottom: 24, containLabel: true },
      tooltip: {
        trigger: "axis",
        axisPointer: { type: "shadow" },
        valueFormatter: function (v) { return format(v, 2) + " " + level1.unit; }
      },
      xAxis: { type: "value", name: level1.unit, axisLabel: { formatter: function (v) { return format(v, 0); } } },
      yAxis: { type: "category", data: level1.names, inverse: true, axisLabel: { width: 160, overflow: "truncate" } },
      series: [{
        type: "bar",
        data: level1.values,
        barMaxWidth: 36,
        label: { show: true, position: "right", formatter: function (p) { return format(p.value, 2); } }
      }],
      graphic: level1.values.length ? [] : [{
        type: "text", left: "center", top: "middle", style: { text: level1.empty, fill: "#607d8b", fontSize: 14 }
      }]
    });
  }

  var pie = start("chart-counts");
  if (pie) {
    var counts = data.counts;
    pie.setOption({
      tooltip: {
        trigger: "item",
        formatter: function (p) { return p.name + "：" + format(p.value, 0) + " " + counts.unit + "（" + p.percent + "%）"; }
      },
      legend: { bottom: 0 },
      series: [{
        type: "pie",
        radius: ["38%", "68%"],
        center: ["50%", "45%"],
        label: { formatter: function (p) { return p.name + "\n" + format(p.value, 0); } },
        data: counts.slices.map(function (s) {
          return { name: s.name, value: s.value, itemStyle: { color: STATUS_COLOURS[s.status] || "#b0bec5" } };
        })
      }]
    });
  }

  function empty(text, none) {
    return none ? [{ type: "text", left: "center", top: "middle", style: { text: text, fill: "#607d8b", fontSize: 14 } }] : [];
  }

  var benefits = start("chart-benefits");
  if (benefits) {
    var b = data.benefits;
    benefits.setOption({
      color: ["#00897b"],
      grid: { left: 16, right: 96, top: 16, bottom: 24, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: function (v) { return format(v, 2); } },
      xAxis: { type: "value", name: b.unit, axisLabel: { formatter: function (v) { return format(v, 0); } } },
      yAxis: { type: "category", data: b.names, inverse: true, axisLabel: { width: 200, overflow: "truncate" } },
      series: [{
        type: "bar", data: b.values, barMaxWidth: 36,
        label: { show: true, position: "right", formatter: function (p) { return format(p.value, 2); } }
      }],
      graphic: empty(b.empty, !b.values.some(function (v) { return v > 0; }))
    });
  }

  var cerf = start("chart-cerf");
  if (cerf && data.cerf) {
    var c = data.cerf;
    var money = function (v) { return format(v, 2) + " " + c.labels.wan_yuan; };
    cerf.setOption({
      color: ["#2e7d32", "#81c784", "#1565c0"],
      grid: { left: 16, right: 16, top: 40, bottom: 24, containLabel: true },
      legend: { top: 0 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: c.quarters },
      yAxis: [
        { type: "value", name: c.labels.wan_yuan, axisLabel: { formatter: tick } },
        { type: "value", name: c.co2_unit, axisLabel: { formatter: tick } }
      ],
      series: [
        { name: c.labels.cerf_principal, type: "bar", data: c.principal, tooltip: { valueFormatter: money } },
        { name: c.labels.cerf_facility, type: "bar", data: c.facility, tooltip: { valueFormatter: money } },
        { name: c.labels.cerf_co2, type: "line", yAxisIndex: 1, data: c.co2,
          tooltip: { valueFormatter: function (v) { return format(v, 2) + " " + c.co2_unit; } } }
      ],
      graphic: empty(c.empty, !c.quarters.length)
    });
  }

  var alerts = start("chart-alerts");
  if (alerts && data.alerts) {
    var a = data.alerts;
    var count = function (v) { return format(v, 0) + " " + a.labels.pledges_unit; };
    alerts.setOption({
      color: ["#f9a825", "#c62828"],
      grid: { left: 16, right: 16, top: 32, bottom: 24, containLabel: true },
      legend: { top: 0 },
      tooltip: { trigger: "axis", valueFormatter: count },
      xAxis: { type: "category", data: a.days },
      yAxis: { type: "value", name: a.labels.pledges_unit, minInterval: 1 },
      series: [
        { name: a.labels.kind_warning, type: "bar", stack: "alerts", data: a.warnings },
        { name: a.labels.kind_liquidation, type: "bar", stack: "alerts", data: a.liquidations }
      ],
      graphic: empty(a.empty, !a.days.length)
    });
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
