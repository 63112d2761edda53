// One block: edit (a save appends a new version), its version history and where it is used.
import { useMemo, useState } from "react";
import { api, ApiError } from "../../api";
import { useCan } from "../../auth";
import { Badge, Confirm, Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtShort, humanize } from "../../format";
import { useLoad } from "../../hooks";
import { Link, navigate } from "../../router";
import { CodeView } from "./editor/CodeView";
import { MessagingNav } from "./nav";
import { BLOCK_KINDS, type Block, type BlockUser, type ParamSpec, type TemplateError } from "./types";

interface BlockDoc {
  name: string;
  kind: string;
  description: string;
  email: Record<string, string>;
  text: Record<string, string>;
  params: Record<string, ParamSpec>;
}

const NEW_BLOCK: BlockDoc = {
  name: "", kind: "text", description: "", text: {}, params: {},
  email: { en: "<mj-section>\n  <mj-column>\n    <mj-text>{{ contact.first_name | default(\"Hi\") }}</mj-text>\n  </mj-column>\n</mj-section>" },
};

function docOf(b: Block): BlockDoc {
  return { name: b.name, kind: b.kind, description: b.description, email: b.email, text: b.text, params: b.params };
}

export function BlockPage({ id }: { id?: string }) {
  const block = useLoad(() => (id ? api.get<Block>(`/api/v1/blocks/${encodeURIComponent(id)}`) : Promise.resolve(null)), [id]);
  if (block.error) return <div className="page"><p className="crumbs"><Link to="/messages/blocks">← Block library</Link></p><ErrorNote error={block.error} /></div>;
  if (id && !block.data) return <div className="page"><Spinner /></div>;
  return <BlockEditor key={`${id ?? "new"}:${block.data?.version ?? 0}`} stored={block.data} onSaved={block.reload} />;
}

function BlockEditor({ stored, onSaved }: { stored: Block | null; onSaved: () => void }) {
  const canEdit = useCan("marketer");
  const initial = useMemo(() => (stored ? docOf(stored) : NEW_BLOCK), [stored]);
  const [doc, setDoc] = useState<BlockDoc>(initial);
  const [error, setError] = useState<Error | null>(null);
  const [errors, setErrors] = useState<TemplateError[]>([]);
  const [saving, setSaving] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const dirty = JSON.stringify(doc) !== JSON.stringify(initial);
  const save = async () => {
    setSaving(true);
    setError(null);
    setErrors([]);
    try {
      const body = { ...doc, name: doc.name.trim() };
      if (stored) {
        await api.put(`/api/v1/blocks/${encodeURIComponent(stored.id)}`, body);
        onSaved();
      } else {
        const made = await api.post<{ id: string }>("/api/v1/blocks", body);
        navigate(`/messages/blocks/${made.id}`);
      }
    } catch (err) {
      setError(err as Error);
      if (err instanceof ApiError) setErrors(err.details.map((d) => d as unknown as TemplateError));
    } finally {
      setSaving(false);
    }
  };
  const remove = async () => {
    await api.del(`/api/v1/blocks/${encodeURIComponent(stored!.id)}`);
    navigate("/messages/blocks", true);
  };
  return (
    <div className="page" data-testid="block-editor">
      <p className="crumbs"><Link to="/messages/blocks">← Block library</Link></p>
      <div className="page-head">
        <div>
          <h1>{stored ? stored.name : "New block"}</h1>
          <p className="muted">{stored ? <>{stored.id} · <span data-testid="block-version">version {stored.version}</span> · {fmtShort(stored.updated_at ?? stored.created_at)}</> : "MJML for email, plain text for the text channels, in each language."}</p>
        </div>
        <div className="head-actions">
          {stored && canEdit && <button className="btn btn-danger-outline" onClick={() => setDeleting(true)}>Delete…</button>}
          {canEdit && (
            <button className="btn btn-primary" onClick={() => void save()} disabled={saving || !dirty || !doc.name.trim()}>
              {saving ? "Saving…" : stored ? "Save as new version" : "Create block"}
            </button>
          )}
        </div>
      </div>
      <MessagingNav />
      {error && <div className="note note-error" role="alert" data-testid="save-error">Not saved: {error.message}</div>}
      <div className="editor-grid">
        <div>
          <Section title="Block">
            <div className="message-meta">
              <label className="field"><span>Name</span>
                <input aria-label="Block name" value={doc.name} readOnly={!canEdit} maxLength={200} onChange={(e) => setDoc({ ...doc, name: e.target.value })} />
              </label>
              <label className="field"><span>Kind</span>
                <select aria-label="Kind" value={doc.kind} disabled={!canEdit} onChange={(e) => setDoc({ ...doc, kind: e.target.value })}>
                  {BLOCK_KINDS.map((k) => <option key={k} value={k}>{humanize(k)}</option>)}
                </select>
              </label>
              <label className="field"><span>Description</span>
                <input aria-label="Description" value={doc.description} readOnly={!canEdit} maxLength={2000} onChange={(e) => setDoc({ ...doc, description: e.target.value })} />
              </label>
            </div>
          </Section>
          <SourcesCard title="Email (MJML section)" kind="email" sources={doc.email} errors={errors} readOnly={!canEdit} onChange={(email) => setDoc({ ...doc, email })} />
          <SourcesCard title="Text (SMS, Viber, push, in-app)" kind="text" sources={doc.text} errors={errors} readOnly={!canEdit} onChange={(text) => setDoc({ ...doc, text })} />
          <ParamsCard params={doc.params} readOnly={!canEdit} onChange={(params) => setDoc({ ...doc, params })} />
        </div>
        <div className="editor-side">
          {stored && <UsedBy id={stored.id} />}
          {stored && <Versions id={stored.id} current={stored.version} canRestore={canEdit} onRestored={onSaved} />}
        </div>
      </div>
      {deleting && stored && (
        <Confirm title={`Delete “${stored.name}”?`} danger confirmLabel="Delete"
          body={<p>Refused while a message uses it. Its versions stay on record for the sends that used them.</p>}
          onConfirm={remove} onCancel={() => setDeleting(false)} />
      )}
    </div>
  );
}

