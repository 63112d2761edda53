// Channel settings: one card per configured channel (SMTP profiles, web push, SMS, Viber,
// FCM, APNs, webhook), each a form of its type with a "Check" against its provider.
// Secrets are write-only: once saved they read as "set" and a blank field keeps them.
import { useState, type FormEvent } from "react";
import { api } from "../../api";
import { useCan } from "../../auth";
import { Badge, Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtShort } from "../../format";
import { useLoad } from "../../hooks";
import { configFrom, FORMS, getPath, MASK, SMS_PROVIDERS, textOf, type FieldDef, type FormDef } from "./channelForms";
import { generateDkimKey } from "./dkimKey";
import { MessagingNav } from "./nav";

export interface StoredChannel {
  type: string;
  name: string;
  config: Record<string, unknown>;
  secrets_set: string[];
  updated_at?: string;
}

interface Channels { types: string[]; channels: StoredChannel[] }

const TYPE_LABEL: Record<string, string> = { sms: "SMS (Twilio, HTTP provider, SMPP)", viber: "Viber business messages" };
interface PublicParts { dkim: { host: string; type: string; value: string | null; error?: string } | null; vapid_public_key: string | null }

export function ChannelsPage() {
  const isAdmin = useCan("admin");
  const list = useLoad(() => api.get<Channels>("/api/v1/channels"), []);
  const [adding, setAdding] = useState<{ type: string; name: string } | null>(null);
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Channels</h1>
          <p className="muted">How messages leave: SMTP sending profiles with DKIM, web push, SMS, Viber, mobile push and webhooks. Secrets are stored encrypted and never shown again.</p>
        </div>
      </div>
      <MessagingNav />
      <ErrorNote error={list.error} />
      {!list.data ? (list.error ? null : <Spinner />) : (
        <>
          {isAdmin && <AddChannel types={list.data.types} onAdd={setAdding} />}
          {adding && (
            <ChannelCard key={`new:${adding.type}:${adding.name}`} stored={{ type: adding.type, name: adding.name, config: {}, secrets_set: [] }} isNew
              onSaved={() => { setAdding(null); list.reload(); }} />
          )}
          {list.data.channels.length === 0 && !adding ? <Empty>No channel is configured yet.</Empty> : list.data.channels.map((c) => (
            <ChannelCard key={`${c.type}:${c.name}`} stored={c} onSaved={list.reload} />
          ))}
        </>
      )}
    </div>
  );
}

function AddChannel({ types, onAdd }: { types: string[]; onAdd: (c: { type: string; name: string }) => void }) {
  const [type, setType] = useState(types[0] ?? "email");
  const [name, setName] = useState("");
  return (
    <Section title="Add a channel">
      <form className="inline-form flush" aria-label="Add a channel" onSubmit={(e) => { e.preventDefault(); onAdd({ type, name: name.trim() }); setName(""); }}>
        <select aria-label="Channel type" value={type} onChange={(e) => setType(e.target.value)}>
          {types.map((t) => <option key={t} value={t}>{TYPE_LABEL[t] ?? FORMS[t]?.title ?? t}</option>)}
        </select>
        <input aria-label="Channel name" required pattern="[a-z0-9_\-]{1,64}" placeholder="name: promo, trigger, main…" value={name} onChange={(e) => setName(e.target.value)} />
        <button className="btn btn-primary" type="submit">Add</button>
      </form>
    </Section>
  );
}

