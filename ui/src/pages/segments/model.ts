// The segment definition language (docs/segments.md) as the builder edits it: plain JSON,
// changed immutably. Pure functions only; the editors live in builder/.

/** A condition: a group (all/any/not) or a leaf; leaves carry their own fields. */
export type Cond = { type: string } & Record<string, unknown>;

export interface ParamDecl {
  type: "number" | "text" | "date" | "boolean" | "list" | string;
  default?: unknown;
}

export interface Definition {
  version: 1;
  params?: Record<string, ParamDecl>;
  root: Cond;
}

export interface Window {
  kind: "ever" | "last" | "between" | "calendar" | "this" | "since_first_order" | string;
  amount?: number | string;
  unit?: string;
  from?: string;
  to?: string;
  month?: number;
  year?: number | null;
}

export interface Where {
  property: string;
  op: string;
  value?: unknown;
}

export const LEAF_TYPES: { type: string; label: string; hint: string }[] = [
  { type: "attribute", label: "Attribute", hint: "a profile field: city, email, birthday…" },
  { type: "event", label: "Event (TAD)", hint: "did something, how often, when" },
  { type: "order", label: "Orders", hint: "order count, total spent, average check" },
  { type: "purchase", label: "Bought items", hint: "product, category, brand, quantity" },
  { type: "message", label: "Message engagement", hint: "received, opened, clicked…" },
  { type: "consent", label: "Consent", hint: "subscribed / unsubscribed per channel" },
  { type: "trait", label: "Computed trait", hint: "orders, revenue, last order…" },
  { type: "rfm", label: "RFM cell", hint: "champions, at risk…" },
  { type: "segment", label: "Other segment", hint: "in / not in a saved segment" },
];

export const VALUE_TYPES = ["text", "number", "date", "boolean", "list"] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

const PRESENCE = ["exists", "not_exists"];
export const OPS_BY_TYPE: Record<ValueType, string[]> = {
  text: ["equals", "not_equals", "in", "not_in", "contains", "not_contains", "starts_with", "ends_with", ...PRESENCE],
  number: ["equals", "not_equals", "gt", "gte", "lt", "lte", "between", "in", "not_in", ...PRESENCE],
  date: ["before", "after", "between", "in_last", "in_next", "anniversary_in_next", "equals", "gt", "gte", "lt", "lte", ...PRESENCE],
  boolean: ["is_true", "is_false", ...PRESENCE],
  list: ["has_any", "has_all", "contains", "not_contains", "is_empty", ...PRESENCE],
};

export const OP_LABELS: Record<string, string> = {
  equals: "is", not_equals: "is not", in: "is one of", not_in: "is none of", contains: "contains",
  not_contains: "does not contain", starts_with: "starts with", ends_with: "ends with",
  exists: "is set", not_exists: "is not set", gt: ">", gte: "≥", lt: "<", lte: "≤",
  between: "between", before: "before", after: "after", in_last: "in the last", in_next: "in the next",
  anniversary_in_next: "anniversary in the next", is_true: "is true", is_false: "is false",
  has_any: "has any of", has_all: "has all of", is_empty: "is empty",
};

/** Operators that take no value. */
export const NO_VALUE = new Set(["exists", "not_exists", "is_true", "is_false", "is_empty"]);
/** Operators whose value is a list. */
export const LIST_VALUE = new Set(["in", "not_in", "has_any", "has_all"]);
/** Operators whose value is an amount of the condition's `unit` ("in the last 7 days"). */
export const AMOUNT_VALUE = new Set(["in_last", "in_next", "anniversary_in_next"]);

export const COMPARE_OPS = ["gte", "gt", "equals", "not_equals", "lte", "lt", "between"];
export const AGG_FNS = ["count", "sum", "avg", "min", "max", "count_distinct", "first", "last"];
export const WINDOW_KINDS: { kind: string; label: string }[] = [
  { kind: "ever", label: "ever" },
  { kind: "last", label: "in the last" },
  { kind: "between", label: "between dates" },
  { kind: "calendar", label: "in calendar month" },
  { kind: "this", label: "this" },
  { kind: "since_first_order", label: "since first order" },
];
export const UNITS = ["minutes", "hours", "days", "weeks", "months"];
export const THIS_UNITS = ["day", "week", "month", "year"];
export const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
  "September", "October", "November", "December"];
export const MESSAGE_STATUSES = ["sent", "delivered", "opened", "clicked", "bounced", "complained",
  "failed", "unsubscribed", "suppressed", "queued"];
export const CONSENT_STATUSES = ["subscribed", "unsubscribed", "pending"];
export const ORDER_FIELDS = ["status", "channel", "total", "revenue", "coupon", "currency", "store_id", "order_id"];
export const ITEM_FIELDS = ["sku", "category", "brand", "name", "quantity", "price", "status", "order_id",
  "returned_quantity", "revenue"];
export const PURCHASE_PER = ["sku", "category", "brand", "name"];
export const TRAITS = ["orders", "revenue", "average_order_value", "first_order_at", "last_order_at",
  "last_activity_at", "favourite_category"];
/** The named RFM cells, for when the fields endpoint does not list them. */
export const RFM_CELLS = ["champions", "loyal", "potential_loyalists", "new_customers", "promising",
  "need_attention", "about_to_sleep", "at_risk", "cannot_lose", "hibernating", "lost"];
export const WHERE_OPS = ["equals", "not_equals", "in", "not_in", "contains", "not_contains", "starts_with", "ends_with",
  "gt", "gte", "lt", "lte", "between", "before", "after", "is_true", "is_false", "exists", "not_exists"];

