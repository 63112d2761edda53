// The SQL editor for SQL-template segments: a SELECT over the documented views with @params,
// checked by the server's sandbox before it runs, previewed, saved.
import { useMemo, useRef, useState } from "react";
import { api } from "../api";
import { useCan } from "../auth";
import { ErrorNote, Section, Spinner } from "../components/ui";
import { useLoad } from "../hooks";
import { Link, navigate } from "../router";
import { EMPTY_META, MetaForm, type Meta } from "./segments/MetaForm";
import { ParamsPanel } from "./segments/ParamsPanel";
import { PreviewPanel } from "./segments/PreviewPanel";
import type { ParamDecl } from "./segments/model";
import { caretSnippet, lineCol, offsetOf, sqlParams } from "./segments/sqltext";
import type { PathError, Segment, SegmentBody, SqlCheck, SqlPosition } from "./segments/types";
import { pathErrors, usePreview } from "./segments/usePreview";

const STARTER = `-- Contacts with at least @min_orders orders in the last 90 days
SELECT contact_id
FROM orders
WHERE placed_at >= now() - INTERVAL 90 DAY
GROUP BY contact_id
HAVING count(*) >= @min_orders`;

const VIEWS = ["contacts", "identities", "events", "orders", "order_items", "products", "consents",
  "message_events", "contact_traits", "data_<table>"];

export function SqlSegmentPage({ id }: { id?: string }) {
  const existing = useLoad(() => (id ? api.get<Segment>(`/api/v1/segments/${encodeURIComponent(id)}`) : Promise.resolve(null)), [id]);
  if (existing.error) return <div className="page"><ErrorNote error={existing.error} /></div>;
  if (id && !existing.data) return <div className="page"><Spinner /></div>;
  const seg = existing.data;
  const meta: Meta = seg ? { name: seg.name, description: seg.description ?? "", tags: seg.tags, realtime: seg.realtime } : EMPTY_META;
  return <SqlEditor key={id ?? "new"} id={id ?? null} initialMeta={meta} initialSql={seg?.sql ?? STARTER}
    initialParams={seg ? declsFrom(seg.params) : { min_orders: { type: "number", default: 2 } }} />;
}

/** Stored params (`{name: {type, default}}` or `{name: value}`) as declarations. */
function declsFrom(params: Segment["params"]): Record<string, ParamDecl> {
  const out: Record<string, ParamDecl> = {};
  for (const [name, v] of Object.entries(params ?? {})) {
    if (v && typeof v === "object" && !Array.isArray(v) && "type" in v) out[name] = v as ParamDecl;
    else out[name] = { type: typeof v === "number" ? "number" : "text", default: v };
  }
  return out;
}

/** Declarations for exactly the params the text uses, keeping what the user already set. */
function syncDecls(sql: string, old: Record<string, ParamDecl>): Record<string, ParamDecl> {
  const out: Record<string, ParamDecl> = {};
  for (const name of sqlParams(sql)) out[name] = old[name] ?? { type: "number", default: "" };
  return out;
}

/** The values bound to each parameter, as the check and preview endpoints take them. */
function paramValues(decls: Record<string, ParamDecl>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(decls).map(([k, d]) => [k, d.default ?? null]));
}

