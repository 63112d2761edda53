// The side panel for the selected step: its settings and where each of its exits leads.
import { CHANNELS, NODE_LABEL, OPS, handlesOf, type NodeConfig, type PathError, type Predicate } from "./model";
import { DurationField, Picker, parseValue, showValue, type Option } from "./fields";

export interface Links {
  targets: Record<string, string | undefined>;
  choices: string[];
  link: (handle: string, target: string | null) => void;
}

export function NodePanel({ id, config, onChange, links, messages, segments, errors, onDelete, onRemoveBranch, readOnly }: {
  id: string; config: NodeConfig; onChange: (c: NodeConfig) => void; links: Links; onRemoveBranch: (i: number) => void;
  messages: Option[] | null; segments: Option[] | null; errors: PathError[]; onDelete: () => void; readOnly: boolean;
}) {
  return (
    <div className="jpanel" data-testid="node-panel">
      <h3>{NODE_LABEL[config.type]} <span className="mono muted">{id}</span></h3>
      {errors.map((e, i) => <p key={i} className="field-error">{e.path}: {e.reason}</p>)}
      <fieldset disabled={readOnly} className="plain">
        <Settings config={config} onChange={onChange} messages={messages} segments={segments} onRemoveBranch={onRemoveBranch} />
        <Connections config={config} links={links} />
        <button type="button" className="btn btn-small btn-danger-outline" onClick={onDelete}>Delete node</button>
      </fieldset>
    </div>
  );
}

function Connections({ config, links }: { config: NodeConfig; links: Links }) {
  const handles = handlesOf(config);
  if (!handles.length) return null;
  const label = (h: string) => (config.type === "split" ? `Branch ${Number(h.slice(1)) + 1} leads to` : `${h} leads to`);
  return (
    <div className="jconnections">
      {handles.map((h) => (
        <label key={h} className="field"><span>{label(h)}</span>
          <select value={links.targets[h] ?? ""} onChange={(e) => links.link(h, e.target.value || null)}>
            <option value="">— not connected —</option>
            {links.choices.map((c) => <option key={c} value={c}>{c}</option>)}
          </select>
        </label>
      ))}
    </div>
  );
}

function Settings({ config: c, onChange, messages, segments, onRemoveBranch }: {
  config: NodeConfig; onChange: (c: NodeConfig) => void; messages: Option[] | null; segments: Option[] | null; onRemoveBranch: (i: number) => void;
}) {
  switch (c.type) {
    case "send":
      return (
        <>
          <Picker label="Message" value={c.message_id} options={messages} empty="Choose a message" onChange={(v) => onChange({ ...c, message_id: v })} />
          <Cascade value={c.cascade} onChange={(cascade) => onChange({ ...c, cascade })} />
          <label className="field"><span>Category</span>
            <select value={c.category} onChange={(e) => onChange({ ...c, category: e.target.value as typeof c.category })}>
              <option value="trigger">trigger</option><option value="promo">promo</option><option value="transactional">transactional</option>
            </select>
          </label>
        </>
      );
    case "wait":
      return <DurationField label="Wait for" value={c.duration} onChange={(duration) => onChange({ ...c, duration })} />;
    case "wait_event":
      return (
        <>
          <label className="field"><span>Event name</span>
            <input value={c.event} onChange={(e) => onChange({ ...c, event: e.target.value })} placeholder="Order Completed" />
          </label>
          <DurationField label="Timeout" value={c.timeout} onChange={(timeout) => onChange({ ...c, timeout })} />
        </>
      );
    case "condition":
      return <Condition value={c.if} segments={segments} onChange={(p) => onChange({ ...c, if: p })} />;
    case "split":
      return <Branches value={c.branches} onChange={(branches) => onChange({ ...c, branches })} onRemove={onRemoveBranch} />;
    case "exit":
      return <p className="muted small">The run ends here.</p>;
  }
}

function Cascade({ value, onChange }: { value: string[]; onChange: (v: string[]) => void }) {
  const left = CHANNELS.filter((ch) => !value.includes(ch));
  return (
    <div className="field"><span>Channel cascade (tried in order)</span>
      <ol className="cascade" aria-label="Channel cascade">
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
  );
}

function Condition({ value, onChange, segments }: { value: Predicate; onChange: (p: Predicate) => void; segments: Option[] | null }) {
  const kind = (k: string) => {
    if (k === "event_happened") onChange({ kind: k, event: "", since: "entry" });
    else if (k === "attribute") onChange({ kind: k, attribute: "", op: "equals", value: "" });
    else onChange({ kind: "segment", segment_id: "" });
  };
  return (
    <>
      <label className="field"><span>Condition</span>
        <select aria-label="Condition" value={value.kind} onChange={(e) => kind(e.target.value)}>
          <option value="event_happened">an event happened</option>
          <option value="attribute">an attribute compares</option>
          <option value="segment">in a segment</option>
        </select>
      </label>
      {value.kind === "event_happened" && (
        <>
          <label className="field"><span>Event name</span><input value={value.event} onChange={(e) => onChange({ ...value, event: e.target.value })} /></label>
          <label className="field"><span>Since</span>
            <select value={value.since} onChange={(e) => onChange({ ...value, since: e.target.value as "entry" | "ever" })}>
              <option value="entry">entering the journey</option><option value="ever">ever</option>
            </select>
          </label>
        </>
      )}
      {value.kind === "attribute" && (
        <>
          <label className="field"><span>Attribute</span><input value={value.attribute} onChange={(e) => onChange({ ...value, attribute: e.target.value })} placeholder="tier" /></label>
          <label className="field"><span>Operator</span>
            <select value={value.op} onChange={(e) => onChange({ ...value, op: e.target.value })}>{OPS.map((o) => <option key={o}>{o}</option>)}</select>
          </label>
          {value.op !== "exists" && (
            <label className="field"><span>Value</span><input value={showValue(value.value)} onChange={(e) => onChange({ ...value, value: parseValue(e.target.value) })} /></label>
          )}
        </>
      )}
      {value.kind === "segment" && (
        <Picker label="Segment" value={value.segment_id} options={segments} empty="Choose a segment" onChange={(v) => onChange({ ...value, segment_id: v })} />
      )}
    </>
  );
}

function Branches({ value, onChange, onRemove }: { value: { weight: number; label: string }[]; onChange: (v: { weight: number; label: string }[]) => void; onRemove: (i: number) => void }) {
  const total = value.reduce((s, b) => s + (b.weight || 0), 0);
  const set = (i: number, patch: Partial<{ weight: number; label: string }>) =>
    onChange(value.map((b, j) => (j === i ? { ...b, ...patch } : b)));
  return (
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
  );
}
