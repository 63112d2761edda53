// The visual segment builder: the condition tree, parameters, a JSON view, the live count, save.
import { useEffect, useMemo, useState } from "react";
import { api } from "../api";
import { useCan } from "../auth";
import { ErrorNote, Section, Spinner } from "../components/ui";
import { useLoad } from "../hooks";
import { Link, navigate, useLocation } from "../router";
import { BuilderContext, type BuilderEnv } from "./segments/builder/inputs";
import { ConditionNode } from "./segments/builder/Tree";
import { EMPTY_META, MetaForm, type Meta } from "./segments/MetaForm";
import { ParamsPanel } from "./segments/ParamsPanel";
import { PreviewPanel } from "./segments/PreviewPanel";
import { emptyDefinition, errorsOutsideTree, newCondition, syncParams, type Cond, type Definition } from "./segments/model";
import type { Fields, PathError, Segment, SegmentBody } from "./segments/types";
import { pathErrors, usePreview } from "./segments/usePreview";

/** The definition a new segment starts from; `?rfm=champions` starts from that RFM cell. */
function startingDefinition(search: URLSearchParams): Definition {
  const cell = search.get("rfm");
  if (cell) return { version: 1, root: { type: "all", conditions: [{ type: "rfm", cells: [cell] }] } };
  const from = search.get("definition");
  if (from) {
    try {
      return JSON.parse(from) as Definition;
    } catch {
      /* fall through to the empty definition */
    }
  }
  return emptyDefinition();
}

export function SegmentEditPage({ id }: { id?: string }) {
  const { search } = useLocation();
  const existing = useLoad(() => (id ? api.get<Segment>(`/api/v1/segments/${encodeURIComponent(id)}`) : Promise.resolve(null)), [id]);
  if (existing.error) return <div className="page"><ErrorNote error={existing.error} /></div>;
  if (id && !existing.data) return <div className="page"><Spinner /></div>;
  const seg = existing.data;
  const meta: Meta = seg
    ? { name: seg.name, description: seg.description ?? "", tags: seg.tags, realtime: seg.realtime }
    : { ...EMPTY_META, name: search.get("name") ?? "" };
  const def = seg?.definition ?? startingDefinition(search);
  return <Builder key={id ?? `new?${search.toString()}`} id={id ?? null} initialMeta={meta} initialDefinition={def} />;
}

