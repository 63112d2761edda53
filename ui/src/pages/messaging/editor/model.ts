// The message document as the content API takes and returns it (messaging/content/schemas.py).
import type { Category } from "../types";

export type PerLanguage = Record<string, string>;
export type ParamValue = unknown;
export interface BlockRef { block: string; params?: Record<string, ParamValue> }
export interface InlineSection { mjml: PerLanguage }
export type BodyPart = BlockRef | InlineSection;

export interface EmailContent {
  subject: PerLanguage;
  preheader?: PerLanguage;
  head?: string;
  background_color?: string;
  body: BodyPart[];
}
export interface TextContent {
  append?: BlockRef[];
  [field: string]: PerLanguage | BlockRef[] | undefined;
}
export interface Channels {
  email?: EmailContent;
  sms?: TextContent;
  viber?: TextContent;
  push?: TextContent;
  inapp?: TextContent;
  webhook?: TextContent;
}
export type ChannelName = keyof Channels;
export const CHANNELS: ChannelName[] = ["email", "sms", "viber", "push", "inapp", "webhook"];
export const CHANNEL_LABEL: Record<ChannelName, string> = {
  email: "Email", sms: "SMS", viber: "Viber", push: "Mobile push", inapp: "In-app", webhook: "Webhook",
};

/** Each text channel's fields, the first being the main one (compose.py TEXT_FIELDS). */
export const TEXT_FIELDS: Record<Exclude<ChannelName, "email">, { name: string; label: string; multiline?: boolean }[]> = {
  sms: [{ name: "text", label: "Text", multiline: true }],
  viber: [
    { name: "text", label: "Text", multiline: true }, { name: "image_url", label: "Image URL" },
    { name: "button_text", label: "Button text" }, { name: "button_url", label: "Button URL" },
  ],
  push: [
    { name: "title", label: "Title" }, { name: "body", label: "Body", multiline: true },
    { name: "image_url", label: "Image URL" }, { name: "url", label: "Open URL" },
  ],
  inapp: [
    { name: "title", label: "Title" }, { name: "body", label: "Body", multiline: true },
    { name: "image_url", label: "Image URL" }, { name: "url", label: "Link URL" },
  ],
  webhook: [{ name: "body", label: "Request body (e.g. JSON with |tojson)", multiline: true }],
};
const MAIN_FIELD: Record<Exclude<ChannelName, "email">, string> = { sms: "text", viber: "text", push: "body", inapp: "body", webhook: "body" };

export interface MessageDoc {
  name: string;
  category: Category;
  topic?: string | null;
  tags: string[];
  default_language?: string | null;
  channels: Channels;
}
export interface StoredMessage extends MessageDoc {
  id: string;
  revision: number;
  created_at: string;
  updated_at: string;
}

export function isBlockRef(part: BodyPart): part is BlockRef {
  return "block" in part;
}

export function emptyMessage(language = "en"): MessageDoc {
  return {
    name: "", category: "promo", tags: [], default_language: language,
    channels: { email: { subject: { [language]: "" }, preheader: {}, body: [{ mjml: { [language]: SECTION_TEMPLATE } }] } },
  };
}

export const SECTION_TEMPLATE = `<mj-section>
  <mj-column>
    <mj-text>Hello {{ contact.first_name | default("there") }}!</mj-text>
  </mj-column>
</mj-section>`;

export function emptyChannel(channel: ChannelName, language: string): EmailContent | TextContent {
  if (channel === "email") return { subject: { [language]: "" }, preheader: {}, body: [{ mjml: { [language]: SECTION_TEMPLATE } }] };
  return { [MAIN_FIELD[channel]]: { [language]: "" } };
}

/** Every language any field of the message is written in, the default first. */
export function languagesOf(doc: MessageDoc): string[] {
  const found = new Set<string>();
  const add = (pl: unknown) => {
    if (pl && typeof pl === "object" && !Array.isArray(pl)) Object.keys(pl).forEach((l) => found.add(l));
  };
  const email = doc.channels.email;
  if (email) {
    add(email.subject);
    add(email.preheader);
    email.body.forEach((p) => !isBlockRef(p) && add(p.mjml));
  }
  for (const ch of CHANNELS) {
    if (ch === "email") continue;
    const content = doc.channels[ch];
    if (content) TEXT_FIELDS[ch].forEach((f) => add(content[f.name]));
  }
  if (doc.default_language) found.add(doc.default_language);
  const rest = [...found].filter((l) => l !== doc.default_language).sort();
  return doc.default_language ? [doc.default_language, ...rest] : rest;
}

/** `values` with `language` set to `text`; an empty text removes the language (optional fields only). */
export function setLang(values: PerLanguage | undefined, language: string, text: string, keepEmpty: boolean): PerLanguage {
  const out = { ...(values ?? {}) };
  if (text === "" && !keepEmpty) delete out[language];
  else out[language] = text;
  return out;
}

/** The array with item `i` moved by `by` places (clamped). */
export function move<T>(items: T[], i: number, by: number): T[] {
  const j = Math.max(0, Math.min(items.length - 1, i + by));
  if (i === j) return items;
  const out = [...items];
  const [item] = out.splice(i, 1);
  out.splice(j, 0, item as T);
  return out;
}

/** The document without empty optional per-language fields the API would refuse or keep as noise. */
export function cleaned(doc: MessageDoc): MessageDoc {
  const topic = doc.topic?.trim();
  return { ...doc, name: doc.name.trim(), topic: topic ? topic : null, tags: doc.tags.filter(Boolean) };
}
