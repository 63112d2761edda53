// How a node looks on the canvas: its kind, id, a one-line summary, its handles (one per
// outgoing field), live run counts and the validation errors that name it.
import { createContext, useContext, useEffect } from "react";
import { Handle, Position, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import { COUNT_KEYS, type Stats } from "./counts";
import { ENTRY_ID, handlesOf, NODE_LABEL, TRIGGER_LABEL, WEEKDAYS, type Entry, type NodeConfig, type PathError, type Trigger } from "./model";
import { describeCron } from "./schedule";

export interface CanvasInfo {
  stats: Stats | null;
  /** Contacts a dry run took through each node (null: no dry run shown). */
  dryRun: Record<string, number> | null;
  errors: Record<string, PathError[]>;
  messageNames: Record<string, string>;
  segmentNames: Record<string, string>;
}

export const CanvasContext = createContext<CanvasInfo>({ stats: null, dryRun: null, errors: {}, messageNames: {}, segmentNames: {} });

export type StepData = { config: NodeConfig };
export type EntryData = { entry: Entry };

function dur(d: { amount: number; unit: string } | undefined): string {
  return d ? `${d.amount} ${d.unit}` : "";
}

function tz(timezone: string): string {
  return timezone === "contact" ? "contact's time" : timezone;
}

function summary(c: NodeConfig, info: CanvasInfo): string {
  const message = (id: string) => (id ? info.messageNames[id] ?? id : "no message");
  switch (c.type) {
    case "send": return `${message(c.message_id)} · ${c.cascade.join(" → ")}`;
    case "cascade": return `${message(c.message_id)} · ${c.channels.join(" → ")} · next if ${c.move_on.replace("_", " ")} in ${dur(c.within)}`;
    case "wait": return dur(c.duration);
    case "wait_until": {
      const days = c.weekdays === null ? "any day" : c.weekdays.map((d) => WEEKDAYS[d]).join(", ") || "no day";
      return `${c.at === "best" ? "best time" : c.at} · ${days} · ${tz(c.timezone)}`;
    }
    case "wait_event": return `${c.event || "no event"} · up to ${dur(c.timeout)}`;
    case "condition":
      if (c.if.kind === "event_happened") return `${c.if.event || "an event"} happened (${c.if.since})`;
      if (c.if.kind === "attribute") return `${c.if.attribute || "attribute"} ${c.if.op} ${c.if.value ?? ""}`;
      if (c.if.kind === "message") return `${c.if.node || "a message"} was ${c.if.status}`;
      return `in ${info.segmentNames[c.if.segment_id] ?? (c.if.segment_id || "a segment")}`;
    case "split": return c.branches.map((b) => `${b.label || "·"} ${b.weight}`).join(" / ");
    case "update_contact": {
      const set = c.set.filter(([k]) => k.trim()).map(([k, v]) => `${k} = ${v}`);
      const unset = c.unset.filter((u) => u.trim()).map((u) => `unset ${u}`);
      return [...set, ...unset].join(", ") || "nothing to change";
    }
    case "list": return `${c.action === "add" ? "add to" : "remove from"} ${c.kind} ${c.name || "…"}`;
    case "webhook": return `${c.method} ${c.url || "no URL"}`;
    case "goal": return `${c.name || "goal"}: ${c.event || "no event"}`;
    case "exit": return "end of the journey";
  }
}

/** The entry's trigger in words. */
export function triggerSummary(t: Trigger, segmentNames: Record<string, string>): string {
  const segment = (id: string) => segmentNames[id] ?? (id || "a segment");
  switch (t.type) {
    case "event": return `event ${t.event || "…"}${t.where.length ? ` (${t.where.length} filter${t.where.length > 1 ? "s" : ""})` : ""}`;
    case "segment": return `${t.on} ${segment(t.segment_id)}`;
    case "api": return "started by the API";
    case "schedule": return `${describeCron(t.cron)} (${tz(t.timezone)}) · ${segment(t.segment_id)}`;
    case "date": return `${t.offset.amount ? `${dur(t.offset)} ${t.direction} ` : "on "}${t.attribute || "a date"} at ${t.at}${t.yearly ? ", yearly" : ""}`;
    case "subscription": return `${t.on} to ${t.channel}${t.topic ? ` (${t.topic})` : ""}`;
    case "list": return `${t.on} ${t.kind} ${t.name || "…"}`;
    case "message": return `a message ${t.on}${t.channel ? ` on ${t.channel}` : ""}`;
    case "goal": return `goal reached in ${t.journey_id || "a journey"}`;
  }
}

function handleLabel(c: NodeConfig, handle: string): string {
  if (c.type === "split") return c.branches[Number(handle.slice(1))]?.label || handle;
  if (c.type === "wait_event") return handle === "then" ? "happened" : "timed out";
  if (c.type === "condition") return handle === "then" ? "yes" : "no";
  return "";
}

function Errors({ id }: { id: string }) {
  const errors = useContext(CanvasContext).errors[id];
  if (!errors?.length) return null;
  return (
    <ul className="jnode-errors" data-testid="node-errors">
      {errors.map((e, i) => <li key={i}>{e.reason} <span className="mono">({e.path})</span></li>)}
    </ul>
  );
}

function OutHandles({ handles, config }: { handles: string[]; config: NodeConfig | null }) {
  return (
    <>
      {handles.map((h, i) => (
        <Handle key={h} id={h} type="source" position={Position.Bottom}
          style={{ left: `${((i + 1) / (handles.length + 1)) * 100}%` }} title={h}>
          {config && handleLabel(config, h) && <span className="jhandle-label">{handleLabel(config, h)}</span>}
        </Handle>
      ))}
    </>
  );
}

export function StepNode({ id, data, selected }: NodeProps) {
  const { config } = data as StepData;
  const info = useContext(CanvasContext);
  const bad = !!info.errors[id]?.length;
  const handles = handlesOf(config);
  // A split's handles come and go with its branches; React Flow must measure them again.
  const updateInternals = useUpdateNodeInternals();
  useEffect(() => updateInternals(id), [handles.join(), id, updateInternals]);
  return (
    <div className={`jnode jnode-${config.type}${selected ? " selected" : ""}${bad ? " has-error" : ""}`} data-testid={`node-${id}`}>
      <Handle type="target" position={Position.Top} />
      <div className="jnode-head"><strong>{NODE_LABEL[config.type]}</strong><span className="mono">{id}</span></div>
      <div className="jnode-body">{summary(config, info)}</div>
      <Counts id={id} />
      <Errors id={id} />
      <OutHandles handles={handles} config={config} />
    </div>
  );
}

export function EntryNode({ data, selected }: NodeProps) {
  const { entry } = data as EntryData;
  const info = useContext(CanvasContext);
  const t = entry.trigger;
  const what = triggerSummary(t, info.segmentNames);
  const bad = !!info.errors[ENTRY_ID]?.length;
  return (
    <div className={`jnode jnode-entry${selected ? " selected" : ""}${bad ? " has-error" : ""}`} data-testid={`node-${ENTRY_ID}`}>
      <div className="jnode-head"><strong>{TRIGGER_LABEL[t.type]} trigger</strong><span className="mono">{entry.rule.type.replace("_", " ")}</span></div>
      <div className="jnode-body">{what}</div>
      {info.stats && <div className="jnode-counts" data-testid={`count-${ENTRY_ID}`}><span><b data-testid="count-entry-entered">{info.stats.totals.entered}</b> entered</span>
        {info.stats.totals.converted > 0 && <span><b>{info.stats.totals.converted}</b> converted</span>}</div>}
      {info.dryRun && <div className="jnode-dry" data-testid="dry-entry">dry run: {info.dryRun[ENTRY_ID] ?? 0} entered</div>}
      <Errors id={ENTRY_ID} />
      <OutHandles handles={["start"]} config={null} />
    </div>
  );
}

/** Entered, waiting, converted and exited runs at this node (live); a dry run's count. */
function Counts({ id }: { id: string }) {
  const info = useContext(CanvasContext);
  const c = info.stats?.nodes[id];
  return (
    <>
      {info.stats && (
        <div className="jnode-stats" data-testid={`count-${id}`}>
          {COUNT_KEYS.map((k) => (
            <span key={k} title={`runs ${k} here`}><b data-testid={`count-${id}-${k}`}>{c?.[k] ?? 0}</b>{k}</span>
          ))}
        </div>
      )}
      {info.dryRun && <div className="jnode-dry" data-testid={`dry-${id}`}>dry run: {info.dryRun[id] ?? 0}</div>}
    </>
  );
}

export const NODE_TYPES = { step: StepNode, entry: EntryNode };
