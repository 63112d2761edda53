// One segment: size and its history, members, entries and exits, explain, refresh, export.
import { useEffect, useState } from "react";
import { api, query, type Page } from "../api";
import { useCan } from "../auth";
import { Chart } from "../components/Chart";
import { Badge, Confirm, Empty, ErrorNote, Json, Section, Spinner } from "../components/ui";
import { fmtDate, fmtDay, fmtNumber, fmtShort } from "../format";
import { useInterval, useLoad } from "../hooks";
import { Link, navigate } from "../router";
import { UsedIn } from "./SegmentsPage";
import type { Explain, Member, MembershipEvent, RefreshResult, Segment, SizePoint } from "./segments/types";

const MEMBERS_PAGE = 50;
const LIVE_MS = 3000; // a real-time segment's size and entries refresh themselves this often

function segUrl(id: string, rest = ""): string {
  return `/api/v1/segments/${encodeURIComponent(id)}${rest}`;
}

export function SegmentPage({ id }: { id: string }) {
  const seg = useLoad(() => api.get<Segment>(segUrl(id)), [id]);
  const [version, setVersion] = useState(0); // bumps after a refresh so every panel reloads
  const [tick, setTick] = useState(0); // bumps every few seconds for a real-time segment
  useInterval(async () => {
    seg.reload();
    setTick((t) => t + 1);
  }, LIVE_MS, seg.data?.realtime === true);
  if (seg.error) {
    return <div className="page"><p className="crumbs"><Link to="/segments">← Segments</Link></p><ErrorNote error={seg.error} /></div>;
  }
  if (!seg.data) return <div className="page"><Spinner /></div>;
  const s = seg.data;
  const refreshed = () => {
    seg.reload();
    setVersion((v) => v + 1);
  };
  return (
    <div className="page" data-testid="segment-page">
      <p className="crumbs"><Link to="/segments">← Segments</Link></p>
      <Header s={s} onRefreshed={refreshed} />
      <div className="grid-360">
        <div className="col">
          <SizeHistory id={id} size={s.size} sizeAt={s.size_at} version={version} />
          <Members id={id} version={version} total={s.size} />
        </div>
        <div className="col">
          <About s={s} />
          <EntryExit id={id} version={version + tick} />
          <ExplainCard id={id} />
          <Revisions id={id} version={s.updated_at} />
        </div>
      </div>
    </div>
  );
}

