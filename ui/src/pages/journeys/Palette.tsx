// The node palette: items dragged onto the canvas (or clicked, to add one in the middle).
import type { DragEvent } from "react";
import { NODE_LABEL, type NodeType } from "./model";

export const PALETTE_MIME = "application/x-retenta-journey-node";

const TRIGGERS = [
  { item: "trigger:event", label: "Event trigger" },
  { item: "trigger:segment", label: "Segment trigger" },
  { item: "trigger:api", label: "API trigger" },
];
const STEPS: NodeType[] = ["send", "wait", "wait_event", "condition", "split", "exit"];

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
      {TRIGGERS.map((t) => entry(t.item, t.label))}
      <h3 className="sub">Steps</h3>
      {STEPS.map((s) => entry(s, NODE_LABEL[s]))}
      <p className="muted small">Drag onto the canvas (or double-click).</p>
    </div>
  );
}
