// Name, description, tags and the real-time switch: what every segment carries besides its rules.
import type { PathError } from "./types";

export interface Meta {
  name: string;
  description: string;
  tags: string[];
  realtime: boolean;
}

export const EMPTY_META: Meta = { name: "", description: "", tags: [], realtime: false };

/** "vip, Kyiv ,, spring" → ["vip", "Kyiv", "spring"]
 * >>> parseTags("a, b,,c") → ["a","b","c"] */
export function parseTags(text: string): string[] {
  return [...new Set(text.split(",").map((t) => t.trim()).filter(Boolean))];
}

export function MetaForm({ meta, onChange, errors }: { meta: Meta; onChange: (m: Meta) => void; errors: PathError[] }) {
  const errorOf = (field: string) => errors.find((e) => e.path === field || e.path.startsWith(`${field}.`) || e.path.startsWith(`${field}[`));
  const nameError = errorOf("name");
  return (
    <div className="meta-form" data-testid="meta-form">
      <label className="field">
        <span>Name</span>
        <input aria-label="Segment name" value={meta.name} placeholder="e.g. Loyal buyers in Kyiv"
          onChange={(e) => onChange({ ...meta, name: e.target.value })} aria-invalid={!!nameError} />
        {nameError && <small className="field-error">{nameError.reason}</small>}
      </label>
      <label className="field">
        <span>Description</span>
        <input aria-label="Description" value={meta.description} placeholder="who they are and why we target them"
          onChange={(e) => onChange({ ...meta, description: e.target.value })} />
      </label>
      <label className="field">
        <span>Tags</span>
        <input aria-label="Tags" defaultValue={meta.tags.join(", ")} placeholder="comma separated"
          onChange={(e) => onChange({ ...meta, tags: parseTags(e.target.value) })} />
        {errorOf("tags") && <small className="field-error">{errorOf("tags")!.reason}</small>}
      </label>
      <label className="check">
        <input type="checkbox" checked={meta.realtime} onChange={(e) => onChange({ ...meta, realtime: e.target.checked })} aria-label="Real-time" />
        <span>Real-time: update membership within a second of each event</span>
      </label>
    </div>
  );
}
