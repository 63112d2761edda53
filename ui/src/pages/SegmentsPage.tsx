// The segment list: sizes, tags, real-time badge, where each one is used, last change.
import { useMemo, useState } from "react";
import { api } from "../api";
import { useCan } from "../auth";
import { Badge, Empty, ErrorNote, Spinner } from "../components/ui";
import { fmtNumber, fmtShort } from "../format";
import { useLoad } from "../hooks";
import { Link, navigate, useLocation } from "../router";
import type { Segment } from "./segments/types";

const SUBNAV = [
  { to: "/segments", label: "All segments" },
  { to: "/segments/rfm", label: "RFM" },
  { to: "/segments/flow", label: "Flow" },
];

export function SegmentsNav() {
  const { path } = useLocation();
  return (
    <nav className="subnav" aria-label="Segments">
      {SUBNAV.map((n) => (
        <Link key={n.to} to={n.to} className={path === n.to ? "on" : undefined} aria-current={path === n.to ? "page" : undefined}>{n.label}</Link>
      ))}
    </nav>
  );
}

type SortKey = "name" | "size" | "updated";

/** Name A→Z; size and last change largest / newest first. */
function sortSegments(rows: Segment[], key: SortKey): Segment[] {
  const out = [...rows];
  if (key === "name") out.sort((a, b) => a.name.localeCompare(b.name));
  if (key === "size") out.sort((a, b) => (b.size ?? -1) - (a.size ?? -1));
  if (key === "updated") out.sort((a, b) => b.updated_at.localeCompare(a.updated_at));
  return out;
}

export function SegmentsPage() {
  const canEdit = useCan("marketer");
  const list = useLoad(() => api.get<{ items: Segment[] }>("/api/v1/segments"), []);
  const [filter, setFilter] = useState("");
  const [tag, setTag] = useState("");
  const [sort, setSort] = useState<SortKey>("updated");
  const items = list.data?.items;
  const tags = useMemo(() => [...new Set((items ?? []).flatMap((s) => s.tags))].sort(), [items]);
  const shown = sortSegments((items ?? []).filter((s) => {
    const text = `${s.name} ${s.description ?? ""} ${s.tags.join(" ")}`.toLowerCase();
    return text.includes(filter.toLowerCase()) && (!tag || s.tags.includes(tag));
  }), sort);
  const head = (key: SortKey, label: string, className?: string) => (
    <th className={className} aria-sort={sort === key ? (key === "name" ? "ascending" : "descending") : undefined}>
      <button type="button" className="sort" onClick={() => setSort(key)}>{label}{sort === key ? (key === "name" ? " ↑" : " ↓") : ""}</button>
    </th>
  );
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Segments</h1>
          <p className="muted">Who is in each audience, how big it is, and where it is used.</p>
        </div>
        {canEdit && (
          <div className="head-actions">
            <Link to="/segments/sql/new" className="btn">New SQL segment</Link>
            <Link to="/segments/new" className="btn btn-primary">New segment</Link>
          </div>
        )}
      </div>
      <SegmentsNav />
      <div className="search">
        <input type="search" aria-label="Filter segments" placeholder="Filter by name, description or tag"
          value={filter} onChange={(e) => setFilter(e.target.value)} />
        {tags.length > 0 && (
          <select aria-label="Tag" value={tag} onChange={(e) => setTag(e.target.value)}>
            <option value="">All tags</option>
            {tags.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        )}
      </div>
      <ErrorNote error={list.error} />
      {!items ? (list.error ? null : <Spinner />) : !items.length ? (
        <Empty>No segments yet. {canEdit && <Link to="/segments/new">Build the first one.</Link>}</Empty>
      ) : (
        <div className="card table-card">
          <table className="table" data-testid="segments-table">
            <thead>
              <tr>
                {head("name", "Name")}{head("size", "Size", "right")}<th>Tags</th><th>Used in</th><th>Kind</th>{head("updated", "Updated")}
              </tr>
            </thead>
            <tbody>
              {shown.map((s) => (
                <tr key={s.id} className="clickable" onClick={() => navigate(`/segments/${s.id}`)}>
                  <td>
                    <Link to={`/segments/${s.id}`} onClick={(e) => e.stopPropagation()}>{s.name}</Link>
                    {s.realtime && <> <Badge tone="ok">real-time</Badge></>}
                    {s.description && <div className="muted small">{s.description}</div>}
                  </td>
                  <td className="right nowrap" data-testid="segment-size" title={s.size_at ? `as of ${fmtShort(s.size_at)}` : "not computed yet"}>
                    {s.size === null || s.size === undefined ? "—" : fmtNumber(s.size)}
                  </td>
                  <td>{s.tags.map((t) => <span key={t}><Badge>{t}</Badge> </span>)}</td>
                  <td><UsedIn used={s.used_in} /></td>
                  <td>{s.kind === "sql" ? <Badge tone="info">SQL</Badge> : "rules"}</td>
                  <td className="nowrap">{fmtShort(s.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {!shown.length && <div className="card-body"><Empty>No segment matches the filter.</Empty></div>}
        </div>
      )}
    </div>
  );
}

export function UsedIn({ used }: { used: Segment["used_in"] }) {
  if (!used?.length) return <span className="muted">—</span>;
  return (
    <span className="used-in">
      {used.map((u) => (
        <span key={`${u.kind}:${u.id}`} className="small">
          {u.kind === "segment" ? <Link to={`/segments/${u.id}`} onClick={(e) => e.stopPropagation()}>{u.name}</Link> : <>{u.kind}: {u.name}</>}
        </span>
      ))}
    </span>
  );
}
