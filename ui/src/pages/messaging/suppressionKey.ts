// The suppression list keeps SHA-256 of `kind:normalized value`, never the value itself
// (retenta/messaging/suppression.py). These mirror its normalization so the UI can tell
// whether one address is listed without the server ever returning addresses.

export type SuppressionKind = "email" | "phone";

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** `" Olena@Example.COM "` → `"olena@example.com"`; `"+380 (50) 123-45-67"` → `"+380501234567"`; null when invalid. */
export function normalize(kind: SuppressionKind, value: string): string | null {
  if (kind === "email") {
    const v = value.trim().toLowerCase();
    return EMAIL.test(v) ? v : null;
  }
  const digits = value.replace(/\D/g, "");
  return digits.length >= 6 && digits.length <= 15 ? `+${digits}` : null;
}

/** What a search text names: an email when it has an @, a phone when it is mostly digits. */
export function kindOf(text: string): SuppressionKind | null {
  if (text.includes("@")) return "email";
  return /^[\d\s()+.-]+$/.test(text.trim()) && text.replace(/\D/g, "").length >= 6 ? "phone" : null;
}

/** Lower-case hex SHA-256 of `kind:normalized`, as the server stores it; null for an invalid value. */
export async function suppressionHash(kind: SuppressionKind, value: string): Promise<string | null> {
  const normalized = normalize(kind, value);
  if (normalized === null) return null;
  const bytes = new TextEncoder().encode(`${kind}:${normalized}`);
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
