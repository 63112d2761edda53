// The side panel for the entry: the trigger (event with property filters, segment
// entered/exited, API) and the entry rule.
import { OPS, defaultTrigger, type Entry, type PathError, type PropertyFilter, type Trigger } from "./model";
import { DurationField, Picker, parseValue, showValue, type Option } from "./fields";
import type { Links } from "./NodePanel";

export function EntryPanel({ entry, onChange, links, segments, errors, readOnly }: {
  entry: Entry; onChange: (e: Entry) => void; links: Links; segments: Option[] | null; errors: PathError[]; readOnly: boolean;
}) {
  const t = entry.trigger;
  const rule = entry.rule;
  const setTrigger = (trigger: Trigger) => onChange({ ...entry, trigger });
  return (
    <div className="jpanel" data-testid="entry-panel">
      <h3>Entry</h3>
      {errors.map((e, i) => <p key={i} className="field-error">{e.path}: {e.reason}</p>)}
      <fieldset disabled={readOnly} className="plain">
        <label className="field"><span>Trigger</span>
          <select value={t.type} onChange={(e) => setTrigger(defaultTrigger(e.target.value as Trigger["type"]))}>
            <option value="event">an event</option>
            <option value="segment">a segment entry or exit</option>
            <option value="api">the API</option>
          </select>
        </label>
        {t.type === "event" && (
          <>
            <label className="field"><span>Event name</span>
              <input value={t.event} placeholder="Checkout Started" onChange={(e) => setTrigger({ ...t, event: e.target.value })} />
            </label>
            <Filters value={t.where} onChange={(where) => setTrigger({ ...t, where })} />
          </>
        )}
        {t.type === "segment" && (
          <>
            <Picker label="Segment" value={t.segment_id} options={segments} empty="Choose a segment" onChange={(v) => setTrigger({ ...t, segment_id: v })} />
            <label className="field"><span>When a contact</span>
              <select value={t.on} onChange={(e) => setTrigger({ ...t, on: e.target.value as "entered" | "exited" })}>
                <option value="entered">enters it</option><option value="exited">leaves it</option>
              </select>
            </label>
          </>
        )}
        {t.type === "api" && <p className="muted small">Runs start with <code>POST /api/v1/journeys/&#123;id&#125;/runs</code>.</p>}
        <label className="field"><span>Entry rule</span>
          <select value={rule.type} onChange={(e) => onChange({ ...entry, rule: { ...rule, type: e.target.value as typeof rule.type, period: rule.period ?? { amount: 7, unit: "days" } } })}>
            <option value="once">once per contact, ever</option>
            <option value="once_per">once per period</option>
            <option value="every_time">every time</option>
          </select>
        </label>
        {rule.type === "once_per" && (
          <DurationField label="Period" value={rule.period ?? { amount: 7, unit: "days" }} onChange={(period) => onChange({ ...entry, rule: { ...rule, period } })} />
        )}
        <label className="field"><span>At most this many runs at once</span>
          <input type="number" min={1} max={100} value={rule.max_concurrent}
            onChange={(e) => onChange({ ...entry, rule: { ...rule, max_concurrent: Number(e.target.value) } })} />
        </label>
        <label className="field"><span>First step</span>
          <select value={links.targets.start ?? ""} onChange={(e) => links.link("start", e.target.value || null)}>
            <option value="">— not connected —</option>
            {links.choices.map((c) => <option key={c} value={c}>{c}</option>)}
          </select>
        </label>
      </fieldset>
    </div>
  );
}

function Filters({ value, onChange }: { value: PropertyFilter[]; onChange: (v: PropertyFilter[]) => void }) {
  const set = (i: number, patch: Partial<PropertyFilter>) => onChange(value.map((f, j) => (j === i ? { ...f, ...patch } : f)));
  return (
    <div className="field"><span>Only when the event's properties match</span>
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
  );
}