function ChannelCard({ stored, isNew = false, onSaved }: { stored: StoredChannel; isNew?: boolean; onSaved: () => void }) {
  const isAdmin = useCan("admin");
  const canCheck = useCan("marketer");
  const [provider, setProvider] = useState(String(stored.config.provider ?? "twilio"));
  const form = FORMS[stored.type === "sms" ? `sms:${provider}` : stored.type];
  const [check, setCheck] = useState<{ ok: boolean; message: string } | null>(null);
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const [saved, setSaved] = useState(false);
  const base = `/api/v1/channels/${encodeURIComponent(stored.type)}/${encodeURIComponent(stored.name)}`;
  const runCheck = async () => {
    setChecking(true);
    setSaved(false);
    setCheck(null);
    setError(null);
    try {
      setCheck(await api.post<{ ok: boolean; message: string }>(`${base}/check`));
    } catch (err) {
      setError(err as Error);
    } finally {
      setChecking(false);
    }
  };
  const save = async (config: Record<string, unknown>) => {
    setSaved(false);
    setCheck(null); // a check of the settings before this save says nothing about these
    await api.put(base, config);
    setSaved(true);
    onSaved();
  };
  return (
    <section className="card" data-testid={`channel-${stored.type}-${stored.name}`} aria-label={`${stored.type} ${stored.name}`}>
      <header className="card-head">
        <h2>{form?.title ?? TYPE_LABEL[stored.type] ?? stored.type} · <span className="mono">{stored.name}</span> {isNew && <Badge tone="info">new</Badge>}</h2>
        <div className="card-actions">
          {stored.updated_at && <span className="muted small">saved {fmtShort(stored.updated_at)}</span>}
          {!isNew && canCheck && <button className="btn btn-small" onClick={() => void runCheck()} disabled={checking}>{checking ? "Checking…" : "Check"}</button>}
        </div>
      </header>
      <div className="card-body">
        {saved && <div className="note note-success" role="status" data-testid="saved-note">Saved.</div>}
        {check && (
          <div className={check.ok ? "note note-success" : "note note-error"} role="status" data-testid="check-result">
            <strong>{check.ok ? "OK" : "Failed"}</strong>: {check.message}
          </div>
        )}
        <ErrorNote error={error} />
        {!isNew && <PublicKeys type={stored.type} name={stored.name} />}
        {stored.type === "sms" && (
          <label className="field inline">
            <span>SMS provider</span>
            <select aria-label="SMS provider" value={provider} disabled={!isAdmin || !isNew} onChange={(e) => setProvider(e.target.value)}>
              {SMS_PROVIDERS.map((p) => <option key={p} value={p}>{p}</option>)}
            </select>
          </label>
        )}
        {form ? <ChannelForm key={`${provider}:${stored.updated_at ?? ""}`} form={form} stored={stored} readOnly={!isAdmin} onSave={save} />
          : <JsonConfig key={stored.updated_at ?? ""} stored={stored} readOnly={!isAdmin} onSave={save} />}
      </div>
    </section>
  );
}

function ChannelForm({ form, stored, readOnly, onSave }: { form: FormDef; stored: StoredChannel; readOnly: boolean; onSave: (c: Record<string, unknown>) => Promise<void> }) {
  const [values, setValues] = useState<Record<string, string | boolean>>(() =>
    Object.fromEntries(form.fields.map((f) => [f.path, textOf(f, getPath(stored.config, f.path))])));
  const [error, setError] = useState<Error | null>(null);
  const [saving, setSaving] = useState(false);
  const [newRecord, setNewRecord] = useState<string | null>(null);
  const set = (path: string, v: string | boolean) => setValues((old) => ({ ...old, [path]: v }));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaving(true);
    setError(null);
    try {
      await onSave(configFrom(form, stored.config, values));
    } catch (err) {
      setError(err as Error);
    } finally {
      setSaving(false);
    }
  };
  const generate = async () => {
    const key = await generateDkimKey();
    set("dkim.private_key_pem", key.pem);
    setNewRecord(key.record);
  };
  return (
    <form className="channel-form" onSubmit={submit} aria-label={`${stored.type} ${stored.name} settings`}>
      <div className="config-grid">
        {form.fields.map((f) => (
          <Field key={f.path} field={f} value={values[f.path] ?? ""} isSet={stored.secrets_set.includes(f.path) || getPath(stored.config, f.path) === MASK}
            readOnly={readOnly} onChange={(v) => set(f.path, v)} />
        ))}
      </div>
      {stored.type === "email" && !readOnly && (
        <div className="form-actions">
          <button type="button" className="btn btn-small" onClick={() => void generate()}>Generate a DKIM key</button>
          {newRecord && <span className="muted small">A new 2048-bit key is in the form; save, then publish the record below.</span>}
        </div>
      )}
      {newRecord && (
        <div className="note" data-testid="dkim-new-record">
          To publish after saving — TXT <code>{`${values["dkim.selector"] || "<selector>"}._domainkey.${values["dkim.domain"] || "<domain>"}`}</code>:
          <pre className="json pre-text">{newRecord}</pre>
        </div>
      )}
      <ErrorNote error={error} />
      {!readOnly && (
        <div className="form-actions">
          <button className="btn btn-primary" type="submit" disabled={saving}>{saving ? "Saving…" : "Save"}</button>
        </div>
      )}
    </form>
  );
}

