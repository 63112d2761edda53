// The journey language as the canvas edits it (docs/journeys.md). Pure functions only:
// node and trigger types, default configs, handles, error ownership by path and an
// automatic top-down layout. definition ⇄ graph lives in document.ts.

export type NodeType =
  | "send" | "cascade" | "wait" | "wait_until" | "wait_event" | "condition" | "split"
  | "update_contact" | "list" | "webhook" | "goal" | "exit";
export type Unit = "minutes" | "hours" | "days" | "weeks";
export interface Duration { amount: number; unit: Unit }
export interface PropertyFilter { property: string; op: string; value?: unknown }
export type Category = "transactional" | "trigger" | "promo";
export type MessageStatus = "delivered" | "opened" | "clicked" | "failed" | "bounced";

export type Trigger =
  | { type: "event"; event: string; where: PropertyFilter[] }
  | { type: "segment"; segment_id: string; on: "entered" | "exited" }
  | { type: "api" }
  | { type: "schedule"; cron: string; timezone: string; segment_id: string }
  | { type: "date"; attribute: string; offset: Duration; direction: "before" | "after"; at: string; timezone: string; yearly: boolean }
  | { type: "subscription"; channel: string; topic: string | null; on: "subscribed" | "unsubscribed" }
  | { type: "list"; kind: "list" | "tag"; name: string; on: "joined" | "left" }
  | { type: "message"; on: MessageStatus; message_id: string | null; campaign_id: string | null; journey_id: string | null; channel: string | null }
  | { type: "goal"; journey_id: string; goal?: string | null };
export type TriggerType = Trigger["type"];

export interface EntryRule {
  type: "once" | "once_per" | "every_time";
  period?: Duration | null;
  max_concurrent: number;
}

export type Predicate =
  | { kind: "event_happened"; event: string; since: "entry" | "ever" }
  | { kind: "attribute"; attribute: string; op: string; value?: unknown }
  | { kind: "segment"; segment_id: string }
  | { kind: "message"; node: string; status: "delivered" | "opened" | "clicked" };

/** Ordered key/value rows (an object being edited keeps its empty and duplicate rows). */
export type Pairs = [string, string][];

/** A node's own settings, without its edges (those live on the canvas as edges). */
export type NodeConfig =
  | { type: "send"; message_id: string; cascade: string[]; category: Category }
  | { type: "cascade"; message_id: string; channels: string[]; move_on: "not_delivered" | "not_opened"; within: Duration; category: Category; topic: string }
  | { type: "wait"; duration: Duration }
  | { type: "wait_until"; at: string; weekdays: number[] | null; timezone: string }
  | { type: "wait_event"; event: string; timeout: Duration }
  | { type: "condition"; if: Predicate }
  | { type: "split"; branches: { weight: number; label: string }[] }
  | { type: "update_contact"; set: Pairs; unset: string[] }
  | { type: "list"; action: "add" | "remove"; kind: "list" | "tag"; name: string }
  | { type: "webhook"; url: string; method: string; headers: Pairs; body: string }
  | { type: "goal"; name: string; event: string; where: PropertyFilter[] }
  | { type: "exit" };

/** The journey-level goal: the event that, while a run is active, ends it as converted. */
export interface Goal { name: string; event: string; where: PropertyFilter[] }
export interface Entry { trigger: Trigger; rule: EntryRule }

/** A node as the API stores it. */
export type DefNode = { id: string; type: NodeType } & Record<string, unknown>;
export interface Definition { name: string; entry: Entry; start: string; nodes: DefNode[]; goal?: Goal | null }

export interface GraphNode { id: string; config: NodeConfig }
export interface GraphEdge { source: string; handle: string; target: string }
export interface Graph { entry: Entry | null; nodes: GraphNode[]; edges: GraphEdge[]; goal?: Goal | null }

export const ENTRY_ID = "entry";
export const OPS = ["equals", "not_equals", "gt", "gte", "lt", "lte", "exists", "contains", "in"];
export const UNITS: Unit[] = ["minutes", "hours", "days", "weeks"];
export const CHANNELS = ["email", "sms", "push", "viber", "inapp", "webhook"];
export const CASCADE_CHANNELS = ["push", "email", "viber", "sms", "inapp"];
export const MESSAGE_STATUSES: MessageStatus[] = ["delivered", "opened", "clicked", "failed", "bounced"];
/** Weekday numbers as the journey language counts them: 0 = Monday … 6 = Sunday. */
export const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export const NODE_LABEL: Record<NodeType, string> = {
  send: "Send",
  cascade: "Channel cascade",
  wait: "Wait",
  wait_until: "Wait until",
  wait_event: "Wait for event",
  condition: "Condition",
  split: "Split",
  update_contact: "Update contact",
  list: "List / tag",
  webhook: "Webhook",
  goal: "Goal",
  exit: "Exit",
};

