// How a node looks on the canvas: its kind, id, a one-line summary, its handles (one per
// outgoing field), live run counts and the validation errors that name it.
import { createContext, useContext, useEffect } from "react";
import { Handle, Position, useUpdateNodeInternals, type NodeProps } from "@xyflow/react";
import { ENTRY_ID, handlesOf, NODE_LABEL, type Counts, type Entry, type NodeConfig, type PathError } from "./model";

export interface CanvasInfo {
  counts: Counts | null;
  errors: Record<string, PathError[]>;
  messageNames: Record<string, string>;
  segmentNames: Record<string, string>;
}

export const CanvasContext = createContext<CanvasInfo>({ counts: null, errors: {}, messageNames: {}, segmentNames: {} });

export type StepData = { config: NodeConfig };
export type EntryData = { entry: Entry };

function dur(d: { amount: number; unit: string } | undefined): string {
  return d ? `${d.amount} ${d.unit}` : "";
}

function summary(c: NodeConfig, info: CanvasInfo): string {
  switch (c.type) {
    case "send": return `${c.message_id ? info.messageNames[c.message_id] ?? c.message_id : "no message"} · ${c.cascade.join(" → ")}`;
    case "wait": return dur(c.duration);
    case "wait_event": return `${c.event || "no event"} · up to ${dur(c.timeout)}`;
    case "condition":
      if (c.if.kind === "event_happened") return `${c.if.event || "an event"} happened (${c.if.since})`;
      if (c.if.kind === "attribute") return `${c.if.attribute || "attribute"} ${c.if.op} ${c.if.value ?? ""}`;
      return `in ${info.segmentNames[c.if.segment_id] ?? (c.if.segment_id || "a segment")}`;
    case "split": return c.branches.map((b) => `${b.label || "·"} ${b.weight}`).join(" / ");
    case "exit": return "end of the journey";
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
  const count = info.counts?.byNode[id];
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
      {info.counts && (
        <div className="jnode-counts" data-testid={`count-${id}`}>
          <span title="runs here now">● {count?.active ?? 0} here</span>
          <span title="runs that ended here">✓ {count?.done ?? 0} ended</span>
        </div>
      )}
      <Errors id={id} />
      <OutHandles handles={handles} config={config} />
    </div>
  );
}

export function EntryNode({ data, selected }: NodeProps) {
  const { entry } = data as EntryData;
  const info = useContext(CanvasContext);
  const t = entry.trigger;
  const what = t.type === "event" ? `event ${t.event || "…"}${t.where.length ? ` (${t.where.length} filter${t.where.length > 1 ? "s" : ""})` : ""}`
    : t.type === "segment" ? `${t.on} ${info.segmentNames[t.segment_id] ?? (t.segment_id || "a segment")}` : "started by the API";
  const bad = !!info.errors[ENTRY_ID]?.length;
  return (
    <div className={`jnode jnode-entry${selected ? " selected" : ""}${bad ? " has-error" : ""}`} data-testid={`node-${ENTRY_ID}`}>
      <div className="jnode-head"><strong>Entry</strong><span className="mono">{entry.rule.type.replace("_", " ")}</span></div>
      <div className="jnode-body">{what}</div>
      {info.counts && <div className="jnode-counts" data-testid={`count-${ENTRY_ID}`}><span>{info.counts.entered} entered</span></div>}
      <Errors id={ENTRY_ID} />
      <OutHandles handles={["start"]} config={null} />
    </div>
  );
}

export const NODE_TYPES = { step: StepNode, entry: EntryNode };
