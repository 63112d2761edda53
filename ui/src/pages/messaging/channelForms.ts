// The form of each channel type: the fields of its pydantic Config (channels/registry.py),
// by dotted path. A type without a form here is edited as JSON.

export type FieldKind = "text" | "number" | "bool" | "select" | "secret" | "secret-text" | "lines" | "json";

export interface FieldDef {
  path: string;
  label: string;
  kind: FieldKind;
  options?: string[];
  required?: boolean;
  placeholder?: string;
  help?: string;
  /** A checkbox's value before anything is stored (the Config's default). */
  defaultOn?: boolean;
}

export interface FormDef {
  title: string;
  fields: FieldDef[];
  /** Values the form always sends (an SMS config's `provider`). */
  fixed?: Record<string, unknown>;
  /** Objects that are null when every field of theirs is blank (an optional DKIM key). */
  optionalGroups?: string[];
}

const tuning: FieldDef[] = [
  { path: "connections", label: "Connections", kind: "number" },
  { path: "timeout_s", label: "Timeout (s)", kind: "number" },
];

const smsCommon: FieldDef[] = [
  { path: "sender", label: "Default sender", kind: "text", placeholder: "SHOP or +15550001111" },
  { path: "max_segments", label: "Longest text (segments)", kind: "number" },
  { path: "prices", label: "Price per segment by region (JSON; \"*\" the default)", kind: "json", placeholder: "{\"UA\": \"0.035\", \"*\": \"0.05\"}" },
  { path: "currency", label: "Currency", kind: "text", placeholder: "USD" },
  { path: "concurrency", label: "Requests in flight", kind: "number" },
  { path: "timeout_s", label: "Timeout (s)", kind: "number" },
];

/** SMS providers, each its own form (`Config` is a union on `provider`). */
export const SMS_PROVIDERS = ["twilio", "http", "smpp"] as const;

export const FORMS: Record<string, FormDef> = {
  "sms:twilio": {
    title: "SMS: Twilio",
    fixed: { provider: "twilio" },
    fields: [
      { path: "account_sid", label: "Account SID", kind: "text", required: true, placeholder: "AC…" },
      { path: "auth_token", label: "Auth token", kind: "secret", required: true },
      { path: "messaging_service_sid", label: "Messaging service SID", kind: "text", placeholder: "MG…" },
      { path: "status_callback_base", label: "Status callback base URL", kind: "text" },
      { path: "api_base", label: "API base URL", kind: "text" },
      ...smsCommon,
    ],
  },
  "sms:http": {
    title: "SMS: HTTP provider",
    fixed: { provider: "http" },
    fields: [
      { path: "url", label: "Send endpoint URL", kind: "text", required: true },
      { path: "method", label: "Method", kind: "select", options: ["POST", "PUT", "GET"] },
      { path: "auth", label: "Auth (JSON: basic / bearer / header; secrets read ********)", kind: "json", placeholder: "{\"kind\": \"bearer\", \"token\": \"…\"}" },
      { path: "body_format", label: "Body format", kind: "select", options: ["json", "form", "none"] },
      { path: "body", label: "Body template (JSON)", kind: "json", placeholder: "{\"to\": \"{to}\", \"text\": \"{text}\"}" },
      { path: "headers", label: "Headers (JSON)", kind: "json" },
      { path: "success_path", label: "Success path in the answer", kind: "text", placeholder: "status" },
      { path: "message_id_path", label: "Message id path in the answer", kind: "text", placeholder: "messages.0.messageId" },
      ...smsCommon,
    ],
  },
  "sms:smpp": {
    title: "SMS: SMPP",
    fixed: { provider: "smpp" },
    fields: [
      { path: "host", label: "SMSC host", kind: "text", required: true },
      { path: "port", label: "Port", kind: "number" },
      { path: "system_id", label: "System id", kind: "text", required: true },
      { path: "password", label: "Password", kind: "secret", required: true },
      { path: "system_type", label: "System type", kind: "text" },
      { path: "window", label: "Window (submits in flight)", kind: "number" },
      { path: "request_receipts", label: "Request delivery receipts", kind: "bool", defaultOn: true },
      ...smsCommon.filter((f) => f.path !== "concurrency" && f.path !== "timeout_s"),
    ],
  },
  email: {
    title: "Email (SMTP sending profile)",
    optionalGroups: ["dkim"],
    fields: [
      { path: "category", label: "Category", kind: "select", options: ["marketing", "transactional"], help: "Marketing mail carries List-Unsubscribe (RFC 8058)." },
      { path: "from_address", label: "From address", kind: "text", required: true, placeholder: "news@shop.example" },
      { path: "from_name", label: "From name", kind: "text", placeholder: "Shop" },
      { path: "reply_to", label: "Reply-To", kind: "text" },
      { path: "bounce_domain", label: "Bounce domain (VERP return path)", kind: "text", placeholder: "bounces.shop.example" },
      { path: "unsubscribe_base_url", label: "Unsubscribe base URL", kind: "text", placeholder: "https://shop.example/u/" },
      { path: "rate_per_second", label: "Rate limit (messages/s)", kind: "number" },
      { path: "smtp.host", label: "SMTP host", kind: "text", required: true },
      { path: "smtp.port", label: "SMTP port", kind: "number" },
      { path: "smtp.tls", label: "TLS", kind: "select", options: ["starttls", "implicit", "none"] },
      { path: "smtp.verify_tls", label: "Verify the server certificate", kind: "bool", defaultOn: true },
      { path: "smtp.username", label: "SMTP username", kind: "text" },
      { path: "smtp.password", label: "SMTP password", kind: "secret" },
      { path: "smtp.connections", label: "SMTP connections", kind: "number" },
      { path: "smtp.timeout_s", label: "SMTP timeout (s)", kind: "number" },
      { path: "dkim.domain", label: "DKIM domain (d=)", kind: "text", placeholder: "shop.example" },
      { path: "dkim.selector", label: "DKIM selector (s=)", kind: "text", placeholder: "rt1" },
      { path: "dkim.private_key_pem", label: "DKIM private key (PEM)", kind: "secret-text" },
    ],
  },
  viber: {
    title: "Viber business messages (Vonage)",
    fixed: { provider: "vonage" },
    fields: [
      { path: "api_key", label: "API key", kind: "text", required: true },
      { path: "api_secret", label: "API secret", kind: "secret", required: true },
      { path: "sender", label: "Viber service id", kind: "text", required: true },
      { path: "category", label: "Category", kind: "select", options: ["promotion", "transaction"] },
      { path: "ttl_s", label: "Time to live (s)", kind: "number" },
      { path: "api_base", label: "API base URL", kind: "text" },
      { path: "status_webhook_base", label: "Status webhook base URL", kind: "text" },
      { path: "signature_secret", label: "Webhook signature secret", kind: "secret" },
      { path: "fallback_channel", label: "SMS fallback: SMS channel name", kind: "text", placeholder: "main" },
      { path: "fallback_sender", label: "SMS fallback sender", kind: "text" },
      ...tuning.map((f) => (f.path === "connections" ? { ...f, path: "concurrency", label: "Requests in flight" } : f)),
    ],
  },
  webpush: {
    title: "Web push (VAPID)",
    fields: [
      { path: "subject", label: "VAPID subject", kind: "text", placeholder: "mailto:push@shop.example", help: "mailto: or https: (RFC 8292)." },
      { path: "allowed_origins", label: "Sites that may subscribe (one origin a line)", kind: "lines", placeholder: "https://shop.example" },
      { path: "vapid_private_key_pem", label: "VAPID private key (PEM; blank: one is generated)", kind: "secret-text" },
      ...tuning,
    ],
  },
  fcm: {
    title: "Mobile push: Firebase Cloud Messaging (HTTP v1)",
    fields: [
      { path: "service_account", label: "Service account JSON", kind: "secret-text", required: true },
      { path: "project_id", label: "Project id (blank: from the service account)", kind: "text" },
      { path: "base_url", label: "Base URL", kind: "text" },
      ...tuning,
    ],
  },
  apns: {
    title: "Mobile push: Apple Push Notification service (token auth)",
    fields: [
      { path: "team_id", label: "Team id", kind: "text", required: true },
      { path: "key_id", label: "Key id", kind: "text", required: true },
      { path: "private_key", label: "Private key (.p8 PEM)", kind: "secret-text", required: true },
      { path: "topic", label: "Topic (bundle id)", kind: "text", required: true },
      { path: "environment", label: "Environment", kind: "select", options: ["production", "sandbox"] },
      { path: "base_url", label: "Base URL (blank: Apple's)", kind: "text" },
      { path: "concurrency", label: "Concurrent streams", kind: "number" },
      { path: "timeout_s", label: "Timeout (s)", kind: "number" },
    ],
  },
  webhook: {
    title: "Webhook (HMAC-signed)",
    fields: [
      { path: "url", label: "URL", kind: "text", required: true, placeholder: "https://crm.example/hooks/retenta" },
      { path: "secret", label: "Signing secret", kind: "secret", required: true },
      { path: "headers", label: "Extra headers (JSON object)", kind: "json", placeholder: "{\"X-Team\": \"sales\"}" },
      { path: "allow_private_targets", label: "Allow private network targets", kind: "bool" },
      ...tuning,
    ],
  },
};

