// Pure helpers for the mapping step.
import type { ImportEntity, Upload } from "../../api";

export type Mapping = Record<string, string | null>;

const ENTITY_KEYS = new Set(["contacts", "orders", "products", "events"]);

/** The server's suggestion for this entity: a flat `{column: field}` or one per entity. */
export function suggestedFor(upload: Upload, entity: ImportEntity): Mapping {
  const s = (upload.suggested_mappings ?? upload.suggested_mapping ?? {}) as Record<string, unknown>;
  const perEntity = Object.keys(s).length > 0 && Object.keys(s).every((k) => ENTITY_KEYS.has(k));
  const flat = (perEntity ? s[entity] ?? {} : s) as Mapping;
  const out: Mapping = {};
  for (const col of upload.columns) out[col] = flat[col] ?? null;
  return out;
}

/** Up to three sample values of a column; sample rows may be objects or arrays. */
export function sampleColumn(upload: Upload, column: string, index: number): unknown[] {
  return upload.sample_rows
    .slice(0, 3)
    .map((row) => (Array.isArray(row) ? row[index] : (row as Record<string, unknown>)[column]))
    .filter((v) => v !== undefined && v !== null && v !== "");
}

/** A saved mapping laid over this file's columns; columns it does not name are skipped. */
export function applySaved(columns: string[], saved: Mapping): Mapping {
  return Object.fromEntries(columns.map((col) => [col, saved[col] ?? null]));
}
