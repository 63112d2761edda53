// ECharts with only the pieces the UI uses (bar + line, grid, tooltip, canvas),
// which keeps the bundle a fraction of the full library.
import { BarChart, LineChart } from "echarts/charts";
import { GridComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";

echarts.use([BarChart, LineChart, GridComponent, TooltipComponent, CanvasRenderer]);

interface Props {
  labels: string[];
  values: number[];
  color: string;
  kind?: "bar" | "line";
  name: string;
  height?: number;
  /** Show every n-th x label (0 = let ECharts choose); minute charts show every 15th. */
  labelInterval?: number | "auto";
  ariaLabel?: string;
}

function optionFor({ labels, values, color, kind = "bar", name, labelInterval = 14 }: Props): echarts.EChartsCoreOption {
  return {
    animation: false,
    grid: { left: 36, right: 8, top: 10, bottom: 22 },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    xAxis: {
      type: "category",
      data: labels,
      axisTick: { show: false },
      axisLine: { lineStyle: { color: "#d0d5dd" } },
      axisLabel: { color: "#667085", fontSize: 10, interval: labelInterval },
    },
    yAxis: {
      type: "value",
      minInterval: 1,
      splitLine: { lineStyle: { color: "#f0f1f4" } },
      axisLabel: { color: "#667085", fontSize: 10 },
    },
    series: [
      {
        name,
        type: kind,
        data: values,
        itemStyle: { color, borderRadius: kind === "bar" ? [2, 2, 0, 0] : 0 },
        showSymbol: false,
        areaStyle: kind === "line" ? { color, opacity: 0.12 } : undefined,
        barMaxWidth: 10,
      },
    ],
  };
}

export function Chart(props: Props) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  useEffect(() => {
    if (!el.current) return;
    const instance = echarts.init(el.current, undefined, { renderer: "canvas" });
    chart.current = instance;
    const observer = new ResizeObserver(() => instance.resize());
    observer.observe(el.current);
    return () => {
      observer.disconnect();
      instance.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current?.setOption(optionFor(props), { notMerge: false, lazyUpdate: true });
  });
  return <div ref={el} className="chart" style={{ height: props.height ?? 140 }} aria-label={props.ariaLabel ?? `${props.name} per minute`} role="img" />;
}