function SqlEditor({ id, initialMeta, initialSql, initialParams }: {
  id: string | null;
  initialMeta: Meta;
  initialSql: string;
  initialParams: Record<string, ParamDecl>;
}) {
  const canEdit = useCan("marketer");
  const [meta, setMeta] = useState(initialMeta);
  const [sql, setSql] = useState(initialSql);
  const [decls, setDecls] = useState(() => syncDecls(initialSql, initialParams));
  const [check, setCheck] = useState<SqlCheck | null>(null);
  const [checkError, setCheckError] = useState<Error | null>(null);
  const [checking, setChecking] = useState(false);
  const [checkedSql, setCheckedSql] = useState<string | null>(null);
  const [saveError, setSaveError] = useState<Error | null>(null);
  const [saveErrors, setSaveErrors] = useState<PathError[]>([]);
  const [saving, setSaving] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);

  const params = paramValues(decls);
  const okToPreview = check?.ok === true && checkedSql === sql;
  const body: SegmentBody | null = useMemo(
    () => (okToPreview ? { kind: "sql", sql, params } : null),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [okToPreview, sql, JSON.stringify(params)],
  );
  const preview = usePreview(body);

  const edit = (text: string) => {
    setSql(text);
    setDecls((old) => syncDecls(text, old));
  };
  const runCheck = async () => {
    setChecking(true);
    setCheckError(null);
    try {
      setCheck(await api.post<SqlCheck>("/api/v1/segments/sql/check", { sql, params }));
      setCheckedSql(sql);
    } catch (err) {
      setCheck(null);
      setCheckError(err as Error);
    } finally {
      setChecking(false);
    }
  };
  const jumpTo = (position: number) => {
    const el = area.current;
    if (!el) return;
    el.focus();
    el.setSelectionRange(position, Math.min(sql.length, position + 1));
  };
  const save = async () => {
    setSaving(true);
    setSaveError(null);
    setSaveErrors([]);
    const payload: SegmentBody = {
      kind: "sql", sql, params, name: meta.name.trim(), description: meta.description, tags: meta.tags, realtime: meta.realtime,
    };
    try {
      const saved = id
        ? await api.put<Segment>(`/api/v1/segments/${encodeURIComponent(id)}`, payload)
        : await api.post<Segment>("/api/v1/segments", payload);
      navigate(`/segments/${saved.id}`);
    } catch (err) {
      setSaveError(err as Error);
      setSaveErrors(pathErrors(err));
    } finally {
      setSaving(false);
    }
  };
  const lines = sql.split("\n").length;

  return (
    <div className="page" data-testid="sql-editor">
      <p className="crumbs"><Link to={id ? `/segments/${id}` : "/segments"}>← {id ? "Segment" : "Segments"}</Link></p>
      <div className="page-head">
        <div>
          <h1>{id ? `Edit ${initialMeta.name}` : "New SQL segment"}</h1>
          <p className="muted">One read-only SELECT over the documented views that returns <code>contact_id</code>; <code>@name</code> marks a parameter.</p>
        </div>
        <div className="head-actions">
          {!id && <Link to="/segments/new" className="btn btn-ghost">Use the builder instead</Link>}
          {canEdit && (
            <button className="btn btn-primary" onClick={() => void save()} disabled={saving || !meta.name.trim() || !okToPreview}
              title={okToPreview ? "" : "Check the query first"}>
              {saving ? "Saving…" : "Save segment"}
            </button>
          )}
        </div>
      </div>
      {saveError && (
        <div className="note note-error" role="alert" data-testid="save-errors">
          {saveError.message}
          {saveErrors.length > 0 && <ul>{saveErrors.map((e, i) => <li key={i}><code>{e.path}</code>: {e.reason}</li>)}</ul>}
        </div>
      )}
      <div className="builder-grid">
        <div>
          <Section title="Segment"><MetaForm meta={meta} onChange={setMeta} errors={saveErrors} /></Section>
          <Section title="Query" actions={
            <button className="btn" onClick={() => void runCheck()} disabled={checking || !sql.trim()}>{checking ? "Checking…" : "Check"}</button>
          }>
            <div className="code-editor">
              <pre className="gutter" aria-hidden="true">{Array.from({ length: lines }, (_, i) => i + 1).join("\n")}</pre>
              <textarea ref={area} className="code" aria-label="SQL" data-testid="sql-text" spellCheck={false} rows={Math.max(10, lines + 1)}
                value={sql} onChange={(e) => edit(e.target.value)}
                onKeyDown={(e) => {
                  if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
                    e.preventDefault();
                    void runCheck();
                  }
                }} />
            </div>
            <p className="muted small">Views: {VIEWS.map((v) => <code key={v}>{v} </code>)} · Ctrl+Enter checks.</p>
            <ErrorNote error={checkError} />
            {check && checkedSql !== sql && <p className="muted small">The query changed since the last check.</p>}
            {check && (check.ok ? (
              <div className="note note-success" data-testid="sql-ok">
                The query is allowed{check.views_used.length ? `; it reads ${check.views_used.join(", ")}` : ""}.
              </div>
            ) : (
              <div className="note note-error" role="alert" data-testid="sql-errors">
                <strong>Rejected:</strong>
                <ul>
                  {check.errors.map((e, i) => (
                    <SqlProblemItem key={i} reason={e.reason} position={e.position} sql={checkedSql ?? sql} onJump={jumpTo} />
                  ))}
                </ul>
              </div>
            ))}
          </Section>
          <Section title="Parameters">
            <ParamsPanel params={decls} onChange={setDecls} hint="Write @name in the query to add a parameter." />
          </Section>
        </div>
        <div className="builder-side">
          {okToPreview ? <PreviewPanel state={preview} title="Preview" /> : (
            <Section title="Preview"><p className="muted">Check the query to see who it finds.</p></Section>
          )}
        </div>
      </div>
    </div>
  );
}

function SqlProblemItem({ reason, position, sql, onJump }: {
  reason: string;
  position: SqlPosition | null | undefined;
  sql: string;
  onJump: (offset: number) => void;
}) {
  if (position === null || position === undefined) return <li>{reason}</li>;
  reason = reason.replace(/ \(line \d+, column \d+\)$/, ""); // shown as a link below
  const offset = typeof position === "number" ? position : offsetOf(sql, position.line, position.column);
  const { line, column } = lineCol(sql, offset);
  return (
    <li>
      {reason}{" "}
      <button type="button" className="link" onClick={() => onJump(offset)}>line {line}, column {column}</button>
      <pre className="caret">{caretSnippet(sql, offset)}</pre>
    </li>
  );
}
