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

const PALETTE = ["#4f46e5", "#0e9f6e", "#d97706", "#0284c7", "#db2777", "#7c3aed", "#65a30d", "#dc2626"];

/** Nodes are named `<label> · <side>` (a Sankey needs distinct names per side); the label shows. */
function labelOf(name: string): string {
  return name.split(" · ")[0] ?? name;
}

export function Sankey({ nodes, links, height = 320, ariaLabel }: { nodes: string[]; links: Link[]; height?: number; ariaLabel: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!el.current) return;
    const chart = echarts.init(el.current, undefined, { renderer: "canvas" });
    const flowing = links.filter((l) => l.value > 0);
    const used = new Set(flowing.flatMap((l) => [l.source, l.target]));
    const labels = [...new Set(nodes.map(labelOf))];
    const color = (name: string) => PALETTE[labels.indexOf(labelOf(name)) % PALETTE.length];
    chart.setOption({
      animation: false,
      tooltip: { trigger: "item" },
      series: [{
        type: "sankey",
        data: nodes.filter((n) => used.has(n)).map((name) => ({ name, itemStyle: { color: color(name) } })),
        links: flowing,
        emphasis: { focus: "adjacency" },
        lineStyle: { color: "gradient", opacity: 0.35 },
        label: { fontSize: 12, formatter: (p: { name: string }) => labelOf(p.name) },
        nodeGap: 14,
        left: 8, right: 160, top: 8, bottom: 8,
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
