// An ECharts Sankey diagram (only the sankey pieces are bundled) for flows between groups.
import { SankeyChart } from "echarts/charts";
import { TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { useEffect, useRef } from "react";

echarts.use([SankeyChart, TooltipComponent, CanvasRenderer]);

export interface Link {
  source: string;
  target: string;
  value: number;
}

export function Sankey({ nodes, links, height = 320, ariaLabel }: { nodes: string[]; links: Link[]; height?: number; ariaLabel: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const chart = echarts.init(el.current, undefined, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      tooltip: { trigger: "item" },
      series: [{
        type: "sankey",
        data: nodes.map((name) => ({ name })),
        links: links.filter((l) => l.value > 0),
        emphasis: { focus: "adjacency" },
        lineStyle: { color: "gradient", opacity: 0.35 },
        label: { fontSize: 12 },
        nodeGap: 14,
        left: 8, right: 140, top: 8, bottom: 8,
      }],
    });
    const observer = new ResizeObserver(() => chart.resize());
    observer.observe(el.current);
    return () => {
      observer.disconnect();
      chart.dispose();
    };
  }, [nodes, links]);
  return <div ref={el} className="chart" style={{ height }} role="img" aria-label={ariaLabel} />;
}
