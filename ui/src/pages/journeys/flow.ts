// Graph ⇄ React Flow nodes and edges (the canvas's own shapes).
import { MarkerType, type Edge, type Node } from "@xyflow/react";
import type { EntryData, StepData } from "./JourneyNode";
import { ENTRY_ID, type Goal, type Graph } from "./model";

const EDGE_STYLE = { markerEnd: { type: MarkerType.ArrowClosed }, deletable: true };

export function toFlow(graph: Graph, positions: Record<string, { x: number; y: number }>): { nodes: Node[]; edges: Edge[] } {
  const nodes: Node[] = [];
  if (graph.entry) nodes.push({ id: ENTRY_ID, type: "entry", position: positions[ENTRY_ID] ?? { x: 0, y: 0 }, data: { entry: graph.entry }, deletable: false });
  for (const n of graph.nodes) nodes.push({ id: n.id, type: "step", position: positions[n.id] ?? { x: 0, y: 0 }, data: { config: n.config } });
  const edges = graph.edges.filter((e) => e.target).map((e) => edgeOf(e.source, e.handle, e.target));
  return { nodes, edges };
}

export function edgeOf(source: string, handle: string, target: string): Edge {
  return { id: `${source}:${handle}`, source, sourceHandle: handle, target, ...EDGE_STYLE };
}

export function toGraph(nodes: Node[], edges: Edge[], goal: Goal | null = null): Graph {
  const entryNode = nodes.find((n) => n.type === "entry");
  return {
    goal,
    entry: entryNode ? (entryNode.data as EntryData).entry : null,
    nodes: nodes.filter((n) => n.type === "step").map((n) => ({ id: n.id, config: (n.data as StepData).config })),
    edges: edges.map((e) => ({ source: e.source, handle: e.sourceHandle ?? "next", target: e.target })),
  };
}

