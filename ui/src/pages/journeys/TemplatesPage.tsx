// "Create from a ready scenario": the gallery of parameterized journey templates; choosing
// one opens its parameters form, and instantiating it creates a draft journey (with the
// segments and messages it needs prebuilt) that opens on the canvas.
import { useEffect, useState } from "react";
import { api, ApiError } from "../../api";
import { useCan } from "../../auth";
import { Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { useLoad } from "../../hooks";
import { Link, navigate } from "../../router";
import { flashNotice } from "./JourneyEditorPage";
import { JourneyPreview } from "./JourneyPreview";
import { JourneysNav } from "./JourneysPage";
import type { Definition } from "./model";

export interface TemplateParam {
  name: string; type: string; default: unknown; label: string;
  choices?: unknown[]; minimum?: number; maximum?: number;
}
export interface Template { key: string; name: string; description: string; params: TemplateParam[]; events?: string[] }

/** What instantiate answers: the created journey, at the top or under `journey`. */
export function createdJourneyId(answer: Record<string, any>): string | null {
  return answer?.journey?.id ?? (typeof answer?.id === "string" ? answer.id : null);
}

const NUMERIC = ["integer", "number"];

/** "Created from Abandoned cart: 2 messages and 1 segment prebuilt." */
export function prebuiltNote(name: string, answer: Record<string, any>): string {
  const count = (v: unknown) => (v && typeof v === "object" ? Object.keys(v).length : 0);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
  const made = [plural(count(answer.messages), "message"), plural(count(answer.segments), "segment")].join(" and ");
  return `Created from “${name}” as a draft: ${made} prebuilt.`;
}

/** A typed parameter value from its input's text (a choice keeps its own type).
 * >>> paramValue({type: "integer"}, "7") → 7 */
export function paramValue(p: Pick<TemplateParam, "type" | "choices">, text: string): unknown {
  if (NUMERIC.includes(p.type)) return text === "" ? null : Number(text);
  if (p.type === "choice") return p.choices?.find((c) => String(c) === text) ?? text;
  return text;
}

function initialValues(t: Template): Record<string, unknown> {
  return Object.fromEntries(t.params.map((p) => [p.name, p.default ?? (p.type === "boolean" ? false : "")]));
}

function ParamInput({ param: p, value, onChange }: { param: TemplateParam; value: unknown; onChange: (v: unknown) => void }) {
  const label = p.label || p.name;
  if (p.type === "boolean") {
    return <label className="small"><input type="checkbox" aria-label={label} checked={!!value} onChange={(e) => onChange(e.target.checked)} /> {label}</label>;
  }
  const text = value === null || value === undefined ? "" : String(value);
  return (
    <label className="field inline"><span>{label}</span>
      {p.type === "choice" ? (
        <select aria-label={label} value={text} onChange={(e) => onChange(paramValue(p, e.target.value))}>
          {(p.choices ?? []).map((c) => <option key={String(c)} value={String(c)}>{String(c)}</option>)}
        </select>
      ) : (
        <input aria-label={label} type={NUMERIC.includes(p.type) ? "number" : "text"} step={p.type === "integer" ? 1 : "any"}
          min={p.minimum} max={p.maximum} value={text} onChange={(e) => onChange(paramValue(p, e.target.value))} />
      )}
    </label>
  );
}

/** Whether a refused field (`params.days`) is this parameter. */
function isParam(field: string | null | undefined, name: string): boolean {
  return field === `params.${name}` || field === name;
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
              {!!t.events?.length && <div className="muted small">Events: {t.events.join(", ")}</div>}
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
  const preview = usePreview(template.key, values);
  const create = async () => {
    setBusy(true);
    setError(null);
    try {
      const answer = await api.post<Record<string, any>>(`/api/v1/journey-templates/${encodeURIComponent(template.key)}/instantiate`, { params: values, name });
      const id = createdJourneyId(answer);
      if (id) {
        flashNotice(prebuiltNote(template.name, answer));
        navigate(`/journeys/${id}`);
      }
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, "error", String(err)));
      setBusy(false);
    }
  };
  return (
    <Section title={`Create “${template.name}”`} testId="template-form">
      <form aria-label="Scenario parameters" noValidate onSubmit={(e) => { e.preventDefault(); void create(); }}>
        <label className="field inline"><span>Journey name</span><input aria-label="New journey name" value={name} onChange={(e) => setName(e.target.value)} /></label>
        {template.params.map((p) => (
          <div key={p.name} className="field-wrap" data-testid="template-param">
            <ParamInput param={p} value={values[p.name]} onChange={(v) => setValues({ ...values, [p.name]: v })} />
            {error && isParam(error.field, p.name) && <p className="field-error" role="alert">{error.message}</p>}
          </div>
        ))}
        {error && !template.params.some((p) => isParam(error.field, p.name)) && <ErrorNote error={error} />}
        <div className="field"><span>What it makes (messages and segments are created with it)</span>
          {preview.definition ? <JourneyPreview definition={preview.definition} />
            : <p className="muted small">{preview.problem ?? "Drawing…"}</p>}
        </div>
        <div className="form-actions">
          <button type="button" className="btn" onClick={onCancel} disabled={busy}>Cancel</button>
          {canEdit && <button className="btn btn-primary" disabled={busy}>{busy ? "Creating…" : "Create journey"}</button>}
        </div>
      </form>
    </Section>
  );
}

/** The journey the template makes with `values` (POST …/preview), redrawn 400 ms after the
 * last change; a refused parameter leaves its reason instead. */
function usePreview(key: string, values: Record<string, unknown>): { definition: Definition | null; problem: string | null } {
  const [state, setState] = useState<{ definition: Definition | null; problem: string | null }>({ definition: null, problem: null });
  const text = JSON.stringify(values);
  useEffect(() => {
    let live = true;
    const timer = window.setTimeout(() => {
      api.post<{ definition: Definition }>(`/api/v1/journey-templates/${encodeURIComponent(key)}/preview`, { params: JSON.parse(text) })
        .then((answer) => live && setState({ definition: answer.definition, problem: null }))
        .catch((err: Error) => live && setState({ definition: null, problem: err.message }));
    }, 400);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [key, text]);
  return state;
}