function Field({ field, value, isSet, readOnly, onChange }: { field: FieldDef; value: string | boolean; isSet: boolean; readOnly: boolean; onChange: (v: string | boolean) => void }) {
  const label = `${field.label}${field.required ? " *" : ""}`;
  if (field.kind === "bool") {
    return (
      <label className="check field-check">
        <input type="checkbox" aria-label={field.label} checked={value === true} disabled={readOnly} onChange={(e) => onChange(e.target.checked)} />
        {field.label}
      </label>
    );
  }
  const secret = field.kind === "secret" || field.kind === "secret-text";
  const placeholder = secret ? (isSet ? "set — leave blank to keep" : "not set") : field.placeholder;
  let input;
  if (field.kind === "select") {
    input = (
      <select aria-label={field.label} value={String(value)} disabled={readOnly} onChange={(e) => onChange(e.target.value)}>
        <option value="">default</option>
        {field.options!.map((o) => <option key={o} value={o}>{o}</option>)}
      </select>
    );
  } else if (field.kind === "secret-text" || field.kind === "lines" || field.kind === "json") {
    input = <textarea className="code" rows={field.kind === "secret-text" ? 3 : 2} aria-label={field.label} value={String(value)} placeholder={placeholder} readOnly={readOnly}
      spellCheck={false} autoComplete="off" onChange={(e) => onChange(e.target.value)} />;
  } else {
    input = <input aria-label={field.label} type={field.kind === "secret" ? "password" : field.kind === "number" ? "number" : "text"} step="any"
      autoComplete={secret ? "new-password" : "off"} value={String(value)} placeholder={placeholder} readOnly={readOnly} onChange={(e) => onChange(e.target.value)} />;
  }
  return (
    <label className={field.kind === "secret-text" || field.kind === "lines" || field.kind === "json" ? "field wide" : "field"}>
      <span>{label} {secret && (isSet ? <Badge tone="ok">set</Badge> : <Badge>not set</Badge>)}</span>
      {input}
      {field.help && <span className="muted small">{field.help}</span>}
    </label>
  );
}

/** A type without a form of its own (an SMS provider, Viber, a plugin): its config as JSON. */
function JsonConfig({ stored, readOnly, onSave }: { stored: StoredChannel; readOnly: boolean; onSave: (c: Record<string, unknown>) => Promise<void> }) {
  const [text, setText] = useState(() => JSON.stringify(stored.config, null, 2));
  const [error, setError] = useState<Error | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await onSave(JSON.parse(text) as Record<string, unknown>);
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <form onSubmit={submit} aria-label={`${stored.type} ${stored.name} settings`}>
      <p className="muted small">Secrets read <code>{MASK}</code>: leave them so to keep them.</p>
      <textarea className="code" rows={10} aria-label="Config JSON" value={text} readOnly={readOnly} spellCheck={false} onChange={(e) => setText(e.target.value)} />
      <ErrorNote error={error} />
      {!readOnly && <div className="form-actions"><button className="btn btn-primary" type="submit">Save</button></div>}
    </form>
  );
}

function PublicKeys({ type, name }: { type: string; name: string }) {
  const parts = useLoad(() => (type === "email" || type === "webpush"
    ? api.get<PublicParts>(`/api/v1/ui/channels/${encodeURIComponent(type)}/${encodeURIComponent(name)}/public`)
    : Promise.resolve(null)), [type, name]);
  const p = parts.data;
  if (!p) return null;
  return (
    <>
      {p.dkim && (
        <div className="note" data-testid="dkim-record">
          Publish this DNS record: <strong>{p.dkim.type}</strong> <code>{p.dkim.host}</code>
          {p.dkim.value ? <pre className="json pre-text">{p.dkim.value}</pre> : <div className="field-error">{p.dkim.error}</div>}
        </div>
      )}
      {p.vapid_public_key && (
        <div className="note" data-testid="vapid-public-key">
          VAPID public key (applicationServerKey): <code className="wrap">{p.vapid_public_key}</code>
        </div>
      )}
    </>
  );
}
