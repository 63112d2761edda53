// The message editor: meta, per-language tabs, channel tabs (email composed of blocks, the
// text channels), a preview as a contact, test send; the message's delivery log beside it.
import { useEffect, useMemo, useState } from "react";
import { api, ApiError } from "../../api";
import { useCan } from "../../auth";
import { Confirm, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtShort } from "../../format";
import { useLoad } from "../../hooks";
import { Link, navigate, useLocation } from "../../router";
import { DeliveryLog } from "./DeliveryLog";
import { EmailEditor } from "./editor/EmailEditor";
import { CHANNEL_LABEL, CHANNELS, cleaned, emptyChannel, emptyMessage, languagesOf, type ChannelName, type Channels, type EmailContent, type MessageDoc, type StoredMessage, type TextContent } from "./editor/model";
import { PreviewPane, type PreviewChoice } from "./editor/PreviewPane";
import { TextChannelEditor } from "./editor/TextChannelEditor";
import { MessagingNav } from "./nav";
import { itemsOf, type Block, type TemplateError } from "./types";

export function MessageEditorPage({ id }: { id?: string }) {
  // Kept here, outside the editor that a save re-creates: the tab the user was on stays.
  const [channel, setChannel] = useState<ChannelName | null>(null);
  const [language, setLanguage] = useState<string | null>(null);
  const [preview, setPreview] = useState<PreviewChoice>({ contact: null, language: "" });
  const existing = useLoad(() => (id ? api.get<StoredMessage>(`/api/v1/messages/${encodeURIComponent(id)}`) : Promise.resolve(null)), [id]);
  if (existing.error) return <div className="page"><p className="crumbs"><Link to="/messages">← Messages</Link></p><ErrorNote error={existing.error} /></div>;
  if (id && !existing.data) return <div className="page"><Spinner /></div>;
  return (
    <Editor key={`${id ?? "new"}:${existing.data?.revision ?? 0}`} stored={existing.data} onSaved={existing.reload}
      channelState={[channel, setChannel]} languageState={[language, setLanguage]} previewState={[preview, setPreview]} />
  );
}

function docOf(m: StoredMessage): MessageDoc {
  return { name: m.name, category: m.category, topic: m.topic ?? null, tags: m.tags ?? [], default_language: m.default_language ?? null, channels: m.channels };
}

/** Template errors an error answer carries (422 template_error details). */
function saveErrorsOf(err: unknown): TemplateError[] {
  if (!(err instanceof ApiError)) return [];
  return err.details.map((d) => d as unknown as TemplateError);
}

type State<T> = [T | null, (value: T) => void];