function SourcesCard({ title, kind, sources, errors, readOnly, onChange }: {
  title: string; kind: "email" | "text"; sources: Record<string, string>; errors: TemplateError[]; readOnly: boolean;
  onChange: (s: Record<string, string>) => void;
}) {
  const langs = Object.keys(sources);
  const [lang, setLang] = useState(langs[0] ?? "");
  const [adding, setAdding] = useState("");
  const current = langs.includes(lang) ? lang : langs[0] ?? "";
  const own = errors.filter((e) => (e.path ?? e.template ?? "").startsWith(`${kind}.${current}`));
  return (
    <Section title={title} testId={`block-${kind}`}>
      <div className="lang-bar">
        <div className="tabs" role="tablist" aria-label={`${kind} languages`}>
          {langs.map((l) => <button key={l} role="tab" aria-selected={current === l} className={current === l ? "tab on" : "tab"} onClick={() => setLang(l)}>{l}</button>)}
        </div>
        {!readOnly && (
          <form className="add-language" onSubmit={(e) => {
            e.preventDefault();
            const l = adding.trim();
            if (l && !langs.includes(l)) onChange({ ...sources, [l]: sources[current] ?? "" });
            setLang(l);
            setAdding("");
          }}>
            <input aria-label={`New ${kind} language`} placeholder="en, uk…" value={adding} maxLength={35} onChange={(e) => setAdding(e.target.value)} />
            <button className="btn btn-small" type="submit" disabled={!adding.trim()}>+ Language</button>
          </form>
        )}
        {!readOnly && current && (
          <button type="button" className="btn btn-small btn-ghost" onClick={() => {
            const rest = { ...sources };
            delete rest[current];
            onChange(rest);
          }}>Remove {current}</button>
        )}
      </div>
      {!current ? <Empty>No {kind} source.</Empty> : (
        <>
          <textarea className="code" rows={10} spellCheck={false} readOnly={readOnly} aria-label={`${kind === "email" ? "MJML" : "Text"} (${current})`}
            value={sources[current] ?? ""} onChange={(e) => onChange({ ...sources, [current]: e.target.value })} />
          {own.length > 0 && <CodeView title={`${kind}.${current}`} source={sources[current] ?? ""} errors={own} testId="block-code-errors" />}
        </>
      )}
    </Section>
  );
}

