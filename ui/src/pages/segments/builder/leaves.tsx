// Condition editors without a time window: attribute, consent, trait, RFM cell, segment reference.
import { CONSENT_STATUSES, OPS_BY_TYPE, RFM_CELLS, TRAITS, VALUE_TYPES, withOp, type Cond, type ValueType } from "../model";
import { humanize } from "../../../format";
import { names } from "../types";
import { NamePicker, OpSelect, Select, UnitSelect, ValueInput, useBuilder } from "./inputs";

type Change = (c: Cond) => void;

const FIELD_TYPES: Record<string, ValueType> = {
  string: "text", text: "text", varchar: "text", number: "number", integer: "number", int: "number",
  float: "number", double: "number", decimal: "number", date: "date", datetime: "date", timestamp: "date",
  boolean: "boolean", bool: "boolean", list: "list", array: "list",
};

/** The builder's value type for a type name the fields endpoint reports. */
export function valueTypeOf(type: string | undefined): ValueType {
  return FIELD_TYPES[(type ?? "").toLowerCase()] ?? "text";
}

/** Keeps the operator valid for the value type; clears a value that no longer fits. */
function retype(c: Cond, vt: ValueType): Cond {
  const ops = OPS_BY_TYPE[vt];
  const op = ops.includes(String(c.op)) ? String(c.op) : ops[0]!;
  return withOp({ ...c, value_type: vt, value: op === c.op ? c.value : "" }, op);
}

export function AttributeEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  const { fields } = useBuilder();
  const attrs = fields?.attributes ?? [];
  const vt = (VALUE_TYPES as readonly string[]).includes(String(c.value_type)) ? (c.value_type as ValueType) : "text";
  const pickField = (name: string) => {
    const known = attrs.find((a) => a.name === name);
    onChange(known ? retype({ ...c, field: name }, valueTypeOf(known.type)) : { ...c, field: name });
  };
  return (
    <div className="cond-line">
      <NamePicker label="Field" value={String(c.field ?? "")} options={attrs.map((a) => a.name)} onChange={pickField} placeholder="field"
        hints={Object.fromEntries(attrs.map((a) => [a.name, a.type]))} />
      <Select label="Value type" value={vt} options={VALUE_TYPES} onChange={(t) => onChange(retype(c, t as ValueType))} className="subtle" />
      <OpSelect value={String(c.op)} ops={OPS_BY_TYPE[vt]} onChange={(op) => onChange(withOp(c, op))} />
      <ValueInput op={String(c.op)} valueType={vt} value={c.value} onChange={(value) => onChange({ ...c, value })} />
      <UnitSelect op={String(c.op)} unit={c.unit} onChange={(unit) => onChange({ ...c, unit })} />
    </div>
  );
}

export function ConsentEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  const { fields } = useBuilder();
  const channels = names(fields?.channels ?? []);
  return (
    <div className="cond-line">
      <span className="muted">is</span>
      <Select label="Consent status" value={String(c.status ?? "subscribed")} options={CONSENT_STATUSES}
        onChange={(status) => onChange({ ...c, status })} />
      <span className="muted">on</span>
      <Select label="Consent channel" value={String(c.channel ?? "email")} options={channels.length ? channels : ["email", "sms", "push"]}
        onChange={(channel) => onChange({ ...c, channel })} />
      <span className="muted">topic</span>
      <NamePicker label="Consent topic" value={String(c.topic ?? "*")} options={["*"]} placeholder="* = any"
        onChange={(topic) => onChange({ ...c, topic })} />
    </div>
  );
}


function traitType(trait: string): ValueType {
  if (trait.endsWith("_at")) return "date";
  if (trait === "favourite_category") return "text";
  return "number";
}

