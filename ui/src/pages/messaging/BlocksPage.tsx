// The block library: reusable, versioned pieces of content (header, footer, product card…).
import { useState } from "react";
import { api } from "../../api";
import { useCan } from "../../auth";
import { Badge, Empty, ErrorNote, Spinner } from "../../components/ui";
import { fmtShort, humanize } from "../../format";
import { useLoad } from "../../hooks";
import { Link, navigate } from "../../router";
import { MessagingNav } from "./nav";
import { BLOCK_KINDS, itemsOf, type Block } from "./types";

export function BlocksPage() {
  const canEdit = useCan("marketer");
  const list = useLoad(() => api.get<Block[] | { items: Block[] }>("/api/v1/blocks").then(itemsOf), []);
  const [filter, setFilter] = useState("");
  const [kind, setKind] = useState("");
  const items = list.data;
  const shown = (items ?? []).filter((b) => `${b.name} ${b.description}`.toLowerCase().includes(filter.toLowerCase()) && (!kind || b.kind === kind));
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Block library</h1>
          <p className="muted">Edit a block once: every message that uses it gets the new version; each send records the version it used.</p>
        </div>
        {canEdit && <div className="head-actions"><Link to="/messages/blocks/new" className="btn btn-primary">New block</Link></div>}
      </div>
      <MessagingNav />
      <div className="search">
        <input type="search" aria-label="Filter blocks" placeholder="Filter by name or description" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <select aria-label="Block kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="">All kinds</option>
          {BLOCK_KINDS.map((k) => <option key={k} value={k}>{humanize(k)}</option>)}
        </select>
      </div>
      <ErrorNote error={list.error} />
      {!items ? (list.error ? null : <Spinner />) : !items.length ? (
        <Empty>No blocks yet. {canEdit && <Link to="/messages/blocks/new">Create the first one.</Link>}</Empty>
      ) : (
        <div className="card table-card">
          <table className="table" data-testid="blocks-table">
            <thead><tr><th>Name</th><th>Kind</th><th>Version</th><th>Sources</th><th>Updated</th></tr></thead>
            <tbody>
              {shown.map((b) => (
                <tr key={b.id} className="clickable" onClick={() => navigate(`/messages/blocks/${b.id}`)} data-testid="block-row">
                  <td>
                    <Link to={`/messages/blocks/${b.id}`} onClick={(e) => e.stopPropagation()}>{b.name}</Link>
                    {b.description && <div className="muted small">{b.description}</div>}
                  </td>
                  <td><Badge>{humanize(b.kind)}</Badge></td>
                  <td>v{b.version}</td>
                  <td className="small">
                    {Object.keys(b.email).length > 0 && <div>email: {Object.keys(b.email).join(", ")}</div>}
                    {Object.keys(b.text).length > 0 && <div>text: {Object.keys(b.text).join(", ")}</div>}
                  </td>
                  <td className="nowrap">{fmtShort(b.updated_at ?? b.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {!shown.length && <div className="card-body"><Empty>No block matches the filter.</Empty></div>}
        </div>
      )}
    </div>
  );
}
