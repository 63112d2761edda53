// The journey language as the canvas edits it (docs/journeys.md). Pure functions only:
// definition ⇄ graph (nodes + edges), default node configs, error ownership by path,
// an automatic top-down layout, and live counts from runs.

export type NodeType = "send" | "wait" | "wait_event" | "condition" | "split" | "exit";
export type Unit = "minutes" | "hours" | "days" | "weeks";
export interface Duration { amount: number; unit: Unit }
export interface PropertyFilter { property: string; op: string; value?: unknown }

export type Trigger =
  | { type: "event"; event: string; where: PropertyFilter[] }
  | { type: "segment"; segment_id: string; on: "entered" | "exited" }
  | { type: "api" };

export interface EntryRule {
  type: "once" | "once_per" | "every_time";
  period?: Duration | null;
  max_concurrent: number;
}

export type Predicate =
  | { kind: "event_happened"; event: string; since: "entry" | "ever" }
  | { kind: "attribute"; attribute: string; op: string; value?: unknown }
  | { kind: "segment"; segment_id: string };

/** A node's own settings, without its edges (those live on the canvas as edges). */
export type NodeConfig =
  | { type: "send"; message_id: string; cascade: string[]; category: "transactional" | "trigger" | "promo" }
  | { type: "wait"; duration: Duration }
  | { type: "wait_event"; event: string; timeout: Duration }
  | { type: "condition"; if: Predicate }
  | { type: "split"; branches: { weight: number; label: string }[] }
  | { type: "exit" };

export interface Entry { trigger: Trigger; rule: EntryRule }

/** A node as the API stores it. */
export type DefNode = { id: string; type: NodeType } & Record<string, unknown>;
export interface Definition { name: string; entry: Entry; start: string; nodes: DefNode[] }

export interface GraphNode { id: string; config: NodeConfig }
export interface GraphEdge { source: string; handle: string; target: string }
export interface Graph { entry: Entry | null; nodes: GraphNode[]; edges: GraphEdge[] }

export const ENTRY_ID = "entry";
export const OPS = ["equals", "not_equals", "gt", "gte", "lt", "lte", "exists", "contains", "in"];
export const UNITS: Unit[] = ["minutes", "hours", "days", "weeks"];
export const CHANNELS = ["email", "sms", "push", "viber", "inapp", "webhook"];

export const NODE_LABEL: Record<NodeType, string> = {
  send: "Send",
  wait: "Wait",
  wait_event: "Wait for event",
  condition: "Condition",
  split: "Split",
  exit: "Exit",
};

export function defaultConfig(type: NodeType): NodeConfig {
  switch (type) {
    case "send": return { type, message_id: "", cascade: ["email"], category: "trigger" };
    case "wait": return { type, duration: { amount: 1, unit: "hours" } };
    case "wait_event": return { type, event: "", timeout: { amount: 1, unit: "days" } };
    case "condition": return { type, if: { kind: "event_happened", event: "", since: "entry" } };
    case "split": return { type, branches: [{ weight: 50, label: "A" }, { weight: 50, label: "B" }] };
    case "exit": return { type };
  }
}

export function defaultTrigger(type: Trigger["type"]): Trigger {
  if (type === "event") return { type, event: "", where: [] };
  if (type === "segment") return { type, segment_id: "", on: "entered" };
  return { type };
}

export function defaultEntry(type: Trigger["type"] = "event"): Entry {
  return { trigger: defaultTrigger(type), rule: { type: "once", max_concurrent: 1 } };
}

/** The outgoing handles of a node: the fields its edges fill.
 * >>> handlesOf({type: "condition", ...}) → ["then", "else"] */
export function handlesOf(config: NodeConfig): string[] {
  switch (config.type) {
    case "send":
    case "wait": return ["next"];
    case "wait_event":
    case "condition": return ["then", "else"];
    case "split": return config.branches.map((_, i) => `b${i}`);
    case "exit": return [];
  }
}

