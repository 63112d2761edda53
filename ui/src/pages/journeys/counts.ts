// Live counts on the canvas: per node, how many runs entered it, wait there now, converted
// (reached the goal) from it and exited there — GET /api/v1/journeys/{id}/stats. Pure.

export interface NodeCounts { entered: number; waiting: number; converted: number; exited: number }
export interface Stats { nodes: Record<string, NodeCounts>; totals: NodeCounts }

export const COUNT_KEYS: (keyof NodeCounts)[] = ["entered", "waiting", "converted", "exited"];
export const ZERO: NodeCounts = { entered: 0, waiting: 0, converted: 0, exited: 0 };

/** The stats answer with every figure present (a missing one reads 0). */
export function normalizeStats(raw: { nodes?: Record<string, Partial<NodeCounts>>; totals?: Partial<NodeCounts> }): Stats {
  const fill = (c: Partial<NodeCounts> | undefined): NodeCounts => ({ ...ZERO, ...(c ?? {}) });
  const nodes: Record<string, NodeCounts> = {};
  for (const [id, c] of Object.entries(raw.nodes ?? {})) nodes[id] = fill(c);
  return { nodes, totals: fill(raw.totals) };
}