function Editor({ stored, onSaved, channelState, languageState, previewState }: {
  stored: StoredMessage | null; onSaved: () => void; channelState: State<ChannelName>; languageState: State<string>;
  previewState: [PreviewChoice, (c: PreviewChoice) => void];
}) {
  const canEdit = useCan("marketer");
  const { search } = useLocation();
  const initial = useMemo(() => (stored ? docOf(stored) : emptyMessage()), [stored]);
  const [doc, setDoc] = useState<MessageDoc>(initial);
  const [tab, setTab] = useState<"content" | "log">(search.get("tab") === "log" ? "log" : "content");
  const languages = languagesOf(doc);
  const [chosenLanguage, setLanguage] = languageState;
  const language = chosenLanguage && languages.includes(chosenLanguage) ? chosenLanguage : languages[0] ?? "en";
  const present = CHANNELS.filter((c) => doc.channels[c]);
  const [chosenChannel, setChannel] = channelState;
  const channel: ChannelName = chosenChannel && present.includes(chosenChannel) ? chosenChannel : present[0] ?? "email";
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<Error | null>(null);
  const [saveErrors, setSaveErrors] = useState<TemplateError[]>([]);
  const [previewErrors, setPreviewErrors] = useState<TemplateError[]>([]);
  const [deleting, setDeleting] = useState(false);
  const blocks = useLoad(() => api.get<Block[] | { items: Block[] }>("/api/v1/blocks").then(itemsOf), []);
  const dirty = JSON.stringify(doc) !== JSON.stringify(initial);
  useEffect(() => {
    if (!canEdit) return;
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "s") {
        e.preventDefault(); // Ctrl/Cmd+S saves the message instead of the page
        if (dirty && !saving && doc.name.trim()) void save();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });
  useEffect(() => {
    if (!dirty || saving) return;
    const warn = (e: BeforeUnloadEvent) => e.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty, saving]);

  const readOnly = !canEdit;
  const errors = saveErrors.length ? saveErrors : previewErrors;
  const setChannels = (channels: Channels) => { setSaveErrors([]); setDoc({ ...doc, channels }); };
  const setContent = (c: ChannelName, content: EmailContent | TextContent | undefined) => setChannels({ ...doc.channels, [c]: content });

  const save = async () => {
    setSaving(true);
    setSaveError(null);
    setSaveErrors([]);
    try {
      const body = cleaned(doc);
      const saved = stored
        ? await api.put<{ id: string }>(`/api/v1/messages/${encodeURIComponent(stored.id)}`, body)
        : await api.post<{ id: string }>("/api/v1/messages", body);
      if (stored) onSaved();
      else navigate(`/messages/${saved.id}`);
    } catch (err) {
      setSaveError(err as Error);
      setSaveErrors(saveErrorsOf(err));
    } finally {
      setSaving(false);
    }
  };
  const remove = async () => {
    await api.del(`/api/v1/messages/${encodeURIComponent(stored!.id)}`);
    navigate("/messages", true);
  };
  const addLanguage = (code: string) => {
    const lang = code.trim();
    if (!lang || languages.includes(lang)) return;
    const channels: Channels = { ...doc.channels };
    if (channels.email) channels.email = { ...channels.email, subject: { ...channels.email.subject, [lang]: "" } };
    setDoc({ ...doc, channels });
    setLanguage(lang);
  };
  const removeLanguage = (lang: string) => {
    const strip = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(strip);
      if (value && typeof value === "object") {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) if (k !== lang || typeof v !== "string") out[k] = strip(v);
        return out;
      }
      return value;
    };
    setDoc({ ...doc, channels: strip(doc.channels) as Channels, default_language: doc.default_language === lang ? null : doc.default_language });
    setLanguage(languages.find((l) => l !== lang) ?? "en");
  };

  const content = doc.channels[channel];
  return (
    <div className="page" data-testid="message-editor">
      <p className="crumbs"><Link to="/messages">← Messages</Link></p>
      <div className="page-head">
        <div>
          <h1>{stored ? stored.name : "New message"}</h1>
          <p className="muted">{stored ? `${stored.id} · revision ${stored.revision} · updated ${fmtShort(stored.updated_at)}` : "Compose it from blocks and inline sections, in every language."}</p>
        </div>
        <div className="head-actions">
          {stored && canEdit && <button className="btn btn-danger-outline" onClick={() => setDeleting(true)}>Delete…</button>}
          {canEdit && tab === "content" && (
            <button className="btn btn-primary" onClick={() => void save()} disabled={saving || !doc.name.trim() || !dirty}>
              {saving ? "Saving…" : stored ? "Save" : "Create message"}
            </button>
          )}
        </div>
      </div>
      <MessagingNav />
      {stored && (
        <div className="tabs page-tabs" role="tablist" aria-label="Message">
          <button role="tab" aria-selected={tab === "content"} className={tab === "content" ? "tab on" : "tab"} onClick={() => setTab("content")}>Content</button>
          <button role="tab" aria-selected={tab === "log"} className={tab === "log" ? "tab on" : "tab"} onClick={() => setTab("log")}>Delivery log</button>
        </div>
      )}
      {tab === "log" && stored ? <DeliveryLog messageId={stored.id} /> : (
        <>
          {saveError && (
            <div className="note note-error" role="alert" data-testid="save-error">
              Not saved: {saveError.message}
            </div>
          )}
          <div className="editor-grid">
            <div>
              <Section title="Message">
                <MetaFields doc={doc} readOnly={readOnly} languages={languages} onChange={(d) => setDoc(d)} />
              </Section>
              <section className="card">
                <header className="card-head">
                  <div className="tabs" role="tablist" aria-label="Channels">
                    {present.map((c) => (
                      <button key={c} role="tab" aria-selected={channel === c} className={channel === c ? "tab on" : "tab"} onClick={() => setChannel(c)}>{CHANNEL_LABEL[c]}</button>
                    ))}
                  </div>
                  {canEdit && (
                    <select aria-label="Add a channel" value="" onChange={(e) => {
                      const c = e.target.value as ChannelName;
                      if (!c) return;
                      setContent(c, emptyChannel(c, language));
                      setChannel(c);
                    }}>
                      <option value="">+ Channel…</option>
                      {CHANNELS.filter((c) => !doc.channels[c]).map((c) => <option key={c} value={c}>{CHANNEL_LABEL[c]}</option>)}
                    </select>
                  )}
                </header>
                <div className="card-body">
                  <div className="lang-bar">
                    <div className="tabs" role="tablist" aria-label="Languages">
                      {languages.map((l) => (
                        <button key={l} role="tab" aria-selected={language === l} className={language === l ? "tab on" : "tab"} onClick={() => setLanguage(l)}>
                          {l}{l === doc.default_language ? " ★" : ""}
                        </button>
                      ))}
                    </div>
                    {canEdit && <AddLanguage onAdd={addLanguage} />}
                    {canEdit && languages.length > 1 && (
                      <button type="button" className="btn btn-small btn-ghost" onClick={() => removeLanguage(language)}>Remove {language}</button>
                    )}
                  </div>
                  {!content ? <p className="muted">Add a channel to write its content.</p> : channel === "email" ? (
                    <EmailEditor email={content as EmailContent} language={language} blocks={blocks.data ?? []} errors={errors} readOnly={readOnly}
                      onChange={(email) => setContent("email", email)} />
                  ) : (
                    <TextChannelEditor channel={channel} content={content as TextContent} language={language} blocks={blocks.data ?? []} errors={errors} readOnly={readOnly}
                      onChange={(c) => setContent(channel, c)} />
                  )}
                  {canEdit && content && present.length > 1 && (
                    <div className="form-actions">
                      <button type="button" className="btn btn-small btn-danger-outline" onClick={() => {
                        setContent(channel, undefined);
                        setChannel(present.find((c) => c !== channel) ?? "email");
                      }}>Remove the {CHANNEL_LABEL[channel]} content</button>
                    </div>
                  )}
                </div>
              </section>
            </div>
            <div className="editor-side">
              <PreviewPane messageId={stored?.id ?? null} revision={stored?.revision ?? null} channel={channel}
                savedChannels={stored ? CHANNELS.filter((c) => stored.channels[c]) : []} languages={languages} dirty={dirty}
                choice={previewState[0]} onChoice={previewState[1]} onErrors={setPreviewErrors} />
            </div>
          </div>
        </>
      )}
      {deleting && stored && (
        <Confirm title={`Delete “${stored.name}”?`} danger confirmLabel="Delete"
          body={<p>The message is removed from the list; sends already made keep the revision they used.</p>}
          onConfirm={remove} onCancel={() => setDeleting(false)} />
      )}
    </div>
  );
}

