// Small form controls the side panels share.
import { UNITS, type Duration, type Unit } from "./model";

export function DurationField({ label, value, onChange }: { label: string; value: Duration; onChange: (d: Duration) => void }) {
  return (
    <div className="field">
      <span>{label}</span>
      <div className="row-inline">
        <input type="number" min={0} aria-label={`${label} amount`} value={value.amount}
          onChange={(e) => onChange({ ...value, amount: Number(e.target.value) })} />
        <select aria-label={`${label} unit`} value={value.unit} onChange={(e) => onChange({ ...value, unit: e.target.value as Unit })}>
          {UNITS.map((u) => <option key={u} value={u}>{u}</option>)}
        </select>
      </div>
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

export function Picker({ label, value, options, onChange, empty }: {
  label: string; value: string; options: Option[] | null; onChange: (v: string) => void; empty: string;
}) {
  const known = options?.some((o) => o.id === value);
  return (
    <label className="field"><span>{label}</span>
      <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{options ? empty : "Loading…"}</option>
        {value && !known && <option value={value}>{value} (not found)</option>}
        {(options ?? []).map((o) => <option key={o.id} value={o.id}>{o.name}</option>)}
      </select>
    </label>
  );
}
