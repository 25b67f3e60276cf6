/* Draws the dashboard's two charts from the JSON the page carries (#chart-data).
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

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
  });
})();
