// The saved message rendered as a chosen contact (found by email) in a chosen language, its
// template errors, and a test send to a list of addresses.
import { useEffect, useState, type FormEvent } from "react";
import { api, ApiError, query } from "../../../api";
import { ErrorNote, Spinner } from "../../../components/ui";
import { fmtValue } from "../../../format";
import type { TemplateError } from "../types";
import type { ChannelName } from "./model";

export interface PreviewAnswer {
  language: string | null;
  subject?: string;
  preheader?: string;
  html?: string;
  text?: string;
  errors?: TemplateError[];
  [field: string]: unknown;
}

export interface Contact { id: number; email: string | null; name: string | null }

/** Who and in which language to preview: kept by the page, so a save (which re-creates the
 * editor) does not forget them. */
export interface PreviewChoice { contact: Contact | null; language: string }

interface Props {
  messageId: string | null;
  revision: number | null;
  channel: ChannelName;
  savedChannels: ChannelName[];
  languages: string[];
  dirty: boolean;
  choice: PreviewChoice;
  onChoice: (choice: PreviewChoice) => void;
  onErrors: (errors: TemplateError[]) => void;
}

/** Errors from an error answer (422 template_error details) in the preview's shape. */
function errorsOf(err: unknown): TemplateError[] {
  if (!(err instanceof ApiError) || !err.details.length) return [];
  return err.details.map((d) => d as unknown as TemplateError);
}

