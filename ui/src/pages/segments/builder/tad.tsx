// TAD conditions: a Time window, an Aggregation compared to a value, and Details (filters).
// Used by event, order, purchase and message conditions.
import {
  AGG_FNS, COMPARE_OPS, ITEM_FIELDS, MESSAGE_STATUSES, MONTHS, ORDER_FIELDS, PURCHASE_PER, THIS_UNITS, UNITS, WHERE_OPS,
  WINDOW_KINDS, parseScalar, scalarText, withOp, type Cond, type Where, type Window,
} from "../model";
import { fmtNumber } from "../../../format";
import { names } from "../types";
import { NamePicker, OpSelect, Select, TextValue, ValueInput, eventProperties, useBuilder } from "./inputs";

type Change = (c: Cond) => void;

export function WindowPicker({ value, onChange }: { value: Window | undefined; onChange: (w: Window) => void }) {
  const w: Window = value ?? { kind: "ever" };
  const kind = (k: string) => {
    const fresh: Record<string, Window> = {
      ever: { kind: "ever" },
      last: { kind: "last", amount: 30, unit: "days" },
      between: { kind: "between", from: "", to: "" },
      calendar: { kind: "calendar", month: new Date().getMonth() + 1 },
      this: { kind: "this", unit: "week" },
      since_first_order: { kind: "since_first_order" },
    };
    onChange(fresh[k] ?? { kind: k });
  };
  return (
    <span className="window" data-testid="window">
      <Select label="Window" value={w.kind} options={WINDOW_KINDS.map((k) => k.kind)}
        labels={Object.fromEntries(WINDOW_KINDS.map((k) => [k.kind, k.label]))} onChange={kind} />
      {w.kind === "last" && (
        <>
          <TextValue label="Window amount" value={w.amount} onChange={(v) => onChange({ ...w, amount: v as number })}
            parse={(t) => parseScalar(t, "number")} format={scalarText} />
          <Select label="Window unit" value={w.unit ?? "days"} options={UNITS} onChange={(u) => onChange({ ...w, unit: u })} />
        </>
      )}
      {w.kind === "between" && (
        <>
          <input type="date" aria-label="Window from" value={w.from ?? ""} onChange={(e) => onChange({ ...w, from: e.target.value })} />
          <span className="muted">and</span>
          <input type="date" aria-label="Window to" value={w.to ?? ""} onChange={(e) => onChange({ ...w, to: e.target.value })} />
        </>
      )}
      {w.kind === "calendar" && (
        <>
          <select aria-label="Window month" value={w.month ?? 1} onChange={(e) => onChange({ ...w, month: Number(e.target.value) })}>
            {MONTHS.map((m, i) => <option key={m} value={i + 1}>{m}</option>)}
          </select>
          <input aria-label="Window year" placeholder="any year" className="short" value={w.year ?? ""}
            onChange={(e) => {
              const { year: _y, ...rest } = w;
              void _y;
              onChange(e.target.value ? { ...rest, year: Number(e.target.value) } : rest);
            }} />
        </>
      )}
      {w.kind === "this" && (
        <Select label="Window period" value={w.unit ?? "week"} options={THIS_UNITS} onChange={(u) => onChange({ ...w, unit: u })} />
      )}
    </span>
  );
}

interface Aggregate {
  fn: string;
  property?: string;
}

interface Compare {
  op: string;
  value?: unknown;
}

/** "count ≥ 3", "sum of total > 1000", "distinct count of product_id ≥ 2". */
export function AggregateCompare({ c, onChange, properties }: { c: Cond; onChange: Change; properties: string[] }) {
  const agg = (c.aggregate as Aggregate | undefined) ?? { fn: "count" };
  const cmp = (c.compare as Compare | undefined) ?? { op: "gte", value: 1 };
  const setAgg = (a: Aggregate) => onChange({ ...c, aggregate: a });
  return (
    <span className="aggregate" data-testid="aggregate">
      <Select label="Aggregation" value={agg.fn} options={AGG_FNS} onChange={(fn) =>
        setAgg(fn === "count" ? { fn } : { fn, property: agg.property ?? properties[0] ?? "" })} />
      {agg.fn !== "count" && (
        <NamePicker label="Aggregated property" value={agg.property ?? ""} options={properties}
          onChange={(p) => setAgg({ ...agg, property: p })} placeholder="property" />
      )}
      <OpSelect label="Comparison" value={cmp.op} ops={COMPARE_OPS} onChange={(op) =>
        onChange({ ...c, compare: { op, value: op === "between" ? [cmp.value, cmp.value] : Array.isArray(cmp.value) ? cmp.value[0] : cmp.value } })} />
      <ValueInput label="Compared value" op={cmp.op} valueType={agg.fn === "first" || agg.fn === "last" ? "text" : "number"}
        value={cmp.value} onChange={(v) => onChange({ ...c, compare: { ...cmp, value: v } })} />
    </span>
  );
}

