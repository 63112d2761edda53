// The policy's priority, pre-emption and preference-centre settings (docs/policy.md):
// priority levels by category with per campaign/journey overrides, whether a queued higher-
// priority message reserves its slot under a cap, and what each contact's own frequency
// choice (weekly / monthly) means.
import type { ReactNode } from "react";
import { Section } from "../../components/ui";

type Category = "transactional" | "trigger" | "promo";
type Unit = "minutes" | "hours" | "days" | "weeks";
interface Period { amount: number; unit: Unit }
export interface Priorities { transactional: number; trigger: number; promo: number; overrides: Record<string, number> }
export interface Preemption { enabled: boolean; horizon: Period; action: "rule" | "defer" | "drop" }
interface FrequencyCap { max: number; per: Period; window: "rolling" | "day" | "week" }
export interface Preferences {
  enabled: boolean; channels: string[]; categories: Category[]; action: "defer" | "drop";
  frequencies: Record<string, FrequencyCap>;
}

const LEVELS: Category[] = ["transactional", "trigger", "promo"];
const UNITS: Unit[] = ["minutes", "hours", "days", "weeks"];

function PeriodInputs({ label, value, onChange }: { label: string; value: Period; onChange: (p: Period) => void }) {
  return (
    <>
      <label className="field"><span>{label}</span>
        <input aria-label={`${label} amount`} type="number" value={value.amount} onChange={(e) => onChange({ ...value, amount: Number(e.target.value) })} />
      </label>
      <label className="field"><span>&nbsp;</span>
        <select aria-label={`${label} unit`} value={value.unit} onChange={(e) => onChange({ ...value, unit: e.target.value as Unit })}>
          {UNITS.map((u) => <option key={u}>{u}</option>)}
        </select>
      </label>
    </>
  );
}

export function PrioritySection({ value, onChange, error }: { value: Priorities; onChange: (p: Priorities) => void; error: ReactNode }) {
  const overrides = Object.entries(value.overrides);
  const setOverrides = (rows: [string, number][]) => onChange({ ...value, overrides: Object.fromEntries(rows) });
  return (
    <Section title="Priorities" testId="policy-priorities">
      <p className="muted small">When caps leave fewer slots than messages, the higher priority goes first.</p>
      <div className="policy-row">
        {LEVELS.map((c) => (
          <label key={c} className="field"><span>{c}</span>
            <input aria-label={`Priority ${c}`} type="number" min={0} max={1000} value={value[c]} onChange={(e) => onChange({ ...value, [c]: Number(e.target.value) })} />
          </label>
        ))}
      </div>
      <div className="field"><span>Overrides for one campaign or journey</span>
        {overrides.map(([id, level], i) => (
          <div key={i} className="policy-row" data-testid="priority-override">
            <input aria-label={`Override ${i + 1} id`} placeholder="cmp_… or jny_…" value={id}
              onChange={(e) => setOverrides(overrides.map((o, j) => (j === i ? [e.target.value, o[1]] : o)))} />
            <input aria-label={`Override ${i + 1} priority`} type="number" min={0} max={1000} value={level}
              onChange={(e) => setOverrides(overrides.map((o, j) => (j === i ? [o[0], Number(e.target.value)] : o)))} />
            <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove override ${i + 1}`} onClick={() => setOverrides(overrides.filter((_, j) => j !== i))}>×</button>
          </div>
        ))}
        <button type="button" className="btn btn-small" disabled={overrides.some(([id]) => id === "")} onClick={() => setOverrides([...overrides, ["", 250]])}>Add an override</button>
      </div>
      {error}
    </Section>
  );
}

export function PreemptionSection({ value, onChange, error }: { value: Preemption; onChange: (p: Preemption) => void; error: ReactNode }) {
  return (
    <Section title="Pre-emption" testId="policy-preemption">
      <label className="small"><input type="checkbox" aria-label="Pre-emption on" checked={value.enabled} onChange={(e) => onChange({ ...value, enabled: e.target.checked })} /> A queued higher-priority message reserves its slot under a cap; a lower-priority one that would take it yields</label>
      {value.enabled && (
        <div className="policy-row">
          <PeriodInputs label="Due within" value={value.horizon} onChange={(horizon) => onChange({ ...value, horizon })} />
          <label className="field"><span>The lower one is</span>
            <select aria-label="Pre-empted action" value={value.action} onChange={(e) => onChange({ ...value, action: e.target.value as Preemption["action"] })}>
              <option value="rule">handled as the cap says</option><option value="defer">deferred</option><option value="drop">dropped</option>
            </select>
          </label>
        </div>
      )}
      {error}
    </Section>
  );
}

export function PreferencesSection({ value, onChange, error, channels }: { value: Preferences; onChange: (p: Preferences) => void; error: ReactNode; channels: string[] }) {
  const toggle = <T extends string>(list: T[], item: T, on: boolean): T[] => (on ? [...list, item] : list.filter((x) => x !== item));
  return (
    <Section title="Contact's own frequency" testId="policy-preferences">
      <label className="small"><input type="checkbox" aria-label="Preferences on" checked={value.enabled} onChange={(e) => onChange({ ...value, enabled: e.target.checked })} /> Enforce the frequency each contact chose in the preference centre</label>
      {value.enabled && (
        <>
          <div className="policy-row">
            <div className="field"><span>Channels</span>
              <div className="row-inline">{channels.map((ch) => (
                <label key={ch} className="small"><input type="checkbox" checked={value.channels.includes(ch)} onChange={(e) => onChange({ ...value, channels: toggle(value.channels, ch, e.target.checked) })} /> {ch}</label>
              ))}</div>
            </div>
            <div className="field"><span>Categories</span>
              <div className="row-inline">{LEVELS.map((c) => (
                <label key={c} className="small"><input type="checkbox" checked={value.categories.includes(c)} onChange={(e) => onChange({ ...value, categories: toggle(value.categories, c, e.target.checked) })} /> {c}</label>
              ))}</div>
            </div>
            <label className="field"><span>Over it</span>
              <select aria-label="Preference action" value={value.action} onChange={(e) => onChange({ ...value, action: e.target.value as Preferences["action"] })}>
                <option value="defer">defer</option><option value="drop">drop</option>
              </select>
            </label>
          </div>
          {Object.entries(value.frequencies).map(([name, f]) => (
            <div key={name} className="policy-row" data-testid={`frequency-${name}`}>
              <strong className="small">“{name}” means at most</strong>
              <label className="field"><span>max</span>
                <input aria-label={`${name} max`} type="number" min={0} value={f.max} onChange={(e) => onChange({ ...value, frequencies: { ...value.frequencies, [name]: { ...f, max: Number(e.target.value) } } })} />
              </label>
              <PeriodInputs label={`${name} per`} value={f.per} onChange={(per) => onChange({ ...value, frequencies: { ...value.frequencies, [name]: { ...f, per } } })} />
            </div>
          ))}
        </>
      )}
      {error}
    </Section>
  );
}
