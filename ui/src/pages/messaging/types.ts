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


export const BLOCK_KINDS = [
  "header", "footer", "product_card", "product_grid", "recommendations", "promo_code",
  "unsubscribe_footer", "text", "image", "button", "custom",
] as const;

export interface ParamSpec { default?: unknown; description?: string }

/** A block at one version (GET /api/v1/blocks/{id}, …/versions). */
export interface Block {
  id: string;
  version: number;
  name: string;
  kind: string;
  description: string;
  email: Record<string, string>;
  text: Record<string, string>;
  params: Record<string, ParamSpec>;
  created_at: string;
  updated_at?: string;
}

export interface BlockUser { owner_kind: string; owner_id: string; name: string | null; channels: string[] }

/** A template error as the content API names it. */
export interface TemplateError { path?: string; template?: string; line?: number | null; reason: string }

/** Lists come as `{items: [...]}` or a bare array; either reads the same. */
export function itemsOf<T>(answer: T[] | { items: T[] }): T[] {
  return Array.isArray(answer) ? answer : answer.items;
}
