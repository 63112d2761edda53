// definition ⇄ graph: the document the API stores and the canvas's nodes + edges. Pure.
import {
  ENTRY_ID, type DefNode, type Definition, type Entry, type EntryRule, type Goal, type Graph, type GraphEdge,
  type GraphNode, type NodeConfig, type Pairs, type PathError, type Predicate, type PropertyFilter, type Trigger,
} from "./model";

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
  if (graph.goal) doc.goal = { ...(graph.goal.name.trim() ? { name: graph.goal.name.trim() } : {}), event: graph.goal.event, where: graph.goal.where.map(cleanFilter) };
  return doc;
}

function entryDocument(entry: Entry): Entry {
  const rule: EntryRule = { type: entry.rule.type, max_concurrent: entry.rule.max_concurrent };
  if (entry.rule.type === "once_per") rule.period = entry.rule.period ?? null;
  return { trigger: triggerDocument(entry.trigger), rule };
}

/** Blank optional filters of a message trigger mean "any" (null); a topic likewise. */
function triggerDocument(t: Trigger): Trigger {
  switch (t.type) {
    case "event": return { ...t, where: t.where.map(cleanFilter) };
    case "message": return { ...t, message_id: t.message_id || null, campaign_id: t.campaign_id || null, journey_id: t.journey_id || null, channel: t.channel || null };
    case "subscription": return { ...t, topic: t.topic || null };
    case "goal": return { type: t.type, journey_id: t.journey_id, ...(t.goal ? { goal: t.goal } : {}) };
    default: return t;
  }
}

function cleanFilter(f: PropertyFilter): PropertyFilter {
  return f.op === "exists" ? { property: f.property, op: f.op } : f;
}

/** Rows → an object; rows with no key are dropped (a blank row is not a field). With
 * `typed`, a value that reads as JSON (5, true, ["a"]) is that value, else the text. */
export function pairsToObject(pairs: Pairs, typed = false): Record<string, unknown> {
  const value = (v: string): unknown => {
    if (!typed) return v;
    try {
      return JSON.parse(v);
    } catch {
      return v;
    }
  };
  return Object.fromEntries(pairs.filter(([k]) => k.trim() !== "").map(([k, v]) => [k.trim(), value(v)]));
}

export function objectToPairs(obj: unknown): Pairs {
  if (!obj || typeof obj !== "object") return [];
  return Object.entries(obj as Record<string, unknown>).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]);
}

/** A webhook body as typed: empty → no body; JSON → the value; anything else is sent as
 * text, so the server names `nodes[i].body` and the panel shows it at the field. */