export function PreviewPane({ messageId, revision, channel, savedChannels, languages, dirty, choice, onChoice, onErrors }: Props) {
  const { contact, language } = choice;
  const setContact = (c: Contact | null) => onChoice({ ...choice, contact: c });
  const setLanguage = (l: string) => onChoice({ ...choice, language: l });
  const saved = savedChannels.includes(channel);
  const [contactText, setContactText] = useState(contact?.email ?? "");
  const [answer, setAnswer] = useState<PreviewAnswer | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const [show, setShow] = useState<"html" | "text">("html");
  const [choices, setChoices] = useState<Contact[]>([]);

  useEffect(() => {
    if (!messageId || !saved) return;
    let live = true;
    setBusy(true);
    const body = { channel, ...(contact ? { contact_id: contact.id } : {}), ...(language ? { language } : {}) };
    api.post<PreviewAnswer>(`/api/v1/messages/${encodeURIComponent(messageId)}/preview`, body).then(
      (a) => { if (live) { setAnswer(a); setError(null); onErrors(a.errors ?? []); } },
      (err: Error) => { if (live) { setAnswer(null); setError(err); onErrors(errorsOf(err)); } },
    ).finally(() => live && setBusy(false));
    return () => { live = false; };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [messageId, revision, channel, contact, language, saved]);

  const findContact = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setChoices([]);
    if (!contactText.trim()) {
      setContact(null);
      return;
    }
    try {
      const found = await api.get<{ items: Contact[] }>(`/api/v1/contacts${query({ q: contactText.trim(), limit: 6 })}`);
      if (!found.items.length) throw new Error(`no contact matches ${contactText.trim()}`);
      if (found.items.length === 1) setContact(found.items[0]!);
      else setChoices(found.items); // several match the prefix: the user picks one
    } catch (err) {
      setError(err as Error);
    }
  };

  if (!messageId || !saved) {
    const why = messageId ? "Save the message to preview this channel." : "Save the message to preview it as a contact and send tests.";
    return <section className="card" data-testid="preview"><div className="card-body"><p className="muted">{why}</p></div></section>;
  }
  const errors = answer?.errors ?? [];
  return (
    <section className="card" data-testid="preview" aria-busy={busy}>
      <header className="card-head">
        <h2>Preview</h2>
        {busy && <span className="muted small">rendering…</span>}
      </header>
      <div className="card-body">
        {dirty && <p className="note small" data-testid="preview-stale">Shows the saved version: save to see your changes.</p>}
        <form className="preview-controls" onSubmit={findContact}>
          <input type="search" aria-label="Preview as contact" placeholder="Contact email, phone or id (blank: nobody)" value={contactText} onChange={(e) => setContactText(e.target.value)} />
          <button className="btn btn-small" type="submit">Use</button>
          <select aria-label="Preview language" value={language} onChange={(e) => setLanguage(e.target.value)}>
            <option value="">Contact's language</option>
            {languages.map((l) => <option key={l} value={l}>{l}</option>)}
          </select>
        </form>
        {choices.length > 0 && (
          <ul className="choices" data-testid="contact-choices">
            {choices.map((c) => (
              <li key={c.id}>
                <button type="button" className="link" onClick={() => { setContact(c); setChoices([]); }}>
                  {c.name ? `${c.name} · ` : ""}{c.email ?? `contact #${c.id}`}
                </button>
              </li>
            ))}
          </ul>
        )}
        {contact && <p className="muted small" data-testid="preview-contact">As {contact.name ?? contact.email ?? `contact #${contact.id}`} (#{contact.id})</p>}
        <ErrorNote error={error} />
        {errors.length > 0 && (
          <ul className="cond-errors" role="alert" data-testid="preview-errors">
            {errors.map((e, i) => <li key={i}><code>{e.template ?? e.path}</code>{e.line ? ` line ${e.line}` : ""}: {e.reason}</li>)}
          </ul>
        )}
        {answer ? <Rendered answer={answer} channel={channel} show={show} setShow={setShow} /> : !error && <Spinner label="Rendering…" />}
        {channel === "email" && <TestSend messageId={messageId} language={language} contactId={contact?.id ?? null} />}
      </div>
    </section>
  );
}

function Rendered({ answer, channel, show, setShow }: { answer: PreviewAnswer; channel: ChannelName; show: "html" | "text"; setShow: (s: "html" | "text") => void }) {
  if (channel !== "email") {
    const own = answer.fields && typeof answer.fields === "object" ? Object.entries(answer.fields as Record<string, unknown>) : [];
    const fields = own.length ? own : Object.entries(answer).filter(([k, v]) => k !== "errors" && k !== "language" && typeof v === "string");
    return (
      <div data-testid="preview-text">
        <p className="muted small">Language: <strong data-testid="preview-language">{answer.language ?? "—"}</strong></p>
        <dl className="kv">
          {fields.map(([k, v]) => <div key={k} className="kv-row"><dt>{k}</dt><dd className="pre">{fmtValue(v)}</dd></div>)}
        </dl>
      </div>
    );
  }
  return (
    <div>
      <dl className="kv">
        <div className="kv-row"><dt>Language</dt><dd data-testid="preview-language">{answer.language ?? "—"}</dd></div>
        <div className="kv-row"><dt>Subject</dt><dd data-testid="preview-subject">{answer.subject ?? "—"}</dd></div>
        {answer.preheader !== undefined && <div className="kv-row"><dt>Preheader</dt><dd>{answer.preheader || "—"}</dd></div>}
      </dl>
      <div className="tabs" role="tablist" aria-label="Preview part">
        <button role="tab" aria-selected={show === "html"} className={show === "html" ? "tab on" : "tab"} onClick={() => setShow("html")}>HTML</button>
        <button role="tab" aria-selected={show === "text"} className={show === "text" ? "tab on" : "tab"} onClick={() => setShow("text")}>Plain text</button>
      </div>
      {show === "html" ? (
        answer.html ? <iframe className="email-frame" title="Email preview" sandbox="" srcDoc={answer.html} data-testid="preview-html" /> : <p className="muted">No HTML.</p>
      ) : (
        <pre className="json pre-text" data-testid="preview-plain">{answer.text ?? ""}</pre>
      )}
    </div>
  );
}

/** Addresses separated by commas, semicolons, spaces or lines. */
export function parseAddresses(text: string): string[] {
  return [...new Set(text.split(/[\s,;]+/).map((a) => a.trim()).filter(Boolean))];
}

function TestSend({ messageId, language, contactId }: { messageId: string; language: string; contactId: number | null }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<unknown>(null);
  const [error, setError] = useState<Error | null>(null);
  const send = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const body = { addresses: parseAddresses(text), ...(language ? { language } : {}), ...(contactId ? { contact_id: contactId } : {}) };
      setResult(await api.post(`/api/v1/messages/${encodeURIComponent(messageId)}/test-send`, body));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="test-send" onSubmit={send} aria-label="Test send">
      <h3 className="sub">Test send</h3>
      <textarea className="code" rows={2} aria-label="Test addresses" placeholder="me@shop.example, boss@shop.example" value={text} onChange={(e) => setText(e.target.value)} />
      <div className="form-actions">
        <button className="btn btn-small" type="submit" disabled={busy || !parseAddresses(text).length}>{busy ? "Sending…" : "Send test"}</button>
        <span className="muted small">Marked as a test; no consent check; never recorded on a contact.</span>
      </div>
      {result !== null && <TestResult result={result} />}
      <ErrorNote error={error} />
    </form>
  );
}

function TestResult({ result }: { result: unknown }) {
  const r = result as { results?: { address?: string; to?: string; outcome?: string; status?: string; reason?: string | null; detail?: string | null }[] };
  if (!Array.isArray(r?.results)) return <div className="note note-success" data-testid="test-send-result">Test sent.</div>;
  return (
    <ul className="note note-success test-results" data-testid="test-send-result">
      {r.results.map((x, i) => (
        <li key={i}>{x.address ?? x.to}: {x.outcome ?? x.status}{x.reason ? ` — ${x.reason}` : ""}</li>
      ))}
    </ul>
  );
}
