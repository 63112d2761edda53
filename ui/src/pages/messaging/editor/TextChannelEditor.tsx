// SMS, Viber, push, in-app and webhook content: their text fields per language; SMS shows
// its GSM-7 / UCS-2 length and segment count as you type.
import type { Block, TemplateError } from "../types";
import { smsLength } from "../smsSegments";
import { LiveErrors } from "./EmailEditor";
import { setLang, TEXT_FIELDS, type BlockRef, type ChannelName, type PerLanguage, type TextContent } from "./model";

interface Props {
  channel: Exclude<ChannelName, "email">;
  content: TextContent;
  language: string;
  blocks: Block[];
  errors: TemplateError[];
  readOnly: boolean;
  onChange: (content: TextContent) => void;
}

export function TextChannelEditor({ channel, content, language, blocks, errors, readOnly, onChange }: Props) {
  const fields = TEXT_FIELDS[channel];
  const append = content.append ?? [];
  const textBlocks = blocks.filter((b) => Object.keys(b.text).length > 0);
  return (
    <div data-testid={`${channel}-editor`}>
      {fields.map((f, i) => {
        const values = content[f.name] as PerLanguage | undefined;
        const value = values?.[language] ?? "";
        const own = errors.filter((e) => `${e.path ?? ""} ${e.template ?? ""}`.includes(`${f.name}.${language}`));
        const set = (text: string) => onChange({ ...content, [f.name]: setLang(values, language, text, i === 0) });
        return (
          <label className="field" key={f.name}>
            <span>{f.label} ({language})</span>
            {f.multiline ? (
              <textarea className="code" rows={channel === "webhook" ? 8 : 4} aria-label={f.label} value={value} readOnly={readOnly} onChange={(e) => set(e.target.value)} />
            ) : (
              <input aria-label={f.label} value={value} readOnly={readOnly} onChange={(e) => set(e.target.value)} />
            )}
            {channel === "sms" && f.name === "text" && <SmsCounter text={value} />}
            <LiveErrors source={value} kind="text" enabled={!readOnly} />
            {own.map((e, k) => <span key={k} className="field-error">{e.line ? `line ${e.line}: ` : ""}{e.reason}</span>)}
          </label>
        );
      })}
      {channel !== "webhook" && (
        <div className="field">
          <span>Blocks appended to the {fields.find((f) => f.multiline)?.label.toLowerCase() ?? "text"}</span>
          {append.map((ref, i) => (
            <div key={i} className="append-row">
              <span>{blocks.find((b) => b.id === ref.block)?.name ?? ref.block}</span>
              {!readOnly && <button type="button" className="btn btn-small btn-ghost" aria-label={`Remove appended block ${i + 1}`}
                onClick={() => onChange({ ...content, append: append.filter((_, j) => j !== i) })}>✕</button>}
            </div>
          ))}
          {!readOnly && textBlocks.length > 0 && (
            <select aria-label="Append a block" value=""
              onChange={(e) => e.target.value && onChange({ ...content, append: [...append, { block: e.target.value } as BlockRef] })}>
              <option value="">Append a text block…</option>
              {textBlocks.map((b) => <option key={b.id} value={b.id}>{b.name} ({b.kind})</option>)}
            </select>
          )}
        </div>
      )}
    </div>
  );
}

/** The live length of an SMS text as written (template tags counted as typed). */
export function SmsCounter({ text }: { text: string }) {
  const n = smsLength(text);
  return (
    <span className="muted small" data-testid="sms-count">
      {n.encoding} · {n.units} {n.encoding === "GSM-7" ? "characters" : "UCS-2 units"} · {n.segments} {n.segments === 1 ? "segment" : "segments"} · {n.left} left
      {n.encoding === "UCS-2" && " (a character outside GSM-7 makes every part 70 / 67)"}
    </span>
  );
}