function Header({ s, onRefreshed }: { s: Segment; onRefreshed: () => void }) {
  const canEdit = useCan("marketer");
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [result, setResult] = useState<RefreshResult | null>(null);
  const [deleting, setDeleting] = useState(false);
  const refresh = async () => {
    setBusy("refresh");
    setError(null);
    try {
      setResult(await api.post<RefreshResult>(segUrl(s.id, "/refresh")));
      onRefreshed();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };
  const exportAs = async (format: "csv" | "parquet") => {
    setBusy(format);
    setError(null);
    try {
      const blob = await api.blob(segUrl(s.id, `/export?format=${format}`));
      const url = URL.createObjectURL(blob);
      const a = Object.assign(document.createElement("a"), { href: url, download: `${s.name.replace(/[^\w.-]+/g, "_") || s.id}.${format}` });
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(null);
    }
  };
  const editUrl = s.kind === "sql" ? `/segments/${s.id}/sql` : `/segments/${s.id}/edit`;
  return (
    <>
      <div className="page-head">
        <div>
          <h1 data-testid="segment-name">{s.name} {s.realtime && <Badge tone="ok">real-time</Badge>} {s.kind === "sql" && <Badge tone="info">SQL</Badge>}</h1>
          {s.description && <p className="muted">{s.description}</p>}
          <div className="segment-size">
            <span className="stat-value" data-testid="segment-size">{s.size === null || s.size === undefined ? "—" : fmtNumber(s.size)}</span>
            <span className="muted"> contacts{s.size_at ? ` · computed ${fmtShort(s.size_at)}` : " · not computed yet"}</span>
            {s.realtime && <span className="live small" data-testid="live"><span className="live-dot" /> live</span>}
          </div>
        </div>
        <div className="head-actions">
          <button className="btn" onClick={() => void refresh()} disabled={!!busy}>{busy === "refresh" ? "Refreshing…" : "Refresh"}</button>
          <button className="btn" onClick={() => void exportAs("csv")} disabled={!!busy}>{busy === "csv" ? "Exporting…" : "Export CSV"}</button>
          <button className="btn" onClick={() => void exportAs("parquet")} disabled={!!busy}>{busy === "parquet" ? "Exporting…" : "Export Parquet"}</button>
          <Link className="btn btn-ghost" to={`/segments/flow?ids=${encodeURIComponent(s.id)}`}>Flow</Link>
          {canEdit && s.kind === "rules" && s.definition && (
            <Link className="btn" to={`/segments/new?name=${encodeURIComponent(`Copy of ${s.name}`)}&definition=${encodeURIComponent(JSON.stringify(s.definition))}`}>Duplicate</Link>
          )}
          {canEdit && <Link className="btn btn-primary" to={editUrl}>Edit</Link>}
          {canEdit && <button className="btn btn-danger-outline" onClick={() => setDeleting(true)}>Delete</button>}
        </div>
      </div>
      {result && (
        <div className="note note-success" data-testid="refresh-result">
          Refreshed in {fmtNumber(Math.round(result.elapsed_ms))} ms: {fmtNumber(result.size)} members
          {result.entered !== null && result.entered !== undefined && `, ${fmtNumber(result.entered)} entered, ${fmtNumber(result.exited)} left`}.
        </div>
      )}
      <ErrorNote error={error} />
      {deleting && (
        <Confirm title={`Delete “${s.name}”?`} confirmLabel="Delete" danger
          body={<p>The segment and its membership history are removed. Segments that use it must be changed first.</p>}
          onCancel={() => setDeleting(false)}
          onConfirm={async () => {
            await api.del(segUrl(s.id));
            navigate("/segments", true);
          }} />
      )}
    </>
  );
}

function About({ s }: { s: Segment }) {
  return (
    <Section title="About" testId="segment-about">
      <dl className="kv">
        <div className="kv-row"><dt>Id</dt><dd className="mono">{s.id}</dd></div>
        <div className="kv-row"><dt>Owner</dt><dd>{s.owner ?? "—"}</dd></div>
        <div className="kv-row"><dt>Tags</dt><dd>{s.tags.length ? s.tags.map((t) => <span key={t}><Badge>{t}</Badge> </span>) : "—"}</dd></div>
        <div className="kv-row"><dt>Used in</dt><dd data-testid="where-used"><UsedIn used={s.used_in} /></dd></div>
        <div className="kv-row"><dt>Created</dt><dd>{fmtDate(s.created_at)}</dd></div>
        <div className="kv-row"><dt>Updated</dt><dd>{fmtDate(s.updated_at)}</dd></div>
      </dl>
      {s.kind === "sql" ? (s.sql && <pre className="json sql">{s.sql}</pre>) : s.definition && (
        <details>
          <summary className="small">Definition (JSON)</summary>
          <Json value={s.definition} />
        </details>
      )}
    </Section>
  );
}

function SizeHistory({ id, size, sizeAt, version }: { id: string; size: number | null; sizeAt: string | null; version: number }) {
  const history = useLoad(() => api.get<{ items: SizePoint[] }>(segUrl(id, "/history?days=90")), [id, version]);
  const items = history.data?.items ?? [];
  return (
    <Section title="Size over 90 days" testId="size-history">
      <ErrorNote error={history.error} />
      {!history.data ? (history.error ? null : <Spinner />) : items.length === 0 ? (
        <Empty>No daily sizes recorded yet{size !== null && sizeAt ? `; today ${fmtNumber(size)}` : ""}.</Empty>
      ) : (
        <Chart name="Members" kind={items.length < 3 ? "bar" : "line"} color="#4f46e5" height={180} labelInterval="auto" ariaLabel="Segment size per day"
          labels={items.map((p) => fmtDay(p.day))} values={items.map((p) => p.size)} />
      )}
    </Section>
  );
}

function Members({ id, version, total }: { id: string; version: number; total: number | null }) {
  const [rows, setRows] = useState<Member[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [more, setMore] = useState(false);
  const url = (cursor: string | null) => segUrl(id, `/members${query({ limit: MEMBERS_PAGE, cursor })}`);
  useEffect(() => {
    let live = true;
    setRows(null);
    api.get<Page<Member>>(url(null)).then(
      (page) => live && (setRows(page.items), setNext(page.next_cursor), setError(null)),
      (err: Error) => live && (setError(err), setRows([])),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [id, version]);
  const loadMore = async () => {
    setMore(true);
    try {
      const page = await api.get<Page<Member>>(url(next));
      setRows((old) => [...(old ?? []), ...page.items]);
      setNext(page.next_cursor);
    } catch (err) {
      setError(err as Error);
    } finally {
      setMore(false);
    }
  };
  const shown = rows?.length ?? 0;
  return (
    <Section title="Members" testId="members" actions={rows && total !== null && total !== undefined ? (
      <span className="muted small" data-testid="members-shown">{fmtNumber(shown)} of {fmtNumber(Math.max(total, shown))}</span>
    ) : undefined}>
      <ErrorNote error={error} />
      {rows === null ? <Spinner /> : !rows.length ? <Empty>No members. Refresh to compute membership.</Empty> : (
        <table className="table compact" data-testid="members-table">
          <thead><tr><th>Contact</th><th>Email</th><th>Member since</th></tr></thead>
          <tbody>
            {rows.map((m) => (
              <tr key={m.contact_id}>
                <td><Link to={`/contacts/${m.contact_id}`}>{m.name || `Contact #${m.contact_id}`}</Link></td>
                <td>{m.email ?? "—"}</td>
                <td className="nowrap">{fmtShort(m.entered_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {next && (
        <div className="more">
          <button className="btn" onClick={() => void loadMore()} disabled={more}>{more ? "Loading…" : "Load more"}</button>
        </div>
      )}
    </Section>
  );
}

function EntryExit({ id, version }: { id: string; version: number }) {
  const events = useLoad(() => api.get<{ items: MembershipEvent[] }>(segUrl(id, "/events?limit=50")), [id, version]);
  const items = events.data?.items ?? [];
  return (
    <Section title="Entries and exits" testId="segment-events">
      <ErrorNote error={events.error} />
      {!events.data ? (events.error ? null : <Spinner />) : !items.length ? <Empty>No one has entered or left yet.</Empty> : (
        <table className="table compact">
          <thead><tr><th></th><th>Contact</th><th>When</th><th>Cause</th></tr></thead>
          <tbody>
            {items.map((e, i) => (
              <tr key={`${e.contact_id}-${e.at}-${i}`}>
                <td><Badge tone={e.kind === "entered" ? "ok" : "warn"}>{e.kind}</Badge></td>
                <td><Link to={`/contacts/${e.contact_id}`}>{e.name || e.email || `Contact #${e.contact_id}`}</Link></td>
                <td className="nowrap">{fmtShort(e.at)}</td>
                <td className="muted">{e.cause ?? "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function ExplainCard({ id }: { id: string }) {
  const [dialect, setDialect] = useState<"duckdb" | "clickhouse" | null>(null);
  const explain = useLoad(() => (dialect ? api.get<Explain>(segUrl(id, "/explain")) : Promise.resolve(null)), [id, dialect !== null]);
  return (
    <Section title="Explain" testId="explain" actions={
      <div className="tabs" role="tablist">
        <button role="tab" aria-selected={dialect === "duckdb"} className={dialect === "duckdb" ? "tab on" : "tab"} onClick={() => setDialect("duckdb")}>DuckDB SQL</button>
        <button role="tab" aria-selected={dialect === "clickhouse"} className={dialect === "clickhouse" ? "tab on" : "tab"} onClick={() => setDialect("clickhouse")}>ClickHouse SQL</button>
      </div>
    }>
      {!dialect ? <p className="muted small">The one query this segment compiles to, for each engine.</p> : (
        <>
          <ErrorNote error={explain.error} />
          {explain.data ? <pre className="json sql" data-testid="explain-sql">{explain.data[dialect]}</pre> : !explain.error && <Spinner />}
        </>
      )}
    </Section>
  );
}

interface Revision {
  revision: number;
  action: string;
  changed_at: string;
  changed_by: string | null;
  name: string;
  kind: string;
  definition: unknown;
  sql: string | null;
  params: Record<string, unknown>;
}

/** Who changed the segment, when, and what it was then. */
function Revisions({ id, version }: { id: string; version: string }) {
  const revs = useLoad(() => api.get<{ items: Revision[] }>(segUrl(id, "/revisions")), [id, version]);
  const items = [...(revs.data?.items ?? [])].reverse();
  return (
    <Section title="Changes" testId="revisions">
      <ErrorNote error={revs.error} />
      {!revs.data ? (revs.error ? null : <Spinner />) : !items.length ? <Empty>No changes recorded.</Empty> : (
        <ul className="revisions">
          {items.map((r) => (
            <li key={r.revision}>
              <details>
                <summary>
                  <strong>#{r.revision}</strong> {r.action} <span className="muted">· {fmtShort(r.changed_at)}{r.changed_by ? ` · ${r.changed_by}` : ""}</span>
                </summary>
                {r.kind === "sql" ? <pre className="json sql">{r.sql}</pre> : <Json value={r.definition} />}
              </details>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}