/** A fresh id for a node of `type`: `send_1`, `send_2`, … not taken by `taken`. */
export function freshId(type: NodeType, taken: Iterable<string>): string {
  const used = new Set(taken);
  for (let i = 1; ; i++) {
    const id = `${type}_${i}`;
    if (!used.has(id) && id !== ENTRY_ID) return id;
  }
}

function targetOf(edges: GraphEdge[], source: string, handle: string): string | undefined {
  return edges.find((e) => e.source === source && e.handle === handle)?.target;
}

/** The document the API takes. Missing edges are left out, so the server names them
 * (`nodes[0].next: Field required`) and the canvas shows that on the node. */
export function toDefinition(name: string, graph: Graph): Record<string, unknown> {
  const nodes = graph.nodes.map((n) => nodeDocument(n, graph.edges));
  const start = targetOf(graph.edges, ENTRY_ID, "start");
  const doc: Record<string, unknown> = { name, nodes };
  if (graph.entry) doc.entry = entryDocument(graph.entry);
  if (start !== undefined) doc.start = start;
  return doc;
}

function entryDocument(entry: Entry): Entry {
  const rule: EntryRule = { type: entry.rule.type, max_concurrent: entry.rule.max_concurrent };
  if (entry.rule.type === "once_per") rule.period = entry.rule.period ?? null;
  const t = entry.trigger;
  const trigger: Trigger = t.type === "event" ? { ...t, where: t.where.map(cleanFilter) } : t;
  return { trigger, rule };
}

function cleanFilter(f: PropertyFilter): PropertyFilter {
  return f.op === "exists" ? { property: f.property, op: f.op } : f;
}

function nodeDocument(node: GraphNode, edges: GraphEdge[]): DefNode {
  const c = node.config;
  const doc: DefNode = { id: node.id, type: c.type };
  const link = (field: string, handle: string) => {
    const target = targetOf(edges, node.id, handle);
    if (target !== undefined) doc[field] = target;
  };
  switch (c.type) {
    case "send":
      Object.assign(doc, { message_id: c.message_id, cascade: c.cascade, category: c.category });
      link("next", "next");
      break;
    case "wait":
      doc.duration = c.duration;
      link("next", "next");
      break;
    case "wait_event":
      Object.assign(doc, { event: c.event, timeout: c.timeout });
      link("then", "then");
      link("else", "else");
      break;
    case "condition":
      doc.if = c.if.kind === "attribute" && c.if.op === "exists" ? { kind: c.if.kind, attribute: c.if.attribute, op: c.if.op } : c.if;
      link("then", "then");
      link("else", "else");
      break;
    case "split":
      doc.branches = c.branches.map((b, i) => {
        const branch: Record<string, unknown> = { weight: b.weight, label: b.label };
        const target = targetOf(edges, node.id, `b${i}`);
        if (target !== undefined) branch.next = target;
        return branch;
      });
      break;
    case "exit":
      break;
  }
  return doc;
}

/** The canvas graph of a stored definition. */
export function fromDefinition(def: Definition): Graph {
  const edges: GraphEdge[] = [{ source: ENTRY_ID, handle: "start", target: def.start }];
  const nodes = def.nodes.map((n): GraphNode => {
    const edge = (handle: string, target: unknown) => {
      if (typeof target === "string") edges.push({ source: n.id, handle, target });
    };
    const d = n as Record<string, any>;
    switch (n.type) {
      case "send":
        edge("next", d.next);
        return { id: n.id, config: { type: "send", message_id: d.message_id ?? "", cascade: d.cascade ?? ["email"], category: d.category ?? "trigger" } };
      case "wait":
        edge("next", d.next);
        return { id: n.id, config: { type: "wait", duration: d.duration } };
      case "wait_event":
        edge("then", d.then);
        edge("else", d.else);
        return { id: n.id, config: { type: "wait_event", event: d.event, timeout: d.timeout } };
      case "condition":
        edge("then", d.then);
        edge("else", d.else);
        return { id: n.id, config: { type: "condition", if: d.if } };
      case "split":
        (d.branches as { next: string }[]).forEach((b, i) => edge(`b${i}`, b.next));
        return { id: n.id, config: { type: "split", branches: d.branches.map((b: any) => ({ weight: b.weight, label: b.label ?? "" })) } };
      default:
        return { id: n.id, config: { type: "exit" } };
    }
  });
  const trigger = def.entry.trigger.type === "event" ? { ...def.entry.trigger, where: def.entry.trigger.where ?? [] } : def.entry.trigger;
  const rule = { type: def.entry.rule?.type ?? "once", period: def.entry.rule?.period ?? null, max_concurrent: def.entry.rule?.max_concurrent ?? 1 };
  return { entry: { trigger, rule }, nodes, edges };
}

