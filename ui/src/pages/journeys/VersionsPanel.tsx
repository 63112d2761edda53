// Version history: every saved version with when it was made and how many runs are still on
// it; "View" shows that version on the canvas, read-only.
import { api } from "../../api";
import { ErrorNote, Spinner } from "../../components/ui";
import { fmtShort } from "../../format";
import { useLoad } from "../../hooks";
import { migrationWords, type MigrationSummary } from "./MigrateDialog";
import type { Definition } from "./model";

export interface VersionRow { version: number; created_at: string; runs_active: number; runs_total?: number; migration?: MigrationSummary | null }
export interface PastVersion { version: number; definition: Definition }

export function VersionsPanel({ journeyId, current, viewing, onView, reloadKey }: {
  journeyId: string; current: number; viewing: number | null; onView: (v: PastVersion | null) => void; reloadKey: number;
}) {
  const list = useLoad(() => api.get<{ versions: VersionRow[] }>(`/api/v1/journeys/${encodeURIComponent(journeyId)}/versions`), [journeyId, reloadKey]);
  const view = async (n: number) => {
    if (n === current) return onView(null);
    onView(await api.get<PastVersion>(`/api/v1/journeys/${encodeURIComponent(journeyId)}/versions/${n}`));
  };
  const rows = [...(list.data?.versions ?? [])].sort((a, b) => b.version - a.version);
  return (
    <div className="jpanel" data-testid="versions-panel">
      <h3>Version history</h3>
      <ErrorNote error={list.error} />
      {!list.data ? (list.error ? null : <Spinner />) : (
        <table className="table compact">
          <thead><tr><th>Version</th><th>Saved</th><th title="active now / all runs ever on it">Runs on it</th><th /></tr></thead>
          <tbody>
            {rows.map((v) => (
              <tr key={v.version} data-testid="version-row" className={viewing === v.version || (viewing === null && v.version === current) ? "on" : ""}>
                <td className="mono">v{v.version}{v.version === current ? " (current)" : ""}</td>
                <td className="nowrap">{fmtShort(v.created_at)}</td>
                <td><span data-testid="version-runs">{v.runs_active}</span>{v.runs_total !== undefined && <span className="muted small"> / {v.runs_total}</span>}
                  {v.migration && <div className="muted small" data-testid="version-migration">{v.migration.mode === "move" ? migrationWords(v.migration) : "runs stayed on their version"}</div>}</td>
                <td>
                  <button type="button" className="btn btn-small" onClick={() => void view(v.version)}
                    disabled={viewing === v.version || (viewing === null && v.version === current)}>View</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p className="muted small">Runs stay on the version they started on unless a save moves them.</p>
    </div>
  );
}
