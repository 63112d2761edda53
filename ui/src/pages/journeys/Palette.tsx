// The node palette: items dragged onto the canvas (or double-clicked, to add one in the middle).
import type { DragEvent } from "react";
import { NODE_LABEL, TRIGGER_LABEL, type NodeType, type TriggerType } from "./model";

export const PALETTE_MIME = "application/x-retenta-journey-node";

const TRIGGERS: TriggerType[] = ["event", "segment", "schedule", "date", "subscription", "list", "message", "goal", "api"];
const GROUPS: { title: string; steps: NodeType[] }[] = [
  { title: "Messages", steps: ["send", "cascade"] },
  { title: "Timing", steps: ["wait", "wait_until", "wait_event"] },
  { title: "Logic", steps: ["condition", "split"] },
  { title: "Actions", steps: ["update_contact", "list", "webhook"] },
  { title: "Ends", steps: ["goal", "exit"] },
];

export function Palette({ hasEntry, onAdd }: { hasEntry: boolean; onAdd: (item: string) => void }) {
  const start = (item: string) => (e: DragEvent) => {
    e.dataTransfer.setData(PALETTE_MIME, item);
    e.dataTransfer.effectAllowed = "move";
  };
  const entry = (item: string, label: string) => (
    <div key={item} className="palette-item" draggable onDragStart={start(item)} data-testid={`palette-${item.replace(":", "-")}`}
      role="button" tabIndex={0} onKeyDown={(e) => e.key === "Enter" && onAdd(item)} onDoubleClick={() => onAdd(item)}>
      {label}
    </div>
  );
  return (
    <div className="journey-palette" aria-label="Node palette">
      <h3 className="sub">{hasEntry ? "Trigger (replaces)" : "Trigger"}</h3>
      {TRIGGERS.map((t) => entry(`trigger:${t}`, `${TRIGGER_LABEL[t]}`))}
      {GROUPS.map((g) => (
        <div key={g.title}>
          <h3 className="sub">{g.title}</h3>
          {g.steps.map((s) => entry(s, NODE_LABEL[s]))}
        </div>
      ))}
      <p className="muted small">Drag onto the canvas (or double-click).</p>
    </div>
  );
}