export interface PathError { path: string; reason: string }

/** Which canvas node an error path belongs to: `nodes[1].next` → the second node,
 * `entry.*` and `start` → the entry; anything else (`name`, `$`) → null (shown above). */
export function ownerOf(path: string, nodeIds: string[]): string | null {
  const m = /^nodes\[(\d+)\]/.exec(path);
  if (m) return nodeIds[Number(m[1])] ?? null;
  if (path === "start" || path.startsWith("entry")) return ENTRY_ID;
  return null;
}

/** Errors grouped by the canvas node that owns them; key "" for the journey itself. */
export function errorsByNode(errors: PathError[], nodeIds: string[]): Record<string, PathError[]> {
  const out: Record<string, PathError[]> = {};
  for (const e of errors) {
    const key = ownerOf(e.path, nodeIds) ?? "";
    (out[key] ??= []).push(e);
  }
  return out;
}

export interface Point { x: number; y: number }

/** A top-down layout: the entry on top, each node one row below the deepest node that
 * leads to it, siblings side by side. Used for journeys with no saved layout. */
export function autoLayout(graph: Graph): Record<string, Point> {
  const depth: Record<string, number> = { [ENTRY_ID]: 0 };
  const out = (id: string) => graph.edges.filter((e) => e.source === id).map((e) => e.target);
  // Longest-path layering over an acyclic graph (bounded: a loop cannot grow it past n).
  const limit = graph.nodes.length + 1;
  const queue = [ENTRY_ID];
  while (queue.length) {
    const id = queue.shift()!;
    for (const next of out(id)) {
      const d = (depth[id] ?? 0) + 1;
      if (d <= limit && (depth[next] === undefined || depth[next]! < d)) {
        depth[next] = d;
        queue.push(next);
      }
    }
  }
  const rows: Record<number, string[]> = {};
  let deepest = 0;
  for (const n of graph.nodes) deepest = Math.max(deepest, depth[n.id] ?? 0);
  for (const n of graph.nodes) {
    const d = depth[n.id] ?? deepest + 1; // unreachable nodes go to a row of their own
    (rows[d] ??= []).push(n.id);
  }
  const pos: Record<string, Point> = { [ENTRY_ID]: { x: 0, y: 0 } };
  for (const [d, ids] of Object.entries(rows)) {
    ids.forEach((id, i) => {
      pos[id] = { x: (i - (ids.length - 1) / 2) * 260, y: Number(d) * 150 };
    });
  }
  return pos;
}

export interface Run { run_id: string; state: string; node_id: string | null; version: number }
export interface Counts { entered: number; byNode: Record<string, { active: number; done: number }> }

/** Runs at each node: active ones where they wait, finished ones where they ended. */
export function countRuns(runs: Run[]): Counts {
  const byNode: Counts["byNode"] = {};
  for (const r of runs) {
    if (!r.node_id) continue;
    const c = (byNode[r.node_id] ??= { active: 0, done: 0 });
    if (r.state === "active") c.active += 1;
    else c.done += 1;
  }
  return { entered: runs.length, byNode };
}
