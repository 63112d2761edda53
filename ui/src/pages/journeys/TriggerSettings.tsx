// Each trigger kind's settings form (entry.trigger): event, segment, API, schedule (cron
// presets + timezone), date attribute ± offset, subscription, list/tag, message event, goal.
import { CHANNELS, MESSAGE_STATUSES, type Trigger } from "./model";
import { DurationField, Field, Filters, Picker, TimezoneField } from "./fields";
import type { PanelOptions } from "./NodePanel";
import { CRON_PRESETS, CRON_WEEKDAYS, cronOf, describeCron, presetOf, type Repeat } from "./schedule";

export function TriggerSettings({ trigger: t, onChange, options }: { trigger: Trigger; onChange: (t: Trigger) => void; options: PanelOptions }) {
  switch (t.type) {
    case "event":
      return (
        <>
          <Field label="Event name" field="trigger.event">
            <input value={t.event} placeholder="Checkout Started" onChange={(e) => onChange({ ...t, event: e.target.value })} />
          </Field>
          <Filters label="Only when the event's properties match" field="trigger.where" value={t.where} onChange={(where) => onChange({ ...t, where })} />
        </>
      );
    case "segment":
      return (
        <>
          <Picker label="Segment" field="trigger.segment_id" value={t.segment_id} options={options.segments} empty="Choose a segment" onChange={(v) => onChange({ ...t, segment_id: v })} />
          <Field label="When a contact" field="trigger.on">
            <select value={t.on} onChange={(e) => onChange({ ...t, on: e.target.value as "entered" | "exited" })}>
              <option value="entered">enters it</option><option value="exited">leaves it</option>
            </select>
          </Field>
        </>
      );
    case "api":
      return <p className="muted small">Runs start with <code>POST /api/v1/journeys/&#123;id&#125;/runs</code>.</p>;
    case "schedule":
      return <Schedule trigger={t} onChange={onChange} options={options} />;
    case "date":
      return (
        <>
          <Field label="Date attribute" field="trigger.attribute">
            <input value={t.attribute} placeholder="birthday" onChange={(e) => onChange({ ...t, attribute: e.target.value })} />
          </Field>
          <DurationField label="Offset" field="trigger.offset" units={["days", "weeks"]} value={t.offset} onChange={(offset) => onChange({ ...t, offset })} />
          <Field label="Direction" field="trigger.direction">
            <select value={t.direction} onChange={(e) => onChange({ ...t, direction: e.target.value as "before" | "after" })}>
              <option value="before">before the date</option><option value="after">after the date</option>
            </select>
          </Field>
          <Field label="At" field="trigger.at">
            <input type="time" aria-label="At" value={t.at.slice(0, 5)} onChange={(e) => onChange({ ...t, at: e.target.value })} />
          </Field>
          <TimezoneField field="trigger.timezone" value={t.timezone} onChange={(timezone) => onChange({ ...t, timezone })} />
          <label className="small"><input type="checkbox" checked={t.yearly} onChange={(e) => onChange({ ...t, yearly: e.target.checked })} /> Every year (an anniversary, like a birthday)</label>
        </>
      );
    case "subscription":
      return (
        <>
          <Field label="Channel" field="trigger.channel">
            <select value={t.channel} onChange={(e) => onChange({ ...t, channel: e.target.value })}>{CHANNELS.map((c) => <option key={c}>{c}</option>)}</select>
          </Field>
          <Field label="Topic (blank: any)" field="trigger.topic">
            <input value={t.topic ?? ""} placeholder="newsletter" onChange={(e) => onChange({ ...t, topic: e.target.value || null })} />
          </Field>
          <Field label="When the contact" field="trigger.on">
            <select value={t.on} onChange={(e) => onChange({ ...t, on: e.target.value as "subscribed" | "unsubscribed" })}>
              <option value="subscribed">subscribes</option><option value="unsubscribed">unsubscribes</option>
            </select>
          </Field>
        </>
      );
    case "list":
      return (
        <>
          <Field label="Kind" field="trigger.kind">
            <select value={t.kind} onChange={(e) => onChange({ ...t, kind: e.target.value as "list" | "tag" })}>
              <option value="list">a list</option><option value="tag">a tag</option>
            </select>
          </Field>
          <Field label="Name" field="trigger.name">
            <input value={t.name} placeholder="vip" onChange={(e) => onChange({ ...t, name: e.target.value })} />
          </Field>
          <Field label="When the contact" field="trigger.on">
            <select value={t.on} onChange={(e) => onChange({ ...t, on: e.target.value as "joined" | "left" })}>
              <option value="joined">joins it</option><option value="left">leaves it</option>
            </select>
          </Field>
        </>
      );
    case "message":
      return (
        <>
          <Field label="When a message is" field="trigger.on">
            <select value={t.on} onChange={(e) => onChange({ ...t, on: e.target.value as typeof t.on })}>
              {MESSAGE_STATUSES.map((s) => <option key={s}>{s}</option>)}
            </select>
          </Field>
          <Picker label="Only this message" field="trigger.message_id" value={t.message_id ?? ""} options={options.messages} empty="any message" onChange={(v) => onChange({ ...t, message_id: v || null })} />
          <Picker label="Only from this journey" field="trigger.journey_id" value={t.journey_id ?? ""} options={options.journeys} empty="any journey" onChange={(v) => onChange({ ...t, journey_id: v || null })} />
          <Field label="Only from this campaign (id)" field="trigger.campaign_id">
            <input value={t.campaign_id ?? ""} placeholder="cmp_…" onChange={(e) => onChange({ ...t, campaign_id: e.target.value || null })} />
          </Field>
          <Field label="Only on this channel" field="trigger.channel">
            <select value={t.channel ?? ""} onChange={(e) => onChange({ ...t, channel: e.target.value || null })}>
              <option value="">any channel</option>
              {CHANNELS.map((c) => <option key={c}>{c}</option>)}
            </select>
          </Field>
        </>
      );
    case "goal":
      return (
        <>
          <Picker label="Journey" field="trigger.journey_id" value={t.journey_id} options={options.journeys} empty="Choose a journey" onChange={(v) => onChange({ ...t, journey_id: v })} />
          <Field label="Goal name (blank: any goal)" field="trigger.goal">
            <input value={t.goal ?? ""} placeholder="Purchased" onChange={(e) => onChange({ ...t, goal: e.target.value || null })} />
          </Field>
        </>
      );
  }
}

