// The campaign list: name, status, audience, schedule, progress.
import { api } from "../../api";
import { useCan } from "../../auth";
import { Badge, Empty, ErrorNote, Spinner } from "../../components/ui";
import { fmtShort } from "../../format";
import { useLoad } from "../../hooks";
import { Link, navigate } from "../../router";
import { STATUS_TONE, type Campaign } from "./types";

export function CampaignsPage() {
  const canEdit = useCan("marketer");
  const list = useLoad(() => api.get<{ items: Campaign[] }>("/api/v1/campaigns"), []);
  const items = list.data?.items;
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Campaigns</h1>
          <p className="muted">One-off sends to a segment: A/B/n tests, holdouts, local-time schedules, throttling.</p>
        </div>
        {canEdit && <div className="head-actions"><Link to="/campaigns/new" className="btn btn-primary">New campaign</Link></div>}
      </div>
      <ErrorNote error={list.error} />
      {!items ? (list.error ? null : <Spinner />) : !items.length ? (
        <Empty>No campaigns yet. {canEdit && <Link to="/campaigns/new">Start one.</Link>}</Empty>
      ) : (
        <div className="card table-card">
          <table className="table" data-testid="campaigns-table">
            <thead><tr><th>Name</th><th>Status</th><th>Content</th><th>Scheduled</th><th>Finished</th></tr></thead>
            <tbody>
              {items.map((c) => (
                <tr key={c.id} className="clickable" data-testid="campaign-row" onClick={() => navigate(`/campaigns/${c.id}`)}>
                  <td><Link to={`/campaigns/${c.id}`} onClick={(e) => e.stopPropagation()}>{c.name}</Link></td>
                  <td><Badge tone={STATUS_TONE[c.status] ?? "neutral"}>{c.status}</Badge></td>
                  <td>{c.definition.variants?.length ? `A/B/${c.definition.variants.length > 2 ? "n" : ""} · ${c.definition.variants.length} variants` : "one message"}</td>
                  <td className="nowrap">{c.scheduled_at ? fmtShort(c.scheduled_at) : "—"}</td>
                  <td className="nowrap">{c.finished_at ? fmtShort(c.finished_at) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