/** Property filters ("Details"): each row property · operator · value. */
export function WhereList({ where, onChange, properties, label = "Where" }: {
  where: Where[];
  onChange: (w: Where[]) => void;
  properties: string[];
  label?: string;
}) {
  const set = (i: number, w: Where) => onChange(where.map((old, j) => (j === i ? w : old)));
  return (
    <div className="where" data-testid="where">
      {where.map((w, i) => (
        <div className="where-row" key={i}>
          <span className="muted small">{i === 0 ? label.toLowerCase() : "and"}</span>
          <NamePicker label="Property" value={w.property} options={properties} onChange={(p) => set(i, { ...w, property: p })} />
          <OpSelect label="Property operator" value={w.op} ops={WHERE_OPS} onChange={(op) => set(i, withOp(w, op))} />
          <ValueInput label="Property value" op={w.op} valueType={["gt", "gte", "lt", "lte"].includes(w.op) ? "number" : "text"}
            value={w.value} onChange={(v) => set(i, { ...w, value: v })} />
          <button type="button" className="btn btn-ghost btn-small" aria-label="Remove filter"
            onClick={() => onChange(where.filter((_, j) => j !== i))}>✕</button>
        </div>
      ))}
      <button type="button" className="btn btn-ghost btn-small" onClick={() => onChange([...where, { property: properties[0] ?? "", op: "equals", value: "" }])}>
        + filter
      </button>
    </div>
  );
}

function whereOf(c: Cond): Where[] {
  return Array.isArray(c.where) ? (c.where as Where[]) : [];
}

function TadTail({ c, onChange, properties }: { c: Cond; onChange: Change; properties: string[] }) {
  return (
    <>
      <WhereList where={whereOf(c)} properties={properties} onChange={(where) => onChange({ ...c, where })} />
      <div className="cond-line">
        <AggregateCompare c={c} onChange={onChange} properties={properties} />
        <WindowPicker value={c.window as Window | undefined} onChange={(window) => onChange({ ...c, window })} />
      </div>
    </>
  );
}

export function EventEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  const { fields } = useBuilder();
  const event = String(c.event ?? "");
  const props = eventProperties(fields, event);
  return (
    <>
      <div className="cond-line">
        <span className="muted">did</span>
        <NamePicker label="Event" value={event} options={(fields?.events ?? []).map((e) => e.name)}
          hints={Object.fromEntries((fields?.events ?? []).map((e) => [e.name, e.count === undefined ? "" : `${fmtNumber(e.count)} recent`]))}
          onChange={(name) => onChange({ ...c, event: name })} placeholder="event name" />
        <label className="check">
          <span>per</span>
          <NamePicker label="Per property" value={String(c.per ?? "")} options={props} placeholder="(none)"
            onChange={(p) => {
              const { per: _p, ...rest } = c;
              void _p;
              onChange(p ? { ...rest, type: c.type, per: p } : { ...rest, type: c.type });
            }} />
        </label>
      </div>
      <TadTail c={c} onChange={onChange} properties={props} />
      <UnlessEditor c={c} onChange={onChange} />
    </>
  );
}

