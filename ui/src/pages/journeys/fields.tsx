// Small form controls the side panels share. A panel provides its node's validation errors
// (FieldErrors); each Field shows the ones whose path is its field or inside it.
import { createContext, useContext, useEffect, useState, type ReactNode } from "react";
import { OPS, UNITS, isUnder, type Duration, type Pairs, type PathError, type PropertyFilter, type Unit } from "./model";

export const FieldErrors = createContext<PathError[]>([]);

/** The errors under `field` (relative to the node: `within`, `trigger.cron`). */
export function useFieldErrors(field: string | undefined): PathError[] {
  const errors = useContext(FieldErrors);
  return field ? errors.filter((e) => isUnder(e.path, field)) : [];
}

export function FieldError({ field }: { field: string }) {
  const errors = useFieldErrors(field);
  if (!errors.length) return null;
  return (
    <div className="field-error" role="alert" data-testid="field-error" data-field={field}>
      {errors.map((e, i) => <div key={i}>{e.reason}</div>)}
    </div>
  );
}

/** A labelled control with the validation errors of its field under it. */
export function Field({ label, field, children }: { label: string; field?: string; children: ReactNode }) {
  const bad = useFieldErrors(field).length > 0;
  return (
    <div className={bad ? "field-wrap has-error" : "field-wrap"}>
      <label className="field"><span>{label}</span>{children}</label>
      {field && <FieldError field={field} />}
    </div>
  );
}

export function DurationField({ label, value, onChange, field, units = UNITS }: { label: string; value: Duration; onChange: (d: Duration) => void; field?: string; units?: Unit[] }) {
  return (
    <div className="field-wrap">
      <div className="field">
        <span>{label}</span>
        <div className="row-inline">
          <input type="number" min={0} aria-label={`${label} amount`} value={value.amount}
            onChange={(e) => onChange({ ...value, amount: Number(e.target.value) })} />
          <select aria-label={`${label} unit`} value={value.unit} onChange={(e) => onChange({ ...value, unit: e.target.value as Unit })}>
            {units.map((u) => <option key={u} value={u}>{u}</option>)}
          </select>
        </div>
      </div>
      {field && <FieldError field={field} />}
    </div>
  );
}

/** A typed value: JSON when it parses (numbers, true, ["a","b"]), else the text itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function showValue(value: unknown): string {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

export interface Option { id: string; name: string }

export function Picker({ label, value, options, onChange, empty, field }: {
  label: string; value: string; options: Option[] | null; onChange: (v: string) => void; empty: string; field?: string;
}) {
  const known = options?.some((o) => o.id === value);
  return (
    <Field label={label} field={field}>
      <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{options ? empty : "Loading…"}</option>
        {value && !known && <option value={value}>{value} (not found)</option>}
        {(options ?? []).map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
      </select>
    </Field>
  );
}

/** "contact" (each contact's own timezone, else the workspace's) or a fixed IANA name. */
export function TimezoneField({ value, onChange, field = "timezone" }: { value: string; onChange: (v: string) => void; field?: string }) {
  const own = value === "contact";
  // The IANA name being typed survives switching to "contact" and back.
  const [typed, setTyped] = useState(own ? "" : value);
  useEffect(() => {
    if (value !== "contact") setTyped(value);
  }, [value]);
  return (
    <Field label="Timezone" field={field}>
      <div className="row-inline">
        <select aria-label="Timezone kind" value={own ? "contact" : "fixed"} onChange={(e) => onChange(e.target.value === "contact" ? "contact" : typed || "Europe/Kyiv")}>
          <option value="contact">each contact's own</option>
          <option value="fixed">a fixed one</option>
        </select>
        {!own && <input aria-label="Timezone name" value={value} placeholder="Europe/Kyiv" onChange={(e) => onChange(e.target.value)} />}
      </div>
    </Field>
  );
}

