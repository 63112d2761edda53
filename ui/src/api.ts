// The one place that talks HTTP to the Retenta API. Every request carries the
// X-Requested-With header, which the server demands of cookie-authenticated
// state-changing calls (a cross-site form cannot set it: CSRF protection).

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field: string | null = null,
    public details: { path: string; reason: string }[] = [],
  ) {
    super(message);
  }
}

type Unauthorized = () => void;
let onUnauthorized: Unauthorized = () => {};

/** Called when any API call (other than the auth probes) answers 401. */
export function setUnauthorizedHandler(handler: Unauthorized): void {
  onUnauthorized = handler;
}

const BASE_HEADERS = { "X-Requested-With": "retenta-ui", Accept: "application/json" };

async function errorFrom(resp: Response): Promise<ApiError> {
  try {
    const body = await resp.json();
    const err = body?.error ?? {};
    const details = Array.isArray(err.details) ? err.details : [];
    return new ApiError(resp.status, err.code ?? "error", err.message ?? resp.statusText, err.field ?? null, details);
  } catch {
    return new ApiError(resp.status, "error", `${resp.status} ${resp.statusText}`);
  }
}

async function send(method: string, path: string, body?: unknown, quiet401 = false): Promise<Response> {
  const init: RequestInit = { method, headers: { ...BASE_HEADERS }, credentials: "same-origin" };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  const resp = await fetch(path, init);
  if (!resp.ok) {
    if (resp.status === 401 && !quiet401) onUnauthorized();
    throw await errorFrom(resp);
  }
  return resp;
}

async function json<T>(method: string, path: string, body?: unknown, quiet401 = false): Promise<T> {
  const resp = await send(method, path, body, quiet401);
  return resp.status === 204 ? (undefined as T) : ((await resp.json()) as T);
}

export const api = {
  get: <T>(path: string) => json<T>("GET", path),
  post: <T>(path: string, body?: unknown) => json<T>("POST", path, body ?? {}),
  put: <T>(path: string, body?: unknown) => json<T>("PUT", path, body ?? {}),
  del: <T>(path: string) => json<T>("DELETE", path),
  upload: <T>(path: string, form: FormData) => json<T>("POST", path, form),
  blob: async (path: string) => (await send("GET", path)).blob(),
  probe: <T>(path: string) => json<T>("GET", path, undefined, true),
  login: (email: string, password: string) =>
    json<Me>("POST", "/api/v1/auth/login", { email, password }, true),
};

/** `?a=1&b=x` from an object, skipping empty values. */
export function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export type Role = "admin" | "marketer" | "analyst";

export interface Me {
  id: string;
  email: string;
  role: Role;
  workspace: { id: string; name: string };
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface LiveStats {
  minutes: number;
  since: string;
  until: string;
  buckets: string[];
  series: Record<"events" | "contacts" | "merges" | "imports", number[]>;
  totals: Record<"events" | "contacts" | "merges" | "imports", number>;
  contacts_total: number;
  imports: { accepted_rows: number; rejected_rows: number; running: number };
  /** Events refused in the window, and letters of any age waiting for a decision. */
  dead_letters: { refused: number; pending: number };
}

export interface ContactRow {
  id: number;
  email: string | null;
  phone: string | null;
  external_id: string | null;
  name: string | null;
  last_seen_at: string | null;
  created_at: string | null;
}

export interface Identifier {
  type: string;
  value: string;
  first_seen: string | null;
  last_seen: string | null;
}

export interface Consent {
  channel: string;
  topic: string | null;
  status: string;
  source: string | null;
  changed_at: string | null;
}

export interface Profile {
  id: number;
  created_at: string | null;
  updated_at: string | null;
  last_seen_at: string | null;
  identifiers: Identifier[];
  attributes: Record<string, unknown>;
  provenance: Record<string, unknown>;
  language: string | null;
  timezone: string | null;
  consents: { current: Consent[]; history: Consent[] };
  traits: Record<string, unknown>;
  merged_from: number[];
}

export interface TimelineEvent {
  message_id: string;
  type: string;
  event: string | null;
  timestamp: string;
  received_at: string | null;
  properties: Record<string, unknown> | null;
  traits: Record<string, unknown> | null;
  context: Record<string, unknown> | null;
  source: string | null;
}

export interface Merge {
  id: number | string;
  merged_at: string;
  winner_id: number;
  loser_id: number;
  rule: string;
  inputs: unknown;
  trigger_message_id: string | null;
  reverted_at: string | null;
}

export type ImportEntity = "contacts" | "orders" | "products" | "events";

export interface Upload {
  upload_id: string;
  file_name: string;
  columns: string[];
  sample_rows: unknown[];
  suggested_mapping: Record<string, string | null> | Partial<Record<ImportEntity, Record<string, string | null>>>;
  suggested_mappings?: Partial<Record<ImportEntity, Record<string, string | null>>>;
}

export interface ImportField {
  name: string;
  type?: string;
  required?: boolean;
  description?: string;
}

export interface ImportJob {
  id: string;
  entity: ImportEntity;
  file_name: string;
  status: string;
  total_rows: number | null;
  processed_rows: number;
  accepted_rows: number;
  rejected_rows: number;
  error: string | null;
  created_at: string;
}

export interface RejectRow {
  row: number;
  field?: string | null;
  reason: string;
  data?: unknown;
}

export interface ApiKey {
  id: string;
  kind: "write" | "api";
  name: string;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}

export interface User {
  id: string;
  email: string;
  role: Role;
  created_at: string;
}

export interface WorkspaceInfo {
  id: string;
  name: string;
  settings: unknown;
  created_at: string;
}
