// Saving a live journey: the runs in flight either stay on the version they started on, or
// move to the new one — a run waiting at a node that is gone moves to the node chosen here.
import { useState } from "react";
import { api } from "../../api";
import { ErrorNote } from "../../components/ui";
import { useLoad } from "../../hooks";
import type { VersionRow } from "./VersionsPanel";

export interface Migrate { mode: "stay" | "move"; node_map: Record<string, string> }
/** What a save did to the runs in flight (the PUT answer's and each version's `migration`). */
export interface MigrationSummary { mode: string; moved: number; stayed: number; reasons: Record<string, number> }

/** "1 run moved; 2 stayed (node 'x' is not in version 3: 2)." */
export function migrationWords(m: MigrationSummary): string {
  const runs = (n: number) => `${n} run${n === 1 ? "" : "s"}`;
  const why = Object.entries(m.reasons ?? {}).map(([reason, n]) => `${reason}: ${n}`).join("; ");
  if (!m.moved && !m.stayed) return "No runs were in flight.";
  return `${runs(m.moved)} moved to it; ${m.stayed} stayed${why ? ` (${why})` : ""}.`;
}

/** The nodes of the saved version that the new one no longer has. */
export function goneNodes(oldIds: string[], newIds: string[]): string[] {
  const now = new Set(newIds);
  return oldIds.filter((id) => !now.has(id));
}

export function MigrateDialog({ journeyId, oldIds, newIds, onSave, onCancel }: {
  journeyId: string; oldIds: string[]; newIds: string[];
  onSave: (m: Migrate) => Promise<void>; onCancel: () => void;
}) {
  const versions = useLoad(() => api.get<{ versions: VersionRow[] }>(`/api/v1/journeys/${encodeURIComponent(journeyId)}/versions`), [journeyId]);
  const runsActive = versions.data ? versions.data.versions.reduce((s, v) => s + (v.runs_active ?? 0), 0) : null;
  const [mode, setMode] = useState<Migrate["mode"]>("stay");
  const gone = goneNodes(oldIds, newIds);
  const [map, setMap] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      const node_map = Object.fromEntries(Object.entries(map).filter(([k, v]) => v && gone.includes(k)));
      await onSave({ mode, node_map: mode === "move" ? node_map : {} });
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };
  return (
    <div className="modal-backdrop" onClick={onCancel}>
      <div className="modal" role="dialog" aria-modal="true" aria-label="Save a live journey" onClick={(e) => e.stopPropagation()}>
        <h3>Save a live journey</h3>
        <div className="modal-body">
          <p data-testid="runs-in-flight">{runsActive === null ? "Runs may be in flight." : `${runsActive} run${runsActive === 1 ? " is" : "s are"} in flight.`} What happens to them?</p>
          <label className="radio-row"><input type="radio" name="migrate" checked={mode === "stay"} onChange={() => setMode("stay")} />
            Keep runs on their version (new entries use the new version)</label>
          <label className="radio-row"><input type="radio" name="migrate" checked={mode === "move"} onChange={() => setMode("move")} />
            Move runs to the new version</label>
          {mode === "move" && gone.length > 0 && (
            <div className="migrate-map" data-testid="migrate-map">
              <p className="small">A run waiting at a step that is gone continues at:</p>
              {gone.map((id) => (
                <label key={id} className="field"><span className="mono">{id} →</span>
                  <select aria-label={`Move runs at ${id} to`} value={map[id] ?? ""} onChange={(e) => setMap({ ...map, [id]: e.target.value })}>
                    <option value="">— leave them on their version —</option>
                    {newIds.map((n) => <option key={n} value={n}>{n}</option>)}
                  </select>
                </label>
              ))}
            </div>
          )}
        </div>
        <ErrorNote error={error} />
        <div className="modal-actions">
          <button type="button" className="btn" onClick={onCancel} disabled={busy}>Cancel</button>
          <button type="button" className="btn btn-primary" onClick={() => void save()} disabled={busy}>{busy ? "Saving…" : "Save new version"}</button>
        </div>
      </div>
    </div>
  );
}