/** "…and did not buy it": drop the `per` groups whose key also appears in other rows. */
function UnlessEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  const { fields } = useBuilder();
  const unless = c.unless as Cond | undefined;
  if (!unless) {
    return (
      <button type="button" className="btn btn-ghost btn-small" onClick={() => onChange({ ...c, unless: unlessOf("purchase", c) })}>
        + unless…
      </button>
    );
  }
  const source = String(unless.source ?? "event");
  const props = source === "purchase" ? ITEM_FIELDS : eventProperties(fields, String(unless.event ?? ""));
  const set = (patch: Record<string, unknown>) => onChange({ ...c, unless: { ...unless, ...patch } });
  return (
    <div className="unless" data-testid="unless">
      <div className="cond-line">
        <strong className="small">unless</strong>
        <Select label="Unless source" value={source} options={["event", "purchase"]}
          labels={{ event: "they did event", purchase: "they bought it" }} onChange={(t) => onChange({ ...c, unless: unlessOf(t, c) })} />
        {source === "event" && (
          <NamePicker label="Unless event" value={String(unless.event ?? "")}
            options={(fields?.events ?? []).map((e) => e.name)} onChange={(name) => set({ event: name })} />
        )}
        <span className="muted small">with the same</span>
        <NamePicker label="Unless key" value={String(unless.property ?? "")} options={props} placeholder="key property"
          onChange={(property) => set({ property })} />
        <WindowPicker value={unless.window as Window | undefined} onChange={(window) => set({ window })} />
        <button type="button" className="btn btn-ghost btn-small" onClick={() => {
          const { unless: _u, ...rest } = c;
          void _u;
          onChange({ ...rest, type: c.type });
        }}>remove unless</button>
      </div>
      <WhereList label="Where" where={whereOf(unless)} properties={props} onChange={(where) => set({ where })} />
      {!c.per && <p className="muted small">Set “per” above: unless compares that key.</p>}
    </div>
  );
}

function unlessOf(source: string, c: Cond): Record<string, unknown> {
  const key = source === "purchase" ? "sku" : String(c.per ?? "product_id");
  const base = source === "event" ? { source, event: "", property: key } : { source, property: key };
  return { ...base, where: [], window: { kind: "last", amount: 7, unit: "days" } };
}

export function OrderEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  return (
    <>
      <div className="cond-line"><span className="muted">placed orders</span></div>
      <TadTail c={c} onChange={onChange} properties={ORDER_FIELDS} />
    </>
  );
}

export function PurchaseEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  return (
    <>
      <div className="cond-line">
        <span className="muted">bought items</span>
        <label className="check">
          <span>per</span>
          <Select label="Per item field" value={String(c.per ?? "")} options={["", ...PURCHASE_PER]}
            labels={{ "": "(none)" }} onChange={(p) => {
              const next: Cond = { ...c };
              if (p) next.per = p;
              else delete next.per;
              onChange(next);
            }} />
        </label>
      </div>
      <TadTail c={c} onChange={onChange} properties={ITEM_FIELDS} />
      <UnlessEditor c={c} onChange={onChange} />
    </>
  );
}

const TARGETS = ["campaign_id", "message_id", "tag"] as const;

export function MessageEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  const { fields } = useBuilder();
  const target = TARGETS.find((t) => c[t] !== undefined) ?? "";
  const setTarget = (t: string) => {
    const next: Cond = { ...c };
    TARGETS.forEach((k) => delete next[k]);
    if (t) next[t] = "";
    onChange(next);
  };
  return (
    <>
      <div className="cond-line">
        <Select label="Message status" value={String(c.status ?? "opened")} options={MESSAGE_STATUSES}
          onChange={(status) => onChange({ ...c, status })} />
        <Select label="Channel" value={String(c.channel ?? "")} options={["", ...names(fields?.channels ?? ["email", "sms", "push"])]}
          labels={{ "": "any channel" }} onChange={(ch) => {
            const next: Cond = { ...c };
            if (ch) next.channel = ch;
            else delete next.channel;
            onChange(next);
          }} />
        <Select label="Message filter" value={target} options={["", ...TARGETS]}
          labels={{ "": "any message", campaign_id: "campaign", message_id: "message", tag: "tag" }} onChange={setTarget} />
        {target && (
          <TextValue label="Message filter value" value={c[target]} onChange={(v) => onChange({ ...c, [target]: v })}
            parse={(t) => t} format={scalarText} />
        )}
        <label className="check">
          <input type="checkbox" checked={Boolean(c.include_machine)} onChange={(e) => onChange({ ...c, include_machine: e.target.checked })} />
          <span>count machine opens</span>
        </label>
      </div>
      <div className="cond-line">
        <AggregateCompare c={c} onChange={onChange} properties={[]} />
        <WindowPicker value={c.window as Window | undefined} onChange={(window) => onChange({ ...c, window })} />
      </div>
    </>
  );
}