/** Ordered key → value rows (traits to set, webhook headers). */
export function PairsField({ label, value, onChange, keyLabel, valueLabel, field }: {
  label: string; value: Pairs; onChange: (v: Pairs) => void; keyLabel: string; valueLabel: string; field?: string;
}) {
  const set = (i: number, k: string, v: string) => onChange(value.map((p, j) => (j === i ? [k, v] : p)));
  return (
    <div className="field-wrap">
      <div className="field"><span>{label}</span>
        {value.map(([k, v], i) => (
          <div key={i} className="row-inline">
            <input aria-label={`${keyLabel} ${i + 1}`} placeholder={keyLabel} value={k} onChange={(e) => set(i, e.target.value, v)} />
            <input aria-label={`${valueLabel} ${i + 1}`} placeholder={valueLabel} value={v} onChange={(e) => set(i, k, e.target.value)} />
            <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove ${keyLabel.toLowerCase()} ${i + 1}`}
              onClick={() => onChange(value.filter((_, j) => j !== i))}>×</button>
          </div>
        ))}
        <button type="button" className="btn btn-small" onClick={() => onChange([...value, ["", ""]])}>Add {keyLabel.toLowerCase()}</button>
      </div>
      {field && <FieldError field={field} />}
    </div>
  );
}

/** Property filters (event trigger, goals): property, operator, value. */
export function Filters({ value, onChange, label, field }: { value: PropertyFilter[]; onChange: (v: PropertyFilter[]) => void; label: string; field?: string }) {
  const set = (i: number, patch: Partial<PropertyFilter>) => onChange(value.map((f, j) => (j === i ? { ...f, ...patch } : f)));
  return (
    <div className="field-wrap">
      <div className="field"><span>{label}</span>
        {value.map((f, i) => (
          <div key={i} className="row-inline" data-testid="trigger-filter">
            <input aria-label={`Filter ${i + 1} property`} placeholder="total" value={f.property} onChange={(e) => set(i, { property: e.target.value })} />
            <select aria-label={`Filter ${i + 1} operator`} value={f.op} onChange={(e) => set(i, { op: e.target.value })}>
              {OPS.map((o) => <option key={o}>{o}</option>)}
            </select>
            {f.op !== "exists" && (
              <input aria-label={`Filter ${i + 1} value`} placeholder="50" value={showValue(f.value)} onChange={(e) => set(i, { value: parseValue(e.target.value) })} />
            )}
            <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove filter ${i + 1}`} onClick={() => onChange(value.filter((_, j) => j !== i))}>×</button>
          </div>
        ))}
        <button type="button" className="btn btn-small" onClick={() => onChange([...value, { property: "", op: "equals", value: "" }])}>Add a filter</button>
      </div>
      {field && <FieldError field={field} />}
    </div>
  );
}

/** Channels tried in order: move up, remove, add from what is left. */
export function ChannelOrder({ value, onChange, all, label, field }: { value: string[]; onChange: (v: string[]) => void; all: string[]; label: string; field?: string }) {
  const left = all.filter((ch) => !value.includes(ch));
  return (
    <div className="field-wrap">
      <div className="field"><span>{label}</span>
        <ol className="cascade" aria-label={label}>
          {value.map((ch, i) => (
            <li key={ch}>
              <span className="mono">{ch}</span>
              <button type="button" className="btn btn-ghost btn-small" aria-label={`Move ${ch} up`} disabled={i === 0}
                onClick={() => onChange([...value.slice(0, i - 1), ch, value[i - 1]!, ...value.slice(i + 1)])}>↑</button>
              <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove ${ch}`}
                onClick={() => onChange(value.filter((x) => x !== ch))}>×</button>
            </li>
          ))}
        </ol>
        {left.length > 0 && (
          <select aria-label="Add a channel" value="" onChange={(e) => e.target.value && onChange([...value, e.target.value])}>
            <option value="">Add a channel…</option>
            {left.map((ch) => <option key={ch} value={ch}>{ch}</option>)}
          </select>
        )}
      </div>
      {field && <FieldError field={field} />}
    </div>
  );
}