/** Parameters as JSON: `{"title": {"default": "New in", "description": "…"}}`. */
function ParamsCard({ params, readOnly, onChange }: { params: Record<string, ParamSpec>; readOnly: boolean; onChange: (p: Record<string, ParamSpec>) => void }) {
  const [text, setText] = useState(() => JSON.stringify(params, null, 2));
  const [problem, setProblem] = useState<string | null>(null);
  return (
    <Section title="Parameters">
      <p className="muted small">Names a message can set per use, each with a default (a value, or <code>{"{\"var\": \"data.items\"}"}</code>).</p>
      <textarea className="code" rows={5} spellCheck={false} readOnly={readOnly} aria-label="Parameters JSON" value={text}
        onChange={(e) => {
          setText(e.target.value);
          try {
            const parsed = JSON.parse(e.target.value || "{}");
            if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("an object of parameters");
            setProblem(null);
            onChange(parsed as Record<string, ParamSpec>);
          } catch (err) {
            setProblem((err as Error).message);
          }
        }} />
      {problem && <p className="field-error">{problem}</p>}
    </Section>
  );
}

function UsedBy({ id }: { id: string }) {
  const users = useLoad(() => api.get<BlockUser[] | { items: BlockUser[] }>(`/api/v1/blocks/${encodeURIComponent(id)}/used-by`).then((a) => (Array.isArray(a) ? a : a.items)), [id]);
  return (
    <Section title="Used by" testId="used-by">
      <ErrorNote error={users.error} />
      {!users.data ? (users.error ? null : <Spinner />) : users.data.length === 0 ? <Empty>Not used yet.</Empty> : (
        <ul className="revisions">
          {users.data.map((u) => (
            <li key={`${u.owner_kind}:${u.owner_id}`}>
              {u.owner_kind === "message" ? <Link to={`/messages/${u.owner_id}`}>{u.name ?? u.owner_id}</Link> : <>{u.owner_kind}: {u.name ?? u.owner_id}</>}
              <span className="muted small"> · {u.channels.join(", ")}</span>
            </li>
          ))}
        </ul>
      )}
    </Section>
  );
}

function Versions({ id, current, canRestore, onRestored }: { id: string; current: number; canRestore: boolean; onRestored: () => void }) {
  const [error, setError] = useState<Error | null>(null);
  const restore = async (v: Block) => {
    setError(null);
    try {
      await api.put(`/api/v1/blocks/${encodeURIComponent(id)}`, docOf(v)); // an old version, saved as the newest
      onRestored();
    } catch (err) {
      setError(err as Error);
    }
  };
  const versions = useLoad(() => api.get<Block[] | { items: Block[] }>(`/api/v1/blocks/${encodeURIComponent(id)}/versions`).then((a) => (Array.isArray(a) ? a : a.items)), [id, current]);
  return (
    <Section title="Version history" testId="versions">
      <ErrorNote error={versions.error ?? error} />
      {!versions.data ? (versions.error ? null : <Spinner />) : (
        <ol className="revisions">
          {versions.data.map((v) => (
            <li key={v.version} data-testid="block-version-row">
              <details>
                <summary>
                  <strong>v{v.version}</strong> {v.version === current && <Badge tone="ok">latest</Badge>} <span className="muted small">{fmtShort(v.created_at)} · {v.name}</span>
                </summary>
                {canRestore && v.version !== current && (
                  <button type="button" className="btn btn-small" onClick={() => void restore(v)}>Restore as version {current + 1}</button>
                )}
                {Object.entries(v.email).map(([l, s]) => <CodeView key={`e${l}`} title={`email.${l}`} source={s} errors={[]} />)}
                {Object.entries(v.text).map(([l, s]) => <CodeView key={`t${l}`} title={`text.${l}`} source={s} errors={[]} />)}
              </details>
            </li>
          ))}
        </ol>
      )}
    </Section>
  );
}
