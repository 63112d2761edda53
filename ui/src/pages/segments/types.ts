// The segments HTTP API (docs/segments.md, src/retenta/segments/router.py) as TypeScript types.
import type { Definition } from "./model";

export type SegmentKind = "rules" | "sql";

export interface UsedIn {
  kind: string;
  id: string;
  name: string;
}

export interface ParamSpec {
  type?: string;
  default?: unknown;
  description?: string;
}

export interface Segment {
  id: string;
  name: string;
  description: string | null;
  owner: string | null;
  tags: string[];
  kind: SegmentKind;
  realtime: boolean;
  size: number | null;
  size_at: string | null;
  used_in: UsedIn[];
  created_at: string;
  updated_at: string;
  definition?: Definition | null;
  sql?: string | null;
  params?: Record<string, ParamSpec | unknown> | null;
}

/** What POST /segments, PUT /segments/{id}, /validate and /preview take. */
export interface SegmentBody {
  name?: string;
  description?: string;
  tags?: string[];
  kind: SegmentKind;
  definition?: Definition;
  sql?: string;
  params?: Record<string, unknown>;
  realtime?: boolean;
  sample?: number;
}

export interface PathError {
  path: string;
  reason: string;
}

export interface Validation {
  valid: boolean;
  errors: PathError[];
}

export interface Reason {
  path: string;
  label?: string | null;
  matched: boolean;
  value?: unknown;
}

export interface SampleContact {
  contact_id: number;
  email: string | null;
  name: string | null;
  reasons?: Reason[];
}

export interface Preview {
  count: number;
  elapsed_ms: number;
  sql?: string;
  sample: SampleContact[];
}

export interface Member {
  contact_id: number;
  email: string | null;
  name: string | null;
  entered_at: string | null;
}

export interface SizePoint {
  day: string;
  size: number;
}

export interface MembershipEvent {
  contact_id: number;
  kind: "entered" | "exited" | string;
  at: string;
  cause?: string | null;
  email?: string | null;
  name?: string | null;
}

export interface RefreshResult {
  size: number;
  entered: number | null;
  exited: number | null;
  elapsed_ms: number;
}

export interface Explain {
  duckdb: string;
  clickhouse: string;
}

export interface FieldInfo {
  name: string;
  type: string;
  label?: string;
}

export interface EventInfo {
  name: string;
  properties: (string | FieldInfo)[];
  count?: number;
}

export interface Fields {
  attributes: FieldInfo[];
  events: EventInfo[];
  traits: (string | FieldInfo)[];
  channels: string[];
  rfm_cells: (string | { name: string; label?: string })[];
  [extra: string]: unknown;
}

export interface FlowReport {
  segments: { id: string; name: string }[] | string[];
  matrix: { from: string; to: string; count: number }[];
}

/** Where the checker found a problem: a character offset or a 1-based line and column. */
export type SqlPosition = number | { line: number; column: number };

export interface SqlProblem {
  reason: string;
  position?: SqlPosition | null;
}

export interface SqlCheck {
  ok: boolean;
  errors: SqlProblem[];
  views_used: string[];
}

export interface RfmGridCell {
  r: number;
  f: number;
  m?: number | null;
  cell?: string;
  count: number;
  monetary_avg?: number | null;
}

export interface RfmCell {
  name: string;
  label: string;
  count: number;
  share: number;
}

export interface RfmReport {
  grid: RfmGridCell[];
  cells: RfmCell[];
  elapsed_ms: number;
  computed_at: string;
  [extra: string]: unknown;
}

export type RfmConfig = Record<string, unknown>;

/** Names from the fields endpoint, which may list plain strings or `{name}` objects. */
export function names(items: (string | { name: string })[] | undefined): string[] {
  return (items ?? []).map((i) => (typeof i === "string" ? i : i.name));
}
