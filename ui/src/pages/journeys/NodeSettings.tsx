// Each step kind's settings form. Every control names its field (`field="within"`), so a
// validation error at `nodes[i].within.amount` is shown under it.
import { useEffect, useState } from "react";
import { CASCADE_CHANNELS, CHANNELS, OPS, PREDICATE_LABEL, PREDICATE_MESSAGE_STATUSES, WEEKDAYS, type Category, type NodeConfig, type NodeType, type Predicate } from "./model";
import { ChannelOrder, DurationField, Field, FieldError, Filters, PairsField, Picker, TimezoneField, parseValue, showValue } from "./fields";
import type { PanelOptions } from "./NodePanel";

/** The fields each kind's form shows (errors elsewhere are listed at the panel's top). */
export const SETTINGS_FIELDS: Record<NodeType, string[]> = {
  send: ["message_id", "cascade", "category"],
  cascade: ["message_id", "channels", "move_on", "within", "category", "topic"],
  wait: ["duration"],
  wait_until: ["at", "weekdays", "timezone"],
  wait_event: ["event", "timeout"],
  condition: ["if"],
  split: ["branches"],
  update_contact: ["set", "unset"],
  list: ["action", "kind", "name"],
  webhook: ["url", "method", "headers", "body"],
  goal: ["name", "event", "where"],
  exit: [],
};

type Props = { config: NodeConfig; onChange: (c: NodeConfig) => void; options: PanelOptions; onRemoveBranch: (i: number) => void; selfId: string };

function CategoryField({ value, onChange }: { value: Category; onChange: (c: Category) => void }) {
  return (
    <Field label="Category" field="category">
      <select value={value} onChange={(e) => onChange(e.target.value as Category)}>
        <option value="trigger">trigger</option><option value="promo">promo</option><option value="transactional">transactional</option>
      </select>
    </Field>
  );
}

export function Settings({ config: c, onChange, options, onRemoveBranch, selfId }: Props) {
  switch (c.type) {
    case "send":
      return (
        <>
          <Picker label="Message" field="message_id" value={c.message_id} options={options.messages} empty="Choose a message" onChange={(v) => onChange({ ...c, message_id: v })} />
          <ChannelOrder label="Channel cascade (tried in order)" field="cascade" all={CHANNELS} value={c.cascade} onChange={(cascade) => onChange({ ...c, cascade })} />
          <CategoryField value={c.category} onChange={(category) => onChange({ ...c, category })} />
        </>
      );
    case "cascade":
      return (
        <>
          <Picker label="Message" field="message_id" value={c.message_id} options={options.messages} empty="Choose a message" onChange={(v) => onChange({ ...c, message_id: v })} />
          <ChannelOrder label="Channels, one at a time in this order" field="channels" all={CASCADE_CHANNELS} value={c.channels} onChange={(channels) => onChange({ ...c, channels })} />
          <Field label="Move to the next channel when the message was" field="move_on">
            <select value={c.move_on} onChange={(e) => onChange({ ...c, move_on: e.target.value as typeof c.move_on })}>
              <option value="not_delivered">not delivered</option>
              <option value="not_opened">not opened</option>
            </select>
          </Field>
          <DurationField label="Within" field="within" value={c.within} onChange={(within) => onChange({ ...c, within })} />
          <p className="muted small">Channels the contact cannot receive or has not consented to are skipped.</p>
          <CategoryField value={c.category} onChange={(category) => onChange({ ...c, category })} />
          <Field label="Consent topic (blank: the channel as a whole)" field="topic">
            <input value={c.topic} placeholder="newsletter" onChange={(e) => onChange({ ...c, topic: e.target.value })} />
          </Field>
        </>
      );
    case "wait":
      return <DurationField label="Wait for" field="duration" value={c.duration} onChange={(duration) => onChange({ ...c, duration })} />;
    case "wait_until":
      return <WaitUntil config={c} onChange={onChange} />;
    case "wait_event":
      return (
        <>
          <Field label="Event name" field="event">
            <input value={c.event} onChange={(e) => onChange({ ...c, event: e.target.value })} placeholder="Order Completed" />
          </Field>
          <DurationField label="Timeout" field="timeout" value={c.timeout} onChange={(timeout) => onChange({ ...c, timeout })} />
        </>
      );
    case "condition":
      return <Condition value={c.if} options={options} selfId={selfId} onChange={(p) => onChange({ ...c, if: p })} />;
    case "split":
      return <Branches value={c.branches} onChange={(branches) => onChange({ ...c, branches })} onRemove={onRemoveBranch} />;
    case "update_contact":
      return (
        <>
          <PairsField label="Set traits (a value, or a template like {{ trigger.properties.total }} or {{ contact.first_name }})" field="set" keyLabel="Trait" valueLabel="Value"
            value={c.set} onChange={(set) => onChange({ ...c, set })} />
          <Field label="Remove traits (comma-separated)" field="unset">
            <input aria-label="Traits to remove" value={c.unset.join(", ")} placeholder="cart_token"
              onChange={(e) => onChange({ ...c, unset: e.target.value.split(",").map((s) => s.trim()) })} />
          </Field>
        </>
      );
    case "list":
      return (
        <>
          <Field label="Action" field="action">
            <select value={c.action} onChange={(e) => onChange({ ...c, action: e.target.value as typeof c.action })}>
              <option value="add">add the contact to</option><option value="remove">remove the contact from</option>
            </select>
          </Field>
          <Field label="Kind" field="kind">
            <select value={c.kind} onChange={(e) => onChange({ ...c, kind: e.target.value as typeof c.kind })}>
              <option value="list">a list</option><option value="tag">a tag</option>
            </select>
          </Field>
          <Field label="Name" field="name">
            <input value={c.name} placeholder="vip" onChange={(e) => onChange({ ...c, name: e.target.value })} />
          </Field>
        </>
      );
    case "webhook":
      return <Webhook config={c} onChange={onChange} />;
    case "goal":
      return (
        <>
          <Field label="Goal name" field="name">
            <input value={c.name} placeholder="Purchased" onChange={(e) => onChange({ ...c, name: e.target.value })} />
          </Field>
          <Field label="Goal event (blank: reaching this step is the goal)" field="event">
            <input value={c.event} placeholder="Order Completed" onChange={(e) => onChange({ ...c, event: e.target.value })} />
          </Field>
          {c.event && <Filters label="Only when the event's properties match" field="where" value={c.where} onChange={(where) => onChange({ ...c, where })} />}
          <p className="muted small">A run that meets the goal ends as converted, attributed to this journey. Leave "next" unconnected to end the run here.</p>
        </>
      );
    case "exit":
      return <p className="muted small">The run ends here.</p>;
  }
}

