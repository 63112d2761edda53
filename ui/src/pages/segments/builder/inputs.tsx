// Small typed inputs the condition editors are made of. Every value input accepts `@name`
// (a segment parameter) besides a literal.
import { createContext, useContext, useEffect, useId, useState } from "react";
import type { Fields } from "../types";
import { names } from "../types";
import {
  AMOUNT_VALUE, LIST_VALUE, NO_VALUE, OP_LABELS, UNITS, listText, parseList, parseScalar, scalarText,
} from "../model";

export interface BuilderEnv {
  fields: Fields | null;
  segments: { id: string; name: string }[];
  selfId: string | null;
}

export const BuilderContext = createContext<BuilderEnv>({ fields: null, segments: [], selfId: null });
export const useBuilder = () => useContext(BuilderContext);

/** Text input that keeps what the user typed while it is being edited (so "1," or "@" survive). */
export function TextValue({ value, onChange, parse, format, label, placeholder, type = "text", list }: {
  value: unknown;
  onChange: (v: unknown) => void;
  parse: (text: string) => unknown;
  format: (v: unknown) => string;
  label: string;
  placeholder?: string;
  type?: string;
  list?: string;
}) {
  const [text, setText] = useState(format(value));
  const [focused, setFocused] = useState(false);
  useEffect(() => {
    if (!focused) setText(format(value));
  }, [value, focused, format]);
  return (
    <input
      aria-label={label}
      placeholder={placeholder}
      type={type}
      list={list}
      value={text}
      onFocus={() => setFocused(true)}
      onBlur={() => setFocused(false)}
      onChange={(e) => {
        setText(e.target.value);
        onChange(parse(e.target.value));
      }}
    />
  );
}

export function Select({ value, options, onChange, label, labels, className }: {
  value: string;
  options: readonly string[];
  onChange: (v: string) => void;
  label: string;
  labels?: Record<string, string>;
  className?: string;
}) {
  const all = options.includes(value) || value === "" ? options : [value, ...options];
  return (
    <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)} className={className}>
      {value === "" && !options.includes("") && <option value="">— choose —</option>}
      {all.map((o) => <option key={o} value={o}>{labels?.[o] ?? o}</option>)}
    </select>
  );
}

/** A picker over known names that also takes a name not seen yet (datalist). */
export function NamePicker({ value, options, onChange, label, placeholder, hints }: {
  value: string;
  options: string[];
  onChange: (v: string) => void;
  label: string;
  placeholder?: string;
  /** A short note shown beside each option in the list (a field's type, an event's count). */
  hints?: Record<string, string>;
}) {
  const id = useId();
  return (
    <>
      <input aria-label={label} list={id} value={value} placeholder={placeholder ?? "choose or type"}
        onChange={(e) => onChange(e.target.value)} className="name-picker" />
      <datalist id={id}>
        {options.map((o) => <option key={o} value={o} label={hints?.[o]} />)}
      </datalist>
    </>
  );
}

export function OpSelect({ value, ops, onChange, label = "Operator" }: {
  value: string;
  ops: string[];
  onChange: (v: string) => void;
  label?: string;
}) {
  return <Select label={label} value={value} options={ops} labels={OP_LABELS} onChange={onChange} />;
}

/** The value input an operator needs: none, one, a list, two (between) or a relative span. */
export function ValueInput({ op, valueType, value, onChange, label = "Value", suggestions }: {
  op: string;
  valueType: string;
  value: unknown;
  onChange: (v: unknown) => void;
  label?: string;
  suggestions?: string[];
}) {
  const listId = useId(); // before any early return: hooks run in the same order every render
  if (NO_VALUE.has(op)) return null;
  const inputType = valueType === "date" ? "date" : "text";
  if (LIST_VALUE.has(op)) {
    return <TextValue label={label} value={value} placeholder="a, b, c" onChange={onChange}
      parse={(t) => parseList(t, valueType)} format={listText} />;
  }
  if (op === "between") {
    const pair = Array.isArray(value) ? value : [undefined, undefined];
    const set = (i: number, v: unknown) => onChange(i === 0 ? [v, pair[1]] : [pair[0], v]);
    return (
      <span className="pair">
        <TextValue label={`${label} from`} type={inputType} value={pair[0]} onChange={(v) => set(0, v)}
          parse={(t) => parseScalar(t, valueType)} format={scalarText} />
        <span className="muted">and</span>
        <TextValue label={`${label} to`} type={inputType} value={pair[1]} onChange={(v) => set(1, v)}
          parse={(t) => parseScalar(t, valueType)} format={scalarText} />
      </span>
    );
  }
  if (AMOUNT_VALUE.has(op)) {
    return <TextValue label={`${label} amount`} value={value} placeholder="7" onChange={onChange}
      parse={(t) => parseScalar(t, "number")} format={scalarText} />;
  }
  const id = suggestions?.length ? listId : undefined;
  const asDate = inputType === "date" && typeof value === "string" && value.startsWith("@") ? "text" : inputType;
  return (
    <>
      <TextValue label={label} type={asDate} value={value} onChange={onChange} list={id}
        parse={(t) => parseScalar(t, valueType)} format={scalarText} />
      {id && <datalist id={id}>{suggestions!.map((s) => <option key={s} value={s} />)}</datalist>}
    </>
  );
}

/** The unit of an amount operator ("in the last 7 days"), kept on the condition as `unit`. */
export function UnitSelect({ op, unit, onChange }: { op: string; unit: unknown; onChange: (u: string) => void }) {
  if (!AMOUNT_VALUE.has(op)) return null;
  return <Select label="Unit" value={typeof unit === "string" ? unit : "days"} options={UNITS} onChange={onChange} />;
}

/** Property names the fields endpoint knows for an event. */
export function eventProperties(fields: Fields | null, event: string): string[] {
  const found = fields?.events.find((e) => e.name === event);
  return names(found?.properties as (string | { name: string })[] | undefined);
}
