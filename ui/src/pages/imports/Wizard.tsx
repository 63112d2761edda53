import { useEffect, useState, type FormEvent } from "react";
import { api, query, type ImportEntity, type ImportField, type ImportJob, type Upload } from "../../api";
import { ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtValue } from "../../format";
import { useLoad } from "../../hooks";
import { applySaved, sampleColumn, suggestedFor, type Mapping } from "./mapping";

const ENTITIES: { value: ImportEntity; label: string; hint: string }[] = [
  { value: "contacts", label: "Contacts", hint: "people: identifiers, attributes, consents" },
  { value: "orders", label: "Orders", hint: "order lines with their customer" },
  { value: "products", label: "Products", hint: "the catalog" },
  { value: "events", label: "Events", hint: "past activity (tracks)" },
];

interface FieldsAnswer {
  fields: ImportField[];
  prefixes: string[];
}

/** Fields of an entity, whatever envelope the server wraps them in. */
function parseFields(data: unknown): FieldsAnswer {
  const obj = (Array.isArray(data) ? { fields: data } : data ?? {}) as Record<string, unknown>;
  const fields = (obj.fields as ImportField[] | undefined) ?? [];
  const prefixes = ((obj.custom_prefixes ?? obj.prefixes) as unknown[] | undefined ?? []).map((p) =>
    Array.isArray(p) ? String(p[0]) : typeof p === "object" && p ? String((p as { prefix: string }).prefix) : String(p),
  );
  return { fields, prefixes };
}

export function ImportWizard({ onStarted }: { onStarted: (job: ImportJob) => void }) {
  const [entity, setEntity] = useState<ImportEntity>("contacts");
  const [upload, setUpload] = useState<Upload | null>(null);
  return (
    <Section title="New import" testId="import-wizard">
      <ol className="steps">
        <li className={upload ? "done" : "current"}>Upload a file</li>
        <li className={upload ? "current" : ""}>Map columns</li>
        <li>Import</li>
      </ol>
      {!upload ? (
        <UploadStep entity={entity} setEntity={setEntity} onUploaded={setUpload} />
      ) : (
        <MappingStep upload={upload} entity={entity} setEntity={setEntity} onBack={() => setUpload(null)} onStarted={onStarted} />
      )}
    </Section>
  );
}

function EntityPicker({ entity, setEntity }: { entity: ImportEntity; setEntity: (e: ImportEntity) => void }) {
  return (
    <div className="entity-picker" role="radiogroup" aria-label="What are you importing?">
      {ENTITIES.map((e) => (
        <label key={e.value} className={entity === e.value ? "entity selected" : "entity"}>
          <input type="radio" name="entity" value={e.value} checked={entity === e.value} onChange={() => setEntity(e.value)} />
          <strong>{e.label}</strong>
          <span>{e.hint}</span>
        </label>
      ))}
    </div>
  );
}

function UploadStep({ entity, setEntity, onUploaded }: {
  entity: ImportEntity;
  setEntity: (e: ImportEntity) => void;
  onUploaded: (u: Upload) => void;
}) {
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) return;
    setBusy(true);
    setError(null);
    const form = new FormData();
    form.append("file", file);
    try {
      onUploaded(await api.upload<Upload>(`/api/v1/imports/uploads${query({ entity })}`, form));
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit}>
      <h3 className="sub">What are you importing?</h3>
      <EntityPicker entity={entity} setEntity={setEntity} />
      <label className="dropzone">
        <input type="file" accept=".csv,.tsv,.txt,.xlsx,.xls" aria-label="File to import"
          onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        <span>{file ? `${file.name} · ${(file.size / 1024).toFixed(1)} KB` : "Choose a CSV or XLSX file"}</span>
      </label>
      <ErrorNote error={error} />
      <div className="form-actions">
        <button className="btn btn-primary" type="submit" disabled={!file || busy}>{busy ? "Uploading…" : "Upload"}</button>
      </div>
    </form>
  );
}

