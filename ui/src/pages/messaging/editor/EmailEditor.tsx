// The email channel: subject and preheader per language, the body as an ordered list of
// block references (from the library) and inline MJML sections, and a code view.
import { useState } from "react";
import { Link } from "../../../router";
import type { Block, TemplateError } from "../types";
import { CodeView } from "./CodeView";
import { useValidate, type SourceKind } from "./useValidate";
import { isBlockRef, move, SECTION_TEMPLATE, setLang, type BlockRef, type BodyPart, type EmailContent, type InlineSection } from "./model";

interface Props {
  email: EmailContent;
  language: string;
  blocks: Block[];
  errors: TemplateError[];
  readOnly: boolean;
  onChange: (email: EmailContent) => void;
}

/** Errors that belong to body part `i` (paths like `email.body[2]…`, or the block's id). */
export function partErrors(errors: TemplateError[], i: number, part: BodyPart): TemplateError[] {
  const marks = [`body[${i}]`, `body.${i}`];
  if (isBlockRef(part)) marks.push(part.block);
  return errors.filter((e) => marks.some((m) => `${e.path ?? ""} ${e.template ?? ""}`.includes(m)));
}

function fieldErrors(errors: TemplateError[], field: string): TemplateError[] {
  return errors.filter((e) => `${e.path ?? ""} ${e.template ?? ""}`.includes(field));
}

/** The block's email source for a language, falling back to the first one it has. */
function blockSource(block: Block | undefined, language: string): { source: string; language: string } | null {
  if (!block) return null;
  const lang = block.email[language] !== undefined ? language : Object.keys(block.email)[0];
  return lang === undefined ? null : { source: block.email[lang] ?? "", language: lang };
}

export function EmailEditor({ email, language, blocks, errors, readOnly, onChange }: Props) {
  const [view, setView] = useState<"blocks" | "code">("blocks");
  const subjectErrors = useValidate(email.subject[language], "subject", !readOnly);
  const [adding, setAdding] = useState("");
  const byId = new Map(blocks.map((b) => [b.id, b]));
  const setBody = (body: BodyPart[]) => onChange({ ...email, body });
  const setPart = (i: number, part: BodyPart) => setBody(email.body.map((p, j) => (j === i ? part : p)));
  const emailBlocks = blocks.filter((b) => Object.keys(b.email).length > 0);
  return (
    <div data-testid="email-editor">
      <label className="field">
        <span>Subject ({language})</span>
        <input aria-label="Subject" value={email.subject[language] ?? ""} readOnly={readOnly} maxLength={998}
          onChange={(e) => onChange({ ...email, subject: setLang(email.subject, language, e.target.value, true) })} />
        {[...fieldErrors(errors, `subject.${language}`), ...subjectErrors].map((e, i) => <span key={i} className="field-error" data-testid="subject-error">{e.reason}</span>)}
      </label>
      <label className="field">
        <span>Preheader ({language})</span>
        <input aria-label="Preheader" value={email.preheader?.[language] ?? ""} readOnly={readOnly} maxLength={1000}
          placeholder="The line inboxes show after the subject"
          onChange={(e) => onChange({ ...email, preheader: setLang(email.preheader, language, e.target.value, false) })} />
      </label>
      <div className="card-head flush-head">
        <h3 className="sub">Body</h3>
        <div className="tabs" role="tablist" aria-label="Body view">
          <button role="tab" aria-selected={view === "blocks"} className={view === "blocks" ? "tab on" : "tab"} onClick={() => setView("blocks")}>Blocks</button>
          <button role="tab" aria-selected={view === "code"} className={view === "code" ? "tab on" : "tab"} onClick={() => setView("code")}>Code</button>
        </div>
      </div>
      {view === "code" ? (
        <div data-testid="code-view">
          {email.body.map((part, i) => {
            const errs = partErrors(errors, i, part);
            if (!isBlockRef(part)) {
              return <CheckedCode key={i} title={`Section ${i + 1} · inline · ${language}`} source={part.mjml[language] ?? ""} errors={errs} />;
            }
            const block = byId.get(part.block);
            const src = blockSource(block, language);
            const title = `Section ${i + 1} · block ${block ? `${block.name} v${block.version}` : part.block} · ${src?.language ?? language}`;
            return <CodeView key={i} title={title} source={src?.source ?? "(no email source)"} errors={errs} testId="code-part" />;
          })}
        </div>
      ) : (
        <ol className="parts" data-testid="body-parts">
          {email.body.map((part, i) => (
            <li key={i} className={partErrors(errors, i, part).length ? "part part-invalid" : "part"} data-testid="body-part">
              <div className="cond-head">
                <span className="cond-type">{isBlockRef(part) ? `Block · ${byId.get(part.block)?.kind ?? "?"}` : "Inline section"}</span>
                {!readOnly && (
                  <span className="cond-actions">
                    <button type="button" className="btn btn-small btn-ghost" aria-label={`Move section ${i + 1} up`} disabled={i === 0} onClick={() => setBody(move(email.body, i, -1))}>↑</button>
                    <button type="button" className="btn btn-small btn-ghost" aria-label={`Move section ${i + 1} down`} disabled={i === email.body.length - 1} onClick={() => setBody(move(email.body, i, 1))}>↓</button>
                    <button type="button" className="btn btn-small btn-ghost" aria-label={`Remove section ${i + 1}`} disabled={email.body.length === 1} onClick={() => setBody(email.body.filter((_, j) => j !== i))}>✕</button>
                  </span>
                )}
              </div>
              {isBlockRef(part) ? (
                <BlockPart part={part} block={byId.get(part.block)} readOnly={readOnly} onChange={(p) => setPart(i, p)} />
              ) : (
                <InlinePart part={part} index={i} language={language} readOnly={readOnly} onChange={(p) => setPart(i, p)} />
              )}
              {partErrors(errors, i, part).map((e, k) => (
                <p key={k} className="field-error">{e.line ? `line ${e.line}: ` : ""}{e.reason}</p>
              ))}
            </li>
          ))}
        </ol>
      )}
      {!readOnly && (
        <div className="form-actions">
          <select aria-label="Block to add" value={adding} onChange={(e) => setAdding(e.target.value)}>
            <option value="">Choose a block from the library…</option>
            {emailBlocks.map((b) => <option key={b.id} value={b.id}>{b.name} ({b.kind})</option>)}
          </select>
          <button type="button" className="btn btn-small" disabled={!adding} onClick={() => { setBody([...email.body, { block: adding }]); setAdding(""); }}>+ Add block</button>
          <button type="button" className="btn btn-small" onClick={() => setBody([...email.body, { mjml: { [language]: SECTION_TEMPLATE } }])}>+ Inline section</button>
        </div>
      )}
    </div>
  );
}

