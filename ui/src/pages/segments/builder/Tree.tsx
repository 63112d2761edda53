// The condition tree: nested AND/OR/NOT groups with leaf rows; each node shows the server's
// validation errors whose path points at it.
import { useEffect, useRef, useState } from "react";
import {
  LEAF_TYPES, childPath, children, errorsAt, isGroup, newCondition, type Cond,
} from "../model";
import type { PathError } from "../types";
import { AttributeEditor, ConsentEditor, RfmEditor, SegmentRefEditor, TraitEditor } from "./leaves";
import { EventEditor, MessageEditor, OrderEditor, PurchaseEditor } from "./tad";

type Change = (c: Cond) => void;

const EDITORS: Record<string, (p: { c: Cond; onChange: Change }) => React.ReactNode> = {
  attribute: AttributeEditor,
  event: EventEditor,
  order: OrderEditor,
  purchase: PurchaseEditor,
  message: MessageEditor,
  consent: ConsentEditor,
  trait: TraitEditor,
  rfm: RfmEditor,
  segment: SegmentRefEditor,
};

/** The server's reason in words a marketer reads; pydantic's pattern messages are for developers. */
export function friendly(reason: string): string {
  if (reason.startsWith("String should match pattern")) return "needs a name: letters, digits, _ and . only";
  if (reason === "Field required") return "required";
  return reason;
}

function Errors({ errors, path }: { errors: PathError[]; path: string }) {
  if (!errors.length) return null;
  return (
    <ul className="cond-errors" role="alert" data-testid={`errors-${path}`}>
      {errors.map((e, i) => (
        <li key={i}>
          {friendly(e.reason)}
          {e.path !== path && <code className="small"> ({e.path.slice(path.length + 1)})</code>}
        </li>
      ))}
    </ul>
  );
}

function AddMenu({ onAdd }: { onAdd: (c: Cond) => void }) {
  const [open, setOpen] = useState(false);
  const box = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    if (!open) return;
    const away = (e: MouseEvent) => !box.current?.contains(e.target as Node) && setOpen(false);
    const escape = (e: KeyboardEvent) => e.key === "Escape" && setOpen(false);
    document.addEventListener("mousedown", away);
    document.addEventListener("keydown", escape);
    return () => {
      document.removeEventListener("mousedown", away);
      document.removeEventListener("keydown", escape);
    };
  }, [open]);
  return (
    <span className="add-menu" ref={box}>
      <button type="button" className="btn btn-small" onClick={() => setOpen(!open)} aria-expanded={open}>+ Condition</button>
      {open && (
        <div className="menu" role="menu">
          {LEAF_TYPES.map((t) => (
            <button type="button" role="menuitem" key={t.type} onClick={() => { onAdd(newCondition(t.type)); setOpen(false); }}>
              <strong>{t.label}</strong>
              <span className="muted small">{t.hint}</span>
            </button>
          ))}
        </div>
      )}
    </span>
  );
}

export function ConditionNode({ c, path, errors, onChange, onRemove, depth = 0 }: {
  c: Cond;
  path: string;
  errors: PathError[];
  onChange: Change;
  onRemove?: () => void;
  depth?: number;
}) {
  if (isGroup(c)) return <GroupNode c={c} path={path} errors={errors} onChange={onChange} onRemove={onRemove} depth={depth} />;
  const mine = errorsAt(errors, path, false);
  const Editor = EDITORS[c.type];
  const label = LEAF_TYPES.find((t) => t.type === c.type)?.label ?? c.type;
  return (
    <div className={mine.length ? "cond cond-invalid" : "cond"} data-testid={`cond-${path}`} data-type={c.type}>
      <div className="cond-head">
        <span className="cond-type">{label}</span>
        <span className="cond-actions">
          <button type="button" className="btn btn-ghost btn-small" title="Wrap in NOT" onClick={() => onChange({ type: "not", condition: c })}>NOT</button>
          {onRemove && <button type="button" className="btn btn-ghost btn-small" aria-label="Remove condition" onClick={onRemove}>✕</button>}
        </span>
      </div>
      <div className="cond-body">
        {Editor ? <Editor c={c} onChange={onChange} /> : <p className="muted">This condition type has no visual editor; edit it in the JSON view.</p>}
      </div>
      <Errors errors={mine} path={path} />
    </div>
  );
}

function GroupNode({ c, path, errors, onChange, onRemove, depth }: {
  c: Cond;
  path: string;
  errors: PathError[];
  onChange: Change;
  onRemove?: () => void;
  depth: number;
}) {
  const mine = errorsAt(errors, path, true);
  const kids = children(c);
  if (c.type === "not") {
    const inner = kids[0] ?? newCondition("attribute");
    return (
      <div className="group group-not" data-testid={`cond-${path}`} data-type="not">
        <div className="group-head">
          <span className="group-op">NOT</span>
          <span className="cond-actions">
            <button type="button" className="btn btn-ghost btn-small" onClick={() => onChange(inner)}>Remove NOT</button>
            {onRemove && <button type="button" className="btn btn-ghost btn-small" aria-label="Remove group" onClick={onRemove}>✕</button>}
          </span>
        </div>
        <ConditionNode c={inner} path={childPath(path, c, 0)} errors={errors} depth={depth + 1}
          onChange={(next) => onChange({ ...c, condition: next })} />
        <Errors errors={mine} path={path} />
      </div>
    );
  }
  const setKid = (i: number, next: Cond) => onChange({ ...c, conditions: kids.map((k, j) => (j === i ? next : k)) });
  const removeKid = (i: number) => onChange({ ...c, conditions: kids.filter((_, j) => j !== i) });
  const add = (next: Cond) => onChange({ ...c, conditions: [...kids, next] });
  const joiner = c.type === "all" ? "AND" : "OR";
  return (
    <div className={`group group-${c.type} depth-${depth % 3}`} data-testid={`cond-${path}`} data-type={c.type}>
      <div className="group-head">
        <select aria-label="Group match" value={c.type} onChange={(e) => onChange({ ...c, type: e.target.value })}>
          <option value="all">All of (AND)</option>
          <option value="any">Any of (OR)</option>
        </select>
        <span className="cond-actions">
          <AddMenu onAdd={add} />
          <button type="button" className="btn btn-small" onClick={() => add({ type: c.type === "all" ? "any" : "all", conditions: [newCondition("attribute")] })}>+ Group</button>
          {onRemove && <button type="button" className="btn btn-ghost btn-small" title="Wrap in NOT" onClick={() => onChange({ type: "not", condition: c })}>NOT</button>}
          {onRemove && <button type="button" className="btn btn-ghost btn-small" aria-label="Remove group" onClick={onRemove}>✕</button>}
        </span>
      </div>
      {kids.length === 0 && <p className="muted small">Empty group: add a condition.</p>}
      {kids.map((kid, i) => (
        <div key={i} className="group-item">
          {i > 0 && <div className="joiner">{joiner}</div>}
          <ConditionNode c={kid} path={childPath(path, c, i)} errors={errors} depth={depth + 1}
            onChange={(next) => setKid(i, next)} onRemove={() => removeKid(i)} />
        </div>
      ))}
      <Errors errors={mine} path={path} />
    </div>
  );
}