function MappingStep({ upload, entity, setEntity, onBack, onStarted }: {
  upload: Upload;
  entity: ImportEntity;
  setEntity: (e: ImportEntity) => void;
  onBack: () => void;
  onStarted: (job: ImportJob) => void;
}) {
  const fields = useLoad(() => api.get<unknown>(`/api/v1/imports/fields${query({ entity })}`), [entity]);
  const [mapping, setMapping] = useState<Mapping>({});
  const [saveAs, setSaveAs] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => setMapping(suggestedFor(upload, entity)), [upload, entity]);

  const start = async () => {
    setBusy(true);
    setError(null);
    const chosen = Object.fromEntries(Object.entries(mapping).filter(([, f]) => f));
    try {
      onStarted(await api.post<ImportJob>("/api/v1/imports", {
        upload_id: upload.upload_id, entity, mapping: chosen, ...(saveAs.trim() ? { save_mapping_as: saveAs.trim() } : {}),
      }));
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };
  const parsed = parseFields(fields.data);
  return (
    <div>
      <p className="muted">
        <strong>{upload.file_name}</strong> · {upload.columns.length} columns.{" "}
        <button className="btn btn-ghost btn-small" onClick={onBack}>Choose another file</button>
      </p>
      <h3 className="sub">Import as</h3>
      <EntityPicker entity={entity} setEntity={setEntity} />
      <h3 className="sub">Map columns to fields</h3>
      <SavedMappings entity={entity} columns={upload.columns} onApply={setMapping} />
      <ErrorNote error={fields.error} />
      {fields.loading ? <Spinner /> : (
        <MappingTable upload={upload} fields={parsed} mapping={mapping} setMapping={setMapping} />
      )}
      <div className="form-row">
        <label className="field inline">
          <span>Save this mapping as (optional)</span>
          <input value={saveAs} onChange={(e) => setSaveAs(e.target.value)} placeholder="e.g. Shopify customers" aria-label="Save mapping as" />
        </label>
      </div>
      <ErrorNote error={error} />
      <div className="form-actions">
        <button className="btn btn-primary" onClick={() => void start()} disabled={busy || fields.loading}>
          {busy ? "Starting…" : "Start import"}
        </button>
      </div>
    </div>
  );
}

interface SavedMapping {
  name: string;
  entity: ImportEntity;
  mapping: Mapping;
}

/** "Apply a saved mapping" for this entity; hidden when none is saved. */
function SavedMappings({ entity, columns, onApply }: {
  entity: ImportEntity;
  columns: string[];
  onApply: (m: Mapping) => void;
}) {
  const saved = useLoad(() => api.get<SavedMapping[]>("/api/v1/import-mappings"), []);
  const mine = (saved.data ?? []).filter((m) => m.entity === entity);
  if (!mine.length) return null;
  const apply = (name: string) => {
    const chosen = mine.find((m) => m.name === name);
    if (chosen) onApply(applySaved(columns, chosen.mapping));
  };
  return (
    <label className="field inline">
      <span>Apply a saved mapping</span>
      <select aria-label="Saved mapping" defaultValue="" onChange={(e) => apply(e.target.value)}>
        <option value="" disabled>Choose…</option>
        {mine.map((m) => <option key={m.name} value={m.name}>{m.name}</option>)}
      </select>
    </label>
  );
}

function MappingTable({ upload, fields, mapping, setMapping }: {
  upload: Upload;
  fields: FieldsAnswer;
  mapping: Mapping;
  setMapping: (m: Mapping) => void;
}) {
  const customPrefix = fields.prefixes[0];
  return (
    <table className="table compact mapping" data-testid="mapping-table">
      <thead><tr><th>Column in file</th><th>Sample values</th><th>Field</th></tr></thead>
      <tbody>
        {upload.columns.map((col, index) => {
          const value = mapping[col] ?? "";
          const custom = customPrefix ? `${customPrefix}${col.trim().toLowerCase().replace(/\W+/g, "_")}` : null;
          const known = fields.fields.some((f) => f.name === value);
          return (
            <tr key={col}>
              <td><strong>{col}</strong></td>
              <td className="muted small wrap">{sampleColumn(upload, col, index).map(fmtValue).join(" · ") || "—"}</td>
              <td>
                <select aria-label={`Field for ${col}`} value={value} onChange={(e) => setMapping({ ...mapping, [col]: e.target.value || null })}>
                  <option value="">— skip this column —</option>
                  {fields.fields.map((f) => (
                    <option key={f.name} value={f.name}>
                      {f.name}{f.required ? " *" : ""}{f.description ? ` — ${f.description}` : ""}
                    </option>
                  ))}
                  {custom && <option value={custom}>{custom} — custom field</option>}
                  {value && !known && value !== custom && <option value={value}>{value}</option>}
                </select>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