export const MASK = "********";

export function getPath(obj: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), obj);
}

export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (!o[k] || typeof o[k] !== "object") o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete o[last];
  else o[last] = value;
}

/** The form's text of a stored value. */
export function textOf(field: FieldDef, value: unknown): string | boolean {
  if (field.kind === "bool") return value === undefined || value === null ? field.defaultOn === true : value === true;
  if (field.kind === "secret" || field.kind === "secret-text") return ""; // never shown, only replaced
  if (value === null || value === undefined) return "";
  if (field.kind === "lines") return Array.isArray(value) ? value.join("\n") : String(value);
  if (field.kind === "json") return Object.keys(value as object).length ? JSON.stringify(value, null, 2) : "";
  return String(value);
}

/** The config to PUT: the stored one (masked secrets are kept by the server) with the form applied. */
export function configFrom(form: FormDef, base: Record<string, unknown>, values: Record<string, string | boolean>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...structuredClone(base), ...(form.fixed ?? {}) };
  for (const f of form.fields) {
    const v = values[f.path];
    if (f.kind === "bool") setPath(out, f.path, v === true);
    else if (f.kind === "secret" || f.kind === "secret-text") {
      if (typeof v === "string" && v !== "") setPath(out, f.path, v);
      else if (getPath(base, f.path) !== MASK) setPath(out, f.path, undefined);
    } else if (typeof v === "string" && v.trim() === "") setPath(out, f.path, f.kind === "lines" ? [] : undefined);
    else if (f.kind === "number") setPath(out, f.path, Number(v));
    else if (f.kind === "lines") setPath(out, f.path, String(v).split(/\n+/).map((s) => s.trim()).filter(Boolean));
    else if (f.kind === "json") setPath(out, f.path, JSON.parse(String(v)));
    else setPath(out, f.path, String(v).trim());
  }
  for (const group of form.optionalGroups ?? []) {
    const inner = getPath(out, group) as Record<string, unknown> | null | undefined;
    if (inner && Object.values(inner).every((x) => x === null || x === undefined || x === "")) out[group] = null;
  }
  return out;
}