function WaitUntil({ config: c, onChange }: { config: Extract<NodeConfig, { type: "wait_until" }>; onChange: (c: NodeConfig) => void }) {
  const best = c.at === "best";
  const days = c.weekdays;
  const toggle = (d: number, on: boolean) => {
    const next = on ? [...(days ?? []), d].sort() : (days ?? []).filter((x) => x !== d);
    onChange({ ...c, weekdays: next });
  };
  return (
    <>
      <Field label="Until">
        <select aria-label="Until" value={best ? "best" : "time"} onChange={(e) => onChange({ ...c, at: e.target.value === "best" ? "best" : "09:00" })}>
          <option value="time">a time of day</option>
          <option value="best">the contact's best time (send-time optimization)</option>
        </select>
      </Field>
      {!best && (
        <Field label="Time of day" field="at">
          <input type="time" aria-label="Time of day" value={c.at.slice(0, 5)} onChange={(e) => onChange({ ...c, at: e.target.value })} />
        </Field>
      )}
      <div className="field-wrap">
        <div className="field"><span>On</span>
          <label className="small"><input type="checkbox" checked={days === null} aria-label="Any day"
            onChange={(e) => onChange({ ...c, weekdays: e.target.checked ? null : [0, 1, 2, 3, 4] })} /> any day</label>
          {days !== null && (
            <div className="row-inline weekdays">
              {WEEKDAYS.map((name, d) => (
                <label key={name} className="small"><input type="checkbox" aria-label={name} checked={days.includes(d)} onChange={(e) => toggle(d, e.target.checked)} /> {name}</label>
              ))}
            </div>
          )}
        </div>
        <FieldError field="weekdays" />
      </div>
      <TimezoneField value={c.timezone} onChange={(timezone) => onChange({ ...c, timezone })} />
    </>
  );
}

function Webhook({ config: c, onChange }: { config: Extract<NodeConfig, { type: "webhook" }>; onChange: (c: NodeConfig) => void }) {
  const [text, setText] = useState(c.body);
  useEffect(() => setText(c.body), [c.body]);
  const bodyless = c.method === "GET" || c.method === "DELETE";
  let jsonProblem = "";
  if (text.trim() && !bodyless) {
    try {
      JSON.parse(text);
    } catch (err) {
      jsonProblem = (err as Error).message;
    }
  }
  return (
    <>
      <Field label="URL" field="url">
        <input value={c.url} placeholder="https://hooks.example.com/retenta" onChange={(e) => onChange({ ...c, url: e.target.value })} />
      </Field>
      <Field label="Method" field="method">
        <select value={c.method} onChange={(e) => {
          const method = e.target.value;
          onChange({ ...c, method, body: method === "GET" || method === "DELETE" ? "" : c.body });
        }}>
          {["POST", "PUT", "PATCH", "GET", "DELETE"].map((m) => <option key={m}>{m}</option>)}
        </select>
      </Field>
      <PairsField label="Headers" field="headers" keyLabel="Header" valueLabel="Header value" value={c.headers} onChange={(headers) => onChange({ ...c, headers })} />
      {bodyless ? <p className="muted small">A {c.method} call carries no body.</p> : <>
        <Field label="Body (JSON; {{ templates }} allowed in strings)" field="body">
          <textarea rows={5} className="mono" value={text} placeholder='{"email": "{{ contact.email }}", "cart": "{{ trigger.properties.cart_id }}"}'
            onChange={(e) => { setText(e.target.value); onChange({ ...c, body: e.target.value }); }} />
        </Field>
        {jsonProblem && <p className="muted small">Not JSON yet: {jsonProblem}</p>}
      </>}
      <p className="muted small">Called exactly once per run (an idempotency key from the run and this node); private addresses are refused.</p>
    </>
  );
}

