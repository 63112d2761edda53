// The journey list: name, status, version, last change; status actions per row.
import { api } from "../../api";
import { useCan } from "../../auth";
import { Badge, Empty, ErrorNote, Spinner } from "../../components/ui";
import { fmtShort } from "../../format";
import { useLoad } from "../../hooks";
import { Link, navigate, useLocation } from "../../router";
import { StatusActions } from "./StatusActions";
import { STATUS_TONE, type JourneySummary } from "./types";

export function JourneysNav() {
  const { path } = useLocation();
  const tab = (to: string) => (path === to ? "tab on" : "tab");
  return (
    <div className="tabs page-tabs" role="navigation" aria-label="Journeys">
      <Link to="/journeys" className={tab("/journeys")}>Journeys</Link>
      <Link to="/journeys/templates" className={tab("/journeys/templates")}>Ready scenarios</Link>
      <Link to="/policy" className={tab("/policy")}>Contact policy</Link>
    </div>
  );
}

export function JourneysPage() {
  const canEdit = useCan("marketer");
  const list = useLoad(() => api.get<{ items: JourneySummary[] }>("/api/v1/journeys"), []);
  const items = list.data?.items;
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Journeys</h1>
          <p className="muted">Triggered flows (events, segments, schedules, dates, lists, messages, goals): sends, cascades, waits, conditions, splits, actions and goals.</p>
        </div>
        {canEdit && (
          <div className="head-actions">
            <Link to="/journeys/templates" className="btn">Create from a ready scenario</Link>
            <Link to="/journeys/new" className="btn btn-primary">New journey</Link>
          </div>
        )}
      </div>
      <JourneysNav />
      <ErrorNote error={list.error} />
      {!items ? (list.error ? null : <Spinner />) : !items.length ? (
        <Empty>No journeys yet. {canEdit && <Link to="/journeys/new">Build the first one.</Link>}</Empty>
      ) : (
        <div className="card table-card">
          <table className="table" data-testid="journeys-table">
            <thead><tr><th>Name</th><th>Status</th><th>Version</th><th>Updated</th>{canEdit && <th />}</tr></thead>
            <tbody>
              {items.map((j) => (
                <tr key={j.id} className="clickable" data-testid="journey-row" onClick={() => navigate(`/journeys/${j.id}`)}>
                  <td><Link to={`/journeys/${j.id}`} onClick={(e) => e.stopPropagation()}>{j.name}</Link></td>
                  <td><Badge tone={STATUS_TONE[j.status] ?? "neutral"}>{j.status}</Badge></td>
                  <td className="mono">v{j.version}</td>
                  <td className="nowrap">{fmtShort(j.updated_at)}</td>
                  {canEdit && <td className="right"><StatusActions journey={j} onChange={list.reload} /></td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