export function TraitEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  const { fields } = useBuilder();
  const known = names(fields?.traits as (string | { name: string })[] | undefined);
  const trait = String(c.trait ?? "orders");
  const vt = traitType(trait);
  return (
    <div className="cond-line">
      <Select label="Trait" value={trait} options={known.length ? known : TRAITS} labels={Object.fromEntries(TRAITS.map((t) => [t, humanize(t)]))} onChange={(t) => {
        const ops = OPS_BY_TYPE[traitType(t)];
        onChange(withOp({ ...c, trait: t, value: "" }, ops.includes(String(c.op)) ? String(c.op) : ops[0]!));
      }} />
      <OpSelect value={String(c.op)} ops={OPS_BY_TYPE[vt]} onChange={(op) => onChange(withOp(c, op))} />
      <ValueInput op={String(c.op)} valueType={vt} value={c.value} onChange={(value) => onChange({ ...c, value })} />
      <UnitSelect op={String(c.op)} unit={c.unit} onChange={(unit) => onChange({ ...c, unit })} />
    </div>
  );
}

function ScoreRange({ label, value, onChange }: { label: string; value: unknown; onChange: (v: number[] | undefined) => void }) {
  const pair = Array.isArray(value) ? (value as number[]) : null;
  const score = (i: number, v: string) => {
    const next = [...(pair ?? [1, 5])];
    next[i] = Number(v);
    onChange(next);
  };
  return (
    <span className="pair">
      <label className="check">
        <input type="checkbox" checked={!!pair} aria-label={`Use ${label} score`} onChange={(e) => onChange(e.target.checked ? [1, 5] : undefined)} />
        <span>{label}</span>
      </label>
      {pair && [0, 1].map((i) => (
        <select key={i} aria-label={`${label} score ${i ? "to" : "from"}`} value={pair[i] ?? 1} onChange={(e) => score(i, e.target.value)}>
          {[1, 2, 3, 4, 5].map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
      ))}
    </span>
  );
}

export function RfmEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  const { fields } = useBuilder();
  const options = fields?.rfm_cells?.length ? names(fields.rfm_cells) : RFM_CELLS;
  const cells = Array.isArray(c.cells) ? (c.cells as string[]) : null;
  const byScore = !cells;
  const toggle = (name: string) => {
    const now = cells ?? [];
    onChange({ ...c, cells: now.includes(name) ? now.filter((x) => x !== name) : [...now, name] });
  };
  const setScore = (key: "r" | "f" | "m", v: number[] | undefined) => {
    const next: Cond = { ...c };
    if (v) next[key] = v;
    else delete next[key];
    onChange(next);
  };
  return (
    <div className="cond-line">
      <Select label="RFM by" value={byScore ? "scores" : "cells"} options={["cells", "scores"]}
        labels={{ cells: "named cells", scores: "score ranges" }}
        onChange={(v) => onChange(v === "cells" ? { type: "rfm", cells: [] } : { type: "rfm", r: [4, 5], f: [1, 5] })} />
      {cells ? (
        <span className="chips" role="group" aria-label="RFM cells">
          {options.map((name) => (
            <label key={name} className={cells.includes(name) ? "chip on" : "chip"}>
              <input type="checkbox" checked={cells.includes(name)} onChange={() => toggle(name)} />
              {name.replace(/_/g, " ")}
            </label>
          ))}
        </span>
      ) : (
        <>
          <ScoreRange label="R" value={c.r} onChange={(v) => setScore("r", v)} />
          <ScoreRange label="F" value={c.f} onChange={(v) => setScore("f", v)} />
          <ScoreRange label="M" value={c.m} onChange={(v) => setScore("m", v)} />
        </>
      )}
    </div>
  );
}

export function SegmentRefEditor({ c, onChange }: { c: Cond; onChange: Change }) {
  const { segments, selfId } = useBuilder();
  const others = segments.filter((s) => s.id !== selfId);
  const id = String(c.segment_id ?? "");
  return (
    <div className="cond-line">
      <select aria-label="Membership" value={c.member === false ? "exclude" : "include"}
        onChange={(e) => onChange({ ...c, member: e.target.value === "include" })}>
        <option value="include">is in</option>
        <option value="exclude">is not in</option>
      </select>
      <select aria-label="Segment" value={id} onChange={(e) => onChange({ ...c, segment_id: e.target.value })}>
        <option value="">— choose a segment —</option>
        {id && !others.some((s) => s.id === id) && <option value={id}>{id}</option>}
        {others.map((s) => <option key={s.id} value={s.id}>{s.name}</option>)}
      </select>
    </div>
  );
}