function Condition({ value, onChange, options, selfId }: { value: Predicate; onChange: (p: Predicate) => void; options: PanelOptions; selfId: string }) {
  const kind = (k: string) => {
    if (k === "event_happened") onChange({ kind: k, event: "", since: "entry" });
    else if (k === "attribute") onChange({ kind: k, attribute: "", op: "equals", value: "" });
    else if (k === "message") onChange({ kind: k, node: "", status: "opened" });
    else onChange({ kind: "segment", segment_id: "" });
  };
  return (
    <>
      <Field label="Condition" field="if.kind">
        <select aria-label="Condition" value={value.kind} onChange={(e) => kind(e.target.value)}>
          {Object.entries(PREDICATE_LABEL).map(([k, label]) => <option key={k} value={k}>{label}</option>)}
        </select>
      </Field>
      {value.kind === "event_happened" && (
        <>
          <Field label="Event name" field="if.event"><input value={value.event} onChange={(e) => onChange({ ...value, event: e.target.value })} /></Field>
          <Field label="Since" field="if.since">
            <select value={value.since} onChange={(e) => onChange({ ...value, since: e.target.value as "entry" | "ever" })}>
              <option value="entry">entering the journey</option><option value="ever">ever</option>
            </select>
          </Field>
        </>
      )}
      {value.kind === "attribute" && (
        <>
          <Field label="Attribute" field="if.attribute"><input value={value.attribute} onChange={(e) => onChange({ ...value, attribute: e.target.value })} placeholder="tier" /></Field>
          <Field label="Operator" field="if.op">
            <select value={value.op} onChange={(e) => onChange({ ...value, op: e.target.value })}>{OPS.map((o) => <option key={o}>{o}</option>)}</select>
          </Field>
          {value.op !== "exists" && (
            <Field label="Value" field="if.value"><input value={showValue(value.value)} onChange={(e) => onChange({ ...value, value: parseValue(e.target.value) })} /></Field>
          )}
        </>
      )}
      {value.kind === "segment" && (
        <Picker label="Segment" field="if.segment_id" value={value.segment_id} options={options.segments} empty="Choose a segment" onChange={(v) => onChange({ ...value, segment_id: v })} />
      )}
      {value.kind === "message" && (
        <>
          <Picker label="Message step" field="if.node" value={value.node} empty="Choose a send or cascade step"
            options={options.messageNodes.filter((n) => n !== selfId).map((n) => ({ id: n, name: n }))} onChange={(v) => onChange({ ...value, node: v })} />
          <Field label="Was" field="if.status">
            <select aria-label="Message status" value={value.status} onChange={(e) => onChange({ ...value, status: e.target.value as typeof value.status })}>
              {PREDICATE_MESSAGE_STATUSES.map((st) => <option key={st}>{st}</option>)}
            </select>
          </Field>
        </>
      )}
    </>
  );
}

function Branches({ value, onChange, onRemove }: { value: { weight: number; label: string }[]; onChange: (v: { weight: number; label: string }[]) => void; onRemove: (i: number) => void }) {
  const total = value.reduce((s, b) => s + (b.weight || 0), 0);
  const set = (i: number, patch: Partial<{ weight: number; label: string }>) =>
    onChange(value.map((b, j) => (j === i ? { ...b, ...patch } : b)));
  return (
    <div className="field-wrap">
      <div className="field"><span>Branches (weights; {total} in all)</span>
        {value.map((b, i) => (
          <div key={i} className="row-inline">
            <input aria-label={`Branch ${i + 1} label`} value={b.label} onChange={(e) => set(i, { label: e.target.value })} />
            <input aria-label={`Branch ${i + 1} weight`} type="number" min={0} value={b.weight} onChange={(e) => set(i, { weight: Number(e.target.value) })} />
            <span className="muted small">{total ? Math.round((100 * (b.weight || 0)) / total) : 0}%</span>
            <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove branch ${i + 1}`} disabled={value.length <= 2}
              onClick={() => onRemove(i)}>×</button>
          </div>
        ))}
        <button type="button" className="btn btn-small" disabled={value.length >= 10}
          onClick={() => onChange([...value, { weight: 0, label: String.fromCharCode(65 + value.length) }])}>Add a branch</button>
      </div>
      <FieldError field="branches" />
    </div>
  );
}