export function bodyValue(text: string): unknown {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function predicateDocument(p: Predicate): Predicate {
  return p.kind === "attribute" && p.op === "exists" ? { kind: p.kind, attribute: p.attribute, op: p.op } : p;
}

function settings(c: NodeConfig): Record<string, unknown> {
  switch (c.type) {
    case "send": return { message_id: c.message_id, cascade: c.cascade, category: c.category };
    case "cascade": return { message_id: c.message_id, channels: c.channels, move_on: c.move_on, within: c.within, category: c.category, ...(c.topic.trim() ? { topic: c.topic.trim() } : {}) };
    case "wait": return { duration: c.duration };
    case "wait_until": return { at: c.at, weekdays: c.weekdays, timezone: c.timezone };
    case "wait_event": return { event: c.event, timeout: c.timeout };
    case "condition": return { if: predicateDocument(c.if) };
    case "split": return {};
    case "update_contact": return { set: pairsToObject(c.set, true), unset: c.unset.filter((u) => u.trim() !== "") };
    case "list": return { action: c.action, kind: c.kind, name: c.name };
    case "webhook": {
      const body = bodyValue(c.body);
      return { url: c.url, method: c.method, headers: pairsToObject(c.headers), ...(body === undefined ? {} : { body }) };
    }
    case "goal": return { name: c.name, event: c.event || null, where: c.where.map(cleanFilter) };
    case "exit": return {};
  }
}

function nodeDocument(node: GraphNode, edges: GraphEdge[]): DefNode {
  const c = node.config;
  const doc: DefNode = { id: node.id, type: c.type, ...settings(c) };
  const link = (field: string, handle: string) => {
    const target = targetOf(edges, node.id, handle);
    if (target !== undefined) doc[field] = target;
  };
  if (c.type === "split") {
    doc.branches = c.branches.map((b, i) => {
      const branch: Record<string, unknown> = { weight: b.weight, label: b.label };
      const target = targetOf(edges, node.id, `b${i}`);
      if (target !== undefined) branch.next = target;
      return branch;
    });
  } else if (c.type === "wait_event" || c.type === "condition") {
    link("then", "then");
    link("else", "else");
  } else if (c.type !== "exit") {
    link("next", "next");
  }
  return doc;
}

type Doc = Record<string, any>;

function configOf(d: Doc): NodeConfig {
  switch (d.type) {
    case "send": return { type: "send", message_id: d.message_id ?? "", cascade: d.cascade ?? ["email"], category: d.category ?? "trigger" };
    case "cascade": return { type: "cascade", message_id: d.message_id ?? "", channels: d.channels ?? [], move_on: d.move_on ?? "not_delivered", within: d.within ?? { amount: 1, unit: "hours" }, category: d.category ?? "trigger", topic: d.topic ?? "" };
    case "wait": return { type: "wait", duration: d.duration };
    case "wait_until": return { type: "wait_until", at: d.at ?? "09:00", weekdays: d.weekdays ?? null, timezone: d.timezone ?? "contact" };
    case "wait_event": return { type: "wait_event", event: d.event, timeout: d.timeout };
    case "condition": return { type: "condition", if: d.if };
    case "split": return { type: "split", branches: d.branches.map((b: Doc) => ({ weight: b.weight, label: b.label ?? "" })) };
    case "update_contact": return { type: "update_contact", set: objectToPairs(d.set), unset: d.unset ?? [] };
    case "list": return { type: "list", action: d.action ?? "add", kind: d.kind ?? "list", name: d.name ?? "" };
    case "webhook": return { type: "webhook", url: d.url ?? "", method: d.method ?? "POST", headers: objectToPairs(d.headers), body: d.body === undefined || d.body === null ? "" : JSON.stringify(d.body, null, 2) };
    case "goal": return { type: "goal", name: d.name ?? "", event: d.event ?? "", where: d.where ?? [] };
    default: return { type: "exit" };
  }
}

function triggerOf(t: Doc): Trigger {
  if (t.type === "event") return { ...t, where: t.where ?? [] } as Trigger;
  return t as Trigger;
}

/** The canvas graph of a stored definition. */
export function fromDefinition(def: Definition): Graph {
  const edges: GraphEdge[] = [{ source: ENTRY_ID, handle: "start", target: def.start }];
  const nodes = def.nodes.map((n): GraphNode => {
    const d = n as Doc;
    const edge = (handle: string, target: unknown) => {
      if (typeof target === "string") edges.push({ source: n.id, handle, target });
    };
    if (d.type === "split") (d.branches as Doc[]).forEach((b, i) => edge(`b${i}`, b.next));
    else if (d.type === "wait_event" || d.type === "condition") {
      edge("then", d.then);
      edge("else", d.else);
    } else edge("next", d.next);
    return { id: n.id, config: configOf(d) };
  });
  const rule = { type: def.entry.rule?.type ?? "once", period: def.entry.rule?.period ?? null, max_concurrent: def.entry.rule?.max_concurrent ?? 1 };
  const goal: Goal | null = def.goal ? { name: def.goal.name ?? "", event: def.goal.event, where: def.goal.where ?? [] } : null;
  return { entry: { trigger: triggerOf(def.entry.trigger as Doc), rule }, nodes, edges, goal };
}

/** Problems only the browser can see: a webhook body that is not JSON (the API would take
 * the text as a JSON string), named at the node's `body` like the server's own errors. */
export function localErrors(graph: Graph): PathError[] {
  const out: PathError[] = [];
  graph.nodes.forEach((n, i) => {
    if (n.config.type !== "webhook" || !n.config.body.trim()) return;
    try {
      JSON.parse(n.config.body);
    } catch (err) {
      out.push({ path: `nodes[${i}].body`, reason: `not valid JSON: ${(err as Error).message}` });
    }
  });
  return out;
}