function Schedule({ trigger: t, onChange, options }: { trigger: Extract<Trigger, { type: "schedule" }>; onChange: (t: Trigger) => void; options: PanelOptions }) {
  const preset = presetOf(t.cron);
  const setPreset = (patch: Partial<typeof preset>) => {
    const next = { ...preset, ...patch };
    if (next.repeat !== "custom") onChange({ ...t, cron: cronOf(next) });
  };
  return (
    <>
      <Field label="Ready-made">
        <select aria-label="Ready-made schedule" value={CRON_PRESETS.find((p) => p.cron === t.cron.trim())?.cron ?? ""}
          onChange={(e) => e.target.value && onChange({ ...t, cron: e.target.value })}>
          <option value="">choose…</option>
          {CRON_PRESETS.map((p) => <option key={p.cron} value={p.cron}>{p.label}</option>)}
        </select>
      </Field>
      <div className="row-inline">
        <Field label="Repeat">
          <select aria-label="Repeat" value={preset.repeat} onChange={(e) => e.target.value !== "custom" && setPreset({ repeat: e.target.value as Repeat })}>
            <option value="daily">every day</option><option value="weekdays">on weekdays</option>
            <option value="weekly">every week</option><option value="monthly">every month</option>
            <option value="custom" disabled>custom (cron)</option>
          </select>
        </Field>
        {preset.repeat === "weekly" && (
          <Field label="On">
            <select aria-label="Weekday" value={preset.weekday} onChange={(e) => setPreset({ weekday: Number(e.target.value) })}>
              {CRON_WEEKDAYS.map((d, i) => <option key={d} value={i}>{d}</option>)}
            </select>
          </Field>
        )}
        {preset.repeat === "monthly" && (
          <Field label="Day">
            <input type="number" aria-label="Day of month" min={1} max={28} value={preset.day} onChange={(e) => setPreset({ day: Number(e.target.value) })} />
          </Field>
        )}
        {preset.repeat !== "custom" && (
          <Field label="At">
            <input type="time" aria-label="Schedule time" value={preset.time} onChange={(e) => setPreset({ time: e.target.value })} />
          </Field>
        )}
      </div>
      <Field label="Cron (minute hour day month weekday)" field="trigger.cron">
        <input className="mono" aria-label="Cron" value={t.cron} onChange={(e) => onChange({ ...t, cron: e.target.value })} />
      </Field>
      <p className="muted small" data-testid="cron-words">{describeCron(t.cron)}</p>
      <TimezoneField field="trigger.timezone" value={t.timezone} onChange={(timezone) => onChange({ ...t, timezone })} />
      <Picker label="Audience segment" field="trigger.segment_id" value={t.segment_id} options={options.segments} empty="Choose a segment" onChange={(v) => onChange({ ...t, segment_id: v })} />
    </>
  );
}