export const TRIGGER_LABEL: Record<TriggerType, string> = {
  event: "Event",
  segment: "Segment entry / exit",
  api: "API call",
  schedule: "Schedule",
  date: "Date attribute",
  subscription: "Subscription",
  list: "List / tag",
  message: "Message event",
  goal: "Goal reached",
};

export const PREDICATE_LABEL: Record<Predicate["kind"], string> = {
  event_happened: "an event happened",
  attribute: "an attribute compares",
  segment: "in a segment",
  message: "a previous message was delivered / opened / clicked",
};

/** Statuses a message-status condition can ask about. */
export const PREDICATE_MESSAGE_STATUSES = ["delivered", "opened", "clicked"];

export function defaultConfig(type: NodeType): NodeConfig {
  switch (type) {
    case "send": return { type, message_id: "", cascade: ["email"], category: "trigger" };
    case "cascade": return { type, message_id: "", channels: ["push", "email"], move_on: "not_delivered", within: { amount: 1, unit: "hours" }, category: "trigger", topic: "" };
    case "wait": return { type, duration: { amount: 1, unit: "hours" } };
    case "wait_until": return { type, at: "09:00", weekdays: null, timezone: "contact" };
    case "wait_event": return { type, event: "", timeout: { amount: 1, unit: "days" } };
    case "condition": return { type, if: { kind: "event_happened", event: "", since: "entry" } };
    case "split": return { type, branches: [{ weight: 50, label: "A" }, { weight: 50, label: "B" }] };
    case "update_contact": return { type, set: [["", ""]], unset: [] };
    case "list": return { type, action: "add", kind: "list", name: "" };
    case "webhook": return { type, url: "", method: "POST", headers: [], body: "" };
    case "goal": return { type, name: "", event: "", where: [] };
    case "exit": return { type };
  }
}

export function defaultTrigger(type: TriggerType): Trigger {
  switch (type) {
    case "event": return { type, event: "", where: [] };
    case "segment": return { type, segment_id: "", on: "entered" };
    case "api": return { type };
    case "schedule": return { type, cron: "0 9 * * 1", timezone: "contact", segment_id: "" };
    case "date": return { type, attribute: "birthday", offset: { amount: 0, unit: "days" }, direction: "before", at: "09:00", timezone: "contact", yearly: true };
    case "subscription": return { type, channel: "email", topic: null, on: "subscribed" };
    case "list": return { type, kind: "list", name: "", on: "joined" };
    case "message": return { type, on: "opened", message_id: null, campaign_id: null, journey_id: null, channel: null };
    case "goal": return { type, journey_id: "" };
  }
}

export function defaultEntry(type: TriggerType = "event"): Entry {
  return { trigger: defaultTrigger(type), rule: { type: "once", max_concurrent: 1 } };
}

/** The outgoing handles of a node: the fields its edges fill.
 * >>> handlesOf({type: "condition", ...}) → ["then", "else"] */
export function handlesOf(config: NodeConfig): string[] {
  switch (config.type) {
    case "wait_event":
    case "condition": return ["then", "else"];
    case "split": return config.branches.map((_, i) => `b${i}`);
    case "exit": return [];
    default: return ["next"];
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

export interface PathError { path: string; reason: string }

/** Which canvas node an error path belongs to: `nodes[1].next` → the second node,
 * `entry.*` and `start` → the entry; anything else (`name`, `$`) → null (shown above). */
export function ownerOf(path: string, nodeIds: string[]): string | null {
  const m = /^nodes\[(\d+)\]/.exec(path);
  if (m) return nodeIds[Number(m[1])] ?? null;
  if (path === "start" || path.startsWith("entry") || path.startsWith("goal")) return ENTRY_ID;
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

/** The path inside its node: `nodes[2].within.amount` → `within.amount`, `entry.trigger.cron`
 * → `trigger.cron`, `goal.event` → `goal.event`. */
export function relativePath(path: string): string {
  return path.replace(/^nodes\[\d+\]\.?/, "").replace(/^entry\.?/, "");
}

/** Whether an error at `path` is about `field` or something inside it.
 * >>> isUnder("nodes[0].within.amount", "within") → true; isUnder("nodes[0].url", "u") → false */
export function isUnder(path: string, field: string): boolean {
  const rel = relativePath(path);
  return rel === field || rel.startsWith(`${field}.`) || rel.startsWith(`${field}[`);
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
      pos[id] = { x: (i - (ids.length - 1) / 2) * 260, y: Number(d) * 170 };
    });
  }
  return pos;
}
