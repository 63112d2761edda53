// The side panel for the entry: the trigger (see TriggerSettings), the entry rule, the first
// step and the journey's conversion goal.
import { TRIGGER_LABEL, defaultTrigger, isUnder, type Entry, type Goal, type PathError, type Trigger, type TriggerType } from "./model";
import { DurationField, Field, FieldErrors, Filters } from "./fields";
import type { Links, PanelOptions } from "./NodePanel";
import { TriggerSettings } from "./TriggerSettings";

const TRIGGER_TYPES = Object.keys(TRIGGER_LABEL) as TriggerType[];
const CLAIMED = ["trigger", "rule", "start", "goal"];

export function EntryPanel({ entry, onChange, goal, onGoal, links, options, errors, readOnly }: {
  entry: Entry; onChange: (e: Entry) => void; goal: Goal | null; onGoal: (g: Goal | null) => void;
  links: Links; options: PanelOptions; errors: PathError[]; readOnly: boolean;
}) {
  const t = entry.trigger;
  const rule = entry.rule;
  const setTrigger = (trigger: Trigger) => onChange({ ...entry, trigger });
  const unplaced = errors.filter((e) => !CLAIMED.some((f) => isUnder(e.path, f)) && e.path !== "entry");
  const whole = errors.filter((e) => e.path === "entry" || e.path === "entry.trigger");
  return (
    <div className="jpanel" data-testid="entry-panel">
      <h3>Entry</h3>
      {[...unplaced, ...whole].map((e, i) => <p key={i} className="field-error" role="alert">{e.path}: {e.reason}</p>)}
      <FieldErrors.Provider value={errors}>
        <fieldset disabled={readOnly} className="plain">
          <Field label="Trigger" field="trigger.type">
            <select aria-label="Trigger" value={t.type} onChange={(e) => setTrigger(defaultTrigger(e.target.value as TriggerType))}>
              {TRIGGER_TYPES.map((type) => <option key={type} value={type}>{TRIGGER_LABEL[type].toLowerCase()}</option>)}
            </select>
          </Field>
          <TriggerSettings trigger={t} onChange={setTrigger} options={options} />
          <Field label="Entry rule" field="rule.type">
            <select value={rule.type} onChange={(e) => onChange({ ...entry, rule: { ...rule, type: e.target.value as typeof rule.type, period: rule.period ?? { amount: 7, unit: "days" } } })}>
              <option value="once">once per contact, ever</option>
              <option value="once_per">once per period</option>
              <option value="every_time">every time</option>
            </select>
          </Field>
          {rule.type === "once_per" && (
            <DurationField label="Period" field="rule.period" value={rule.period ?? { amount: 7, unit: "days" }} onChange={(period) => onChange({ ...entry, rule: { ...rule, period } })} />
          )}
          <Field label="At most this many runs at once" field="rule.max_concurrent">
            <input type="number" min={1} max={100} value={rule.max_concurrent}
              onChange={(e) => onChange({ ...entry, rule: { ...rule, max_concurrent: Number(e.target.value) } })} />
          </Field>
          <Field label="First step" field="start">
            <select value={links.targets.start ?? ""} onChange={(e) => links.link("start", e.target.value || null)}>
              <option value="">— not connected —</option>
              {links.choices.map((c) => <option key={c} value={c}>{c}</option>)}
            </select>
          </Field>
          <div className="field-wrap">
            <label className="small"><input type="checkbox" checked={!!goal} aria-label="Conversion goal"
              onChange={(e) => onGoal(e.target.checked ? { name: "", event: "", where: [] } : null)} /> A conversion goal ends any run as converted</label>
          </div>
          {goal && (
            <>
              <Field label="Goal name (blank: goal)" field="goal.name">
                <input aria-label="Journey goal name" value={goal.name} placeholder="Purchased" onChange={(e) => onGoal({ ...goal, name: e.target.value })} />
              </Field>
              <Field label="Goal event" field="goal.event">
                <input value={goal.event} placeholder="Order Completed" onChange={(e) => onGoal({ ...goal, event: e.target.value })} />
              </Field>
              <Filters label="Only when the goal event's properties match" field="goal.where" value={goal.where} onChange={(where) => onGoal({ ...goal, where })} />
            </>
          )}
        </fieldset>
      </FieldErrors.Provider>
    </div>
  );
}