function Builder({ id, initialMeta, initialDefinition }: { id: string | null; initialMeta: Meta; initialDefinition: Definition }) {
  const canEdit = useCan("marketer");
  const [meta, setMeta] = useState<Meta>(initialMeta);
  const [def, setDef] = useState<Definition>(initialDefinition);
  const [view, setView] = useState<"visual" | "json">("visual");
  const [saveErrors, setSaveErrors] = useState<PathError[]>([]);
  const [saveError, setSaveError] = useState<Error | null>(null);
  const [saving, setSaving] = useState(false);
  const dirty = JSON.stringify([meta, def]) !== JSON.stringify([initialMeta, initialDefinition]);
  useEffect(() => {
    if (!dirty || saving) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault(); // the browser asks "leave the page?"
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty, saving]);
  const fields = useLoad(() => api.get<Fields>("/api/v1/segments/fields"), []);
  const segments = useLoad(() => api.get<{ items: Segment[] }>("/api/v1/segments"), []);
  const env: BuilderEnv = useMemo(() => ({
    fields: fields.data,
    segments: (segments.data?.items ?? []).map((s) => ({ id: s.id, name: s.name })),
    selfId: id,
  }), [fields.data, segments.data, id]);

  const body: SegmentBody = useMemo(() => ({ kind: "rules", definition: def, ...(meta.name.trim() ? { name: meta.name.trim() } : {}) }), [def, meta.name]);
  const preview = usePreview(body);
  const errors = saveErrors.length ? saveErrors : preview.errors;
  const setRoot = (root: Cond) => {
    setSaveErrors([]);
    setDef(syncParams({ ...def, root }));
  };

  const save = async () => {
    setSaving(true);
    setSaveError(null);
    setSaveErrors([]);
    const payload: SegmentBody = {
      kind: "rules", definition: def, name: meta.name.trim(), description: meta.description, tags: meta.tags, realtime: meta.realtime,
    };
    try {
      const saved = id
        ? await api.put<Segment>(`/api/v1/segments/${encodeURIComponent(id)}`, payload)
        : await api.post<Segment>("/api/v1/segments", payload);
      navigate(`/segments/${saved.id}`);
    } catch (err) {
      setSaveErrors(pathErrors(err));
      setSaveError(err as Error);
    } finally {
      setSaving(false);
    }
  };

  const outside = errorsOutsideTree(errors).filter((e) => e.path !== "name" && e.path !== "tags");
  return (
    <div className="page" data-testid="segment-builder">
      <p className="crumbs"><Link to={id ? `/segments/${id}` : "/segments"}>← {id ? "Segment" : "Segments"}</Link></p>
      <div className="page-head">
        <div>
          <h1>{id ? `Edit ${initialMeta.name}` : "New segment"}</h1>
          <p className="muted">Conditions on profiles, events, orders, messages, consents, traits, RFM cells and other segments.</p>
        </div>
        <div className="head-actions">
          {!id && <Link to="/segments/sql/new" className="btn btn-ghost">Write SQL instead</Link>}
          {canEdit && (
            <button className="btn btn-primary" onClick={() => void save()} disabled={saving || !meta.name.trim()}
              title={meta.name.trim() ? undefined : "Give the segment a name first"}>
              {saving ? "Saving…" : "Save segment"}
            </button>
          )}
        </div>
      </div>
      {saveError && !saveErrors.length && <ErrorNote error={saveError} />}
      {saveErrors.length > 0 && (
        <div className="note note-error" role="alert" data-testid="save-errors">
          Not saved: {saveErrors.length === 1 ? "1 problem" : `${saveErrors.length} problems`} (marked below).
        </div>
      )}
      <div className="builder-grid">
        <div>
          <Section title="Segment">
            <MetaForm meta={meta} onChange={setMeta} errors={errors} />
          </Section>
          <section className="card">
            <header className="card-head">
              <h2>Conditions</h2>
              <div className="tabs" role="tablist">
                <button role="tab" aria-selected={view === "visual"} className={view === "visual" ? "tab on" : "tab"} onClick={() => setView("visual")}>Visual</button>
                <button role="tab" aria-selected={view === "json"} className={view === "json" ? "tab on" : "tab"} onClick={() => setView("json")}>JSON</button>
              </div>
            </header>
            <div className="card-body">
              {outside.length > 0 && (
                <ul className="cond-errors" role="alert" data-testid="errors-definition">
                  {outside.map((e, i) => <li key={i}><code>{e.path}</code>: {e.reason}</li>)}
                </ul>
              )}
              {view === "visual" ? (
                <BuilderContext.Provider value={env}>
                  <ConditionNode c={def.root} path="root" errors={errors} onChange={setRoot} />
                  {def.root.type !== "all" && def.root.type !== "any" && (
                    <div className="form-actions">
                      <button type="button" className="btn btn-small" onClick={() => setRoot({ type: "all", conditions: [def.root, newCondition("attribute")] })}>+ AND condition</button>
                      <button type="button" className="btn btn-small" onClick={() => setRoot({ type: "any", conditions: [def.root, newCondition("attribute")] })}>+ OR condition</button>
                    </div>
                  )}
                </BuilderContext.Provider>
              ) : (
                <JsonEditor def={def} onChange={(d) => { setSaveErrors([]); setDef(syncParams(d)); }} />
              )}
            </div>
          </section>
          <Section title="Parameters">
            <ParamsPanel params={def.params ?? {}} onChange={(params) => setDef({ ...def, params })} />
          </Section>
        </div>
        <div className="builder-side">
          <PreviewPanel state={preview} />
        </div>
      </div>
    </div>
  );
}

/** The definition as JSON text; applied while it parses, the parse error shown otherwise. */
function JsonEditor({ def, onChange }: { def: Definition; onChange: (d: Definition) => void }) {
  const [text, setText] = useState(() => JSON.stringify(def, null, 2));
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    setText((old) => {
      try {
        return JSON.stringify(JSON.parse(old)) === JSON.stringify(def) ? old : JSON.stringify(def, null, 2);
      } catch {
        return old;
      }
    });
  }, [def]);
  return (
    <>
      <textarea className="code" aria-label="Definition JSON" data-testid="definition-json" spellCheck={false} value={text} rows={18}
        onChange={(e) => {
          setText(e.target.value);
          try {
            const parsed = JSON.parse(e.target.value) as Definition;
            if (!parsed || typeof parsed !== "object" || !parsed.root) throw new Error("a definition needs a \"root\" condition");
            setProblem(null);
            onChange(parsed);
          } catch (err) {
            setProblem((err as Error).message);
          }
        }} />
      {problem && <p className="field-error">{problem}</p>}
    </>
  );
}