function AddLanguage({ onAdd }: { onAdd: (code: string) => void }) {
  const [code, setCode] = useState("");
  return (
    <form className="add-language" onSubmit={(e) => { e.preventDefault(); onAdd(code); setCode(""); }}>
      <input aria-label="New language" placeholder="uk, de, pt-BR" value={code} pattern="[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*" maxLength={35} onChange={(e) => setCode(e.target.value)} />
      <button className="btn btn-small" type="submit" disabled={!code.trim()}>+ Language</button>
    </form>
  );
}

function MetaFields({ doc, readOnly, languages, onChange }: { doc: MessageDoc; readOnly: boolean; languages: string[]; onChange: (d: MessageDoc) => void }) {
  return (
    <div className="message-meta">
      <label className="field">
        <span>Name</span>
        <input aria-label="Message name" value={doc.name} readOnly={readOnly} maxLength={200} onChange={(e) => onChange({ ...doc, name: e.target.value })} />
      </label>
      <label className="field">
        <span>Category</span>
        <select aria-label="Message category" value={doc.category} disabled={readOnly} onChange={(e) => onChange({ ...doc, category: e.target.value as MessageDoc["category"] })}>
          <option value="promo">Promo</option>
          <option value="trigger">Trigger</option>
          <option value="transactional">Transactional (no marketing consent needed)</option>
        </select>
      </label>
      <label className="field">
        <span>Topic</span>
        <input aria-label="Topic" value={doc.topic ?? ""} readOnly={readOnly} maxLength={100} placeholder="e.g. news (consent per topic)" onChange={(e) => onChange({ ...doc, topic: e.target.value })} />
      </label>
      <label className="field">
        <span>Default language</span>
        <select aria-label="Default language" value={doc.default_language ?? ""} disabled={readOnly} onChange={(e) => onChange({ ...doc, default_language: e.target.value || null })}>
          <option value="">The workspace's</option>
          {languages.map((l) => <option key={l} value={l}>{l}</option>)}
        </select>
      </label>
      <label className="field">
        <span>Tags</span>
        <input aria-label="Tags" value={doc.tags.join(", ")} readOnly={readOnly} placeholder="spring, sale" onChange={(e) => onChange({ ...doc, tags: e.target.value.split(",").map((t) => t.trim()) })} />
      </label>
    </div>
  );
}
