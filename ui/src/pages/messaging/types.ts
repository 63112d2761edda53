// Shapes of the messaging API (suppressions, messages, blocks, channels, sends).

export interface Suppression {
  kind: "email" | "phone";
  hash: string;
  hint: string;
  reason: string;
  source: string;
  send_id: string | null;
  created_at: string;
}

export const SUPPRESSION_REASONS = ["manual", "hard_bounce", "complaint", "unsubscribed"] as const;

export type Category = "transactional" | "trigger" | "promo";
export const CATEGORY_TONE: Record<string, string> = { promo: "info", trigger: "warn", transactional: "ok" };

/** A row of GET /api/v1/messages (the list may carry channel names or whole channel contents). */
export interface MessageSummary {
  id: string;
  name: string;
  category: Category;
  topic?: string | null;
  tags?: string[];
  channels?: string[] | Record<string, unknown>;
  languages?: string[];
  revision?: number;
  updated_at: string;
}

export function messageChannels(m: MessageSummary): string[] {
  if (!m.channels) return [];
  return Array.isArray(m.channels) ? m.channels : Object.keys(m.channels);
}

/** The languages a message is written in: its own list, or those its channel contents hold. */
export function messageLanguages(m: MessageSummary): string[] {
  if (m.languages) return m.languages;
  if (!m.channels || Array.isArray(m.channels)) return [];
  const found = new Set<string>();
  for (const content of Object.values(m.channels)) {
    const versions = (content as { versions?: Record<string, unknown> } | null)?.versions;
    if (versions && typeof versions === "object") Object.keys(versions).forEach((l) => found.add(l));
  }
  return [...found].sort();
}
