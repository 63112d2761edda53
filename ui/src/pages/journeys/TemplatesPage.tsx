// "Create from a ready scenario": the gallery of parameterized journey templates; choosing
// one opens its parameters form, and instantiating it creates a draft journey (with the
// segments and messages it needs prebuilt) that opens on the canvas.
import { useState } from "react";
import { api, ApiError } from "../../api";
import { useCan } from "../../auth";
import { Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { useLoad } from "../../hooks";
import { Link, navigate } from "../../router";
import { JourneysNav } from "./JourneysPage";

export interface TemplateParam { name: string; type: string; default: unknown; label: string }
export interface Template { key: string; name: string; description: string; params: TemplateParam[] }

/** What instantiate answers: the created journey, at the top or under `journey`. */
export function createdJourneyId(answer: Record<string, any>): string | null {
  return answer?.journey?.id ?? (typeof answer?.id === "string" ? answer.id : null);
}

/** A typed parameter value from its input's text. */
export function paramValue(type: string, text: string, checked: boolean): unknown {
  if (type === "bool" || type === "boolean") return checked;
  if (["int", "integer", "number", "float", "days", "hours"].includes(type)) return text === "" ? null : Number(text);
  return text;
}

function initialValues(t: Template): Record<string, unknown> {
  return Object.fromEntries(t.params.map((p) => [p.name, p.default ?? (p.type === "bool" || p.type === "boolean" ? false : "")]));
}

export function TemplatesPage() {
  const canEdit = useCan("marketer");
  const list = useLoad(() => api.get<{ templates: Template[] }>("/api/v1/journey-templates"), []);
  const [chosen, setChosen] = useState<Template | null>(null);
  const templates = list.data?.templates;
  return (
    <div className="page">
      <p className="crumbs"><Link to="/journeys">← Journeys</Link></p>
      <div className="page-head">
        <div>
          <h1>Ready scenarios</h1>
          <p className="muted">Proven e-commerce journeys with their events, segments and messages prebuilt. Pick one, set its parameters, and it opens on the canvas as a draft.</p>
        </div>
      </div>
      <JourneysNav />
      <ErrorNote error={list.error} />
      {chosen && <Instantiate template={chosen} onCancel={() => setChosen(null)} canEdit={canEdit} />}
      {!templates ? (list.error ? null : <Spinner />) : !templates.length ? <Empty>No ready scenarios.</Empty> : (
        <div className="template-grid" data-testid="templates">
          {templates.map((t) => (
            <div key={t.key} className="template-card" data-testid="template-card" data-key={t.key}>
              <h3>{t.name}</h3>
              <p>{t.description}</p>
              {canEdit && <button type="button" className="btn btn-small" onClick={() => setChosen(t)} aria-label={`Use ${t.name}`}>Use this scenario</button>}
            </div>
          ))}
        </div>
      )}
    </div>
  );
}

function Instantiate({ template, onCancel, canEdit }: { template: Template; onCancel: () => void; canEdit: boolean }) {
  const [name, setName] = useState(template.name);
  const [values, setValues] = useState<Record<string, unknown>>(() => initialValues(template));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const create = async () => {
    setBusy(true);
    setError(null);
    try {
      const answer = await api.post<Record<string, any>>(`/api/v1/journey-templates/${encodeURIComponent(template.key)}/instantiate`, { params: values, name });
      const id = createdJourneyId(answer);
      if (id) navigate(`/journeys/${id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, "error", String(err)));
      setBusy(false);
    }
  };
  return (
    <Section title={`Create “${template.name}”`} testId="template-form">
      <form aria-label="Scenario parameters" onSubmit={(e) => { e.preventDefault(); void create(); }}>
        <label className="field inline"><span>Journey name</span><input aria-label="New journey name" value={name} onChange={(e) => setName(e.target.value)} /></label>
        {template.params.map((p) => {
          const bad = error?.field && (error.field === p.name || error.field.endsWith(`.${p.name}`));
          const bool = p.type === "bool" || p.type === "boolean";
          return (
            <div key={p.name} className="field-wrap">
              {bool ? (
                <label className="small"><input type="checkbox" aria-label={p.label || p.name} checked={!!values[p.name]}
                  onChange={(e) => setValues({ ...values, [p.name]: e.target.checked })} /> {p.label || p.name}</label>
              ) : (
                <label className="field inline"><span>{p.label || p.name}</span>
                  <input aria-label={p.label || p.name} type={paramValue(p.type, "0", false) === 0 ? "number" : "text"} step="any"
                    value={values[p.name] === null || values[p.name] === undefined ? "" : String(values[p.name])}
                    onChange={(e) => setValues({ ...values, [p.name]: paramValue(p.type, e.target.value, false) })} />
                </label>
              )}
              {bad && <p className="field-error" role="alert">{error.message}</p>}
            </div>
          );
        })}
        {error && !template.params.some((p) => error.field === p.name || error.field?.endsWith(`.${p.name}`)) && <ErrorNote error={error} />}
        <div className="form-actions">
          <button type="button" className="btn" onClick={onCancel} disabled={busy}>Cancel</button>
          {canEdit && <button className="btn btn-primary" disabled={busy}>{busy ? "Creating…" : "Create journey"}</button>}
        </div>
      </form>
    </Section>
  );
}