/** An inline section's code with the saved/preview errors and the live check's. */
function CheckedCode({ title, source, errors }: { title: string; source: string; errors: TemplateError[] }) {
  const live = useValidate(source, "mjml");
  return <CodeView title={title} source={source} errors={live.length ? live : errors} testId="code-part" />;
}

function BlockPart({ part, block, readOnly, onChange }: { part: BlockRef; block: Block | undefined; readOnly: boolean; onChange: (p: BlockRef) => void }) {
  const names = Object.keys(block?.params ?? {});
  return (
    <div>
      <div>
        {block ? <Link to={`/messages/blocks/${block.id}`}>{block.name}</Link> : <code>{part.block}</code>}
        <span className="muted small"> · latest version{block ? ` (v${block.version})` : ""} — edits to the block reach this message</span>
      </div>
      {names.length > 0 && (
        <div className="params">
          {names.map((name) => (
            <ParamInput key={name} name={name} description={block?.params[name]?.description} value={part.params?.[name]} readOnly={readOnly}
              onChange={(v) => {
                const params = { ...(part.params ?? {}) };
                if (v === undefined) delete params[name];
                else params[name] = v;
                onChange({ ...part, params });
              }} />
          ))}
        </div>
      )}
    </div>
  );
}

/** A parameter as JSON (`"text"`, `3`, `{"var": "data.items"}`); blank uses the block's default. */
function ParamInput({ name, description, value, readOnly, onChange }: { name: string; description?: string; value: unknown; readOnly: boolean; onChange: (v: unknown) => void }) {
  const [text, setText] = useState(value === undefined ? "" : JSON.stringify(value));
  const [bad, setBad] = useState(false);
  return (
    <label className="param">
      <code>{name}</code>
      <input aria-label={`Parameter ${name}`} value={text} readOnly={readOnly} placeholder="default" title={description} aria-invalid={bad}
        onChange={(e) => {
          setText(e.target.value);
          if (!e.target.value.trim()) {
            setBad(false);
            onChange(undefined);
            return;
          }
          try {
            onChange(JSON.parse(e.target.value));
            setBad(false);
          } catch {
            setBad(true);
          }
        }} />
    </label>
  );
}

/** What the live check says of a source as it is typed. */
export function LiveErrors({ source, kind, enabled }: { source: string; kind: SourceKind; enabled: boolean }) {
  const errors = useValidate(source, kind, enabled);
  if (!errors.length) return null;
  return (
    <ul className="cond-errors" data-testid="live-errors">
      {errors.map((e, i) => <li key={i}>{e.line ? `line ${e.line}: ` : ""}{e.reason}</li>)}
    </ul>
  );
}

function InlinePart({ part, index, language, readOnly, onChange }: { part: InlineSection; index: number; language: string; readOnly: boolean; onChange: (p: InlineSection) => void }) {
  const source = part.mjml[language];
  if (source === undefined) {
    return (
      <p className="muted small">
        Not written in {language} yet ({Object.keys(part.mjml).join(", ")} only; those are used meanwhile).{" "}
        {!readOnly && <button type="button" className="link" onClick={() => onChange({ mjml: { ...part.mjml, [language]: Object.values(part.mjml)[0] ?? "" } })}>Write it in {language}</button>}
      </p>
    );
  }
  return (
    <>
      <textarea className="code" rows={Math.min(16, Math.max(4, source.split("\n").length + 1))} spellCheck={false} readOnly={readOnly}
        aria-label={`Section ${index + 1} MJML`} value={source}
        onChange={(e) => onChange({ mjml: setLang(part.mjml, language, e.target.value, true) })} />
      <LiveErrors source={source} kind="mjml" enabled={!readOnly} />
    </>
  );
}