/** `c` with operator `op`, its value reshaped to fit: none, a list, a pair or one value. */
export function withOp<T extends object>(c: T, op: string): T {
  const next = { ...c, op } as Record<string, unknown>;
  const v = (c as Record<string, unknown>).value;
  if (NO_VALUE.has(op)) delete next.value;
  else if (LIST_VALUE.has(op)) next.value = Array.isArray(v) ? v : v === undefined || v === "" ? [] : [v];
  else if (op === "between") next.value = Array.isArray(v) && v.length === 2 ? v : [Array.isArray(v) ? v[0] : v ?? "", ""];
  else next.value = Array.isArray(v) ? v[0] ?? "" : v ?? "";
  return next as T;
}

/** A fresh condition of `type` with sensible defaults. */
export function newCondition(type: string): Cond {
  const window: Window = { kind: "last", amount: 30, unit: "days" };
  const atLeastOnce = { aggregate: { fn: "count" }, compare: { op: "gte", value: 1 } };
  switch (type) {
    case "all":
    case "any":
      return { type, conditions: [] };
    case "not":
      return { type, condition: newCondition("attribute") };
    case "attribute":
      return { type, field: "", value_type: "text", op: "equals", value: "" };
    case "event":
      return { type, event: "", where: [], window, ...atLeastOnce };
    case "order":
      return { type, where: [], window: { kind: "last", amount: 90, unit: "days" }, ...atLeastOnce };
    case "purchase":
      return { type, where: [], window: { kind: "last", amount: 90, unit: "days" }, ...atLeastOnce };
    case "message":
      return { type, status: "opened", channel: "email", window, ...atLeastOnce, include_machine: false };
    case "consent":
      return { type, channel: "email", topic: "*", status: "subscribed" };
    case "trait":
      return { type, trait: "orders", op: "gte", value: 1 };
    case "rfm":
      return { type, cells: [] };
    case "segment":
      return { type, segment_id: "", member: true };
    default:
      return { type };
  }
}

export function emptyDefinition(): Definition {
  return { version: 1, root: { type: "all", conditions: [newCondition("attribute")] } };
}

export function isGroup(c: Cond): boolean {
  return c.type === "all" || c.type === "any" || c.type === "not";
}

export function children(c: Cond): Cond[] {
  if (c.type === "not") return c.condition ? [c.condition as Cond] : [];
  return Array.isArray(c.conditions) ? (c.conditions as Cond[]) : [];
}

/** The path of a group's i-th child, in the server's error-path syntax.
 * >>> childPath("root", {type:"all"}, 1) === "root.conditions[1]" */
export function childPath(path: string, group: Cond, i: number): string {
  return group.type === "not" ? `${path}.condition` : `${path}.conditions[${i}]`;
}

/** Errors that belong to the condition at `path` itself (a group does not claim its children's). */
export function errorsAt<E extends { path: string }>(errors: E[], path: string, group: boolean): E[] {
  return errors.filter((e) => {
    if (e.path === path) return true;
    if (!e.path.startsWith(`${path}.`) && !e.path.startsWith(`${path}[`)) return false;
    if (!group) return true;
    const rest = e.path.slice(path.length);
    return !/^\.(conditions\[\d+\]|condition)(\.|\[|$)/.test(rest);
  });
}

/** Errors that no condition claims (params, name, the definition as a whole). */
export function errorsOutsideTree<E extends { path: string }>(errors: E[]): E[] {
  return errors.filter((e) => e.path !== "root" && !e.path.startsWith("root.") && !e.path.startsWith("root["));
}

/** Parameter names a definition uses: `{"param": "n"}` or the shorthand `"@n"` (not `"@@x"`). */
export function usedParams(value: unknown, out: Set<string> = new Set()): Set<string> {
  if (typeof value === "string") {
    const m = /^@([A-Za-z_][A-Za-z0-9_]*)$/.exec(value);
    if (m && m[1]) out.add(m[1]);
  } else if (Array.isArray(value)) {
    value.forEach((v) => usedParams(v, out));
  } else if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (typeof obj.param === "string" && Object.keys(obj).length === 1) out.add(obj.param);
    else Object.values(obj).forEach((v) => usedParams(v, out));
  }
  return out;
}

/** The definition with `params` declaring exactly the parameters its conditions use. */
export function syncParams(def: Definition): Definition {
  const used = [...usedParams(def.root)].sort();
  const old = def.params ?? {};
  if (!used.length) {
    const { params: _drop, ...rest } = def;
    void _drop;
    return rest;
  }
  const params: Record<string, ParamDecl> = {};
  for (const name of used) params[name] = old[name] ?? { type: "number" };
  return { ...def, params };
}

/** A user's typed text as a JSON value: `@n` stays a parameter, numbers become numbers. */
export function parseScalar(text: string, type: ValueType | string): unknown {
  const t = text.trim();
  if (t.startsWith("@")) return t;
  if (type === "number") {
    if (t === "") return "";
    const n = Number(t);
    return Number.isFinite(n) ? n : t;
  }
  return text;
}

export function scalarText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "object") {
    const p = (value as { param?: unknown }).param;
    return typeof p === "string" ? `@${p}` : JSON.stringify(value);
  }
  return String(value);
}

/** `a, b, c` → ["a","b","c"] (numbers when the type is number). */
export function parseList(text: string, type: ValueType | string): unknown {
  const t = text.trim();
  if (/^@[A-Za-z_]\w*$/.test(t)) return t;
  return t ? t.split(",").map((s) => parseScalar(s.trim(), type)).filter((v) => v !== "") : [];
}

export function listText(value: unknown): string {
  return Array.isArray(value) ? value.map(scalarText).join(", ") : scalarText(value);
}
