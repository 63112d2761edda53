// Pure helpers for the SQL editor: parameters in the text, positions → line and column.

/** Names of `@params` in SQL text, in order of first use; skips `@@x`, quoted strings and comments.
 * >>> sqlParams("select contact_id from orders where total > @min and x = '@no' -- @nope") → ["min"] */
export function sqlParams(sql: string): string[] {
  const out: string[] = [];
  const re = /'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?\*\/|@@[A-Za-z_]\w*|@([A-Za-z_]\w*)/g;
  for (const m of sql.matchAll(re)) {
    const name = m[1];
    if (name && !out.includes(name)) out.push(name);
  }
  return out;
}

/** 1-based line and column of a 0-based character offset. */
export function lineCol(sql: string, position: number): { line: number; column: number } {
  const before = sql.slice(0, Math.max(0, Math.min(position, sql.length)));
  const lines = before.split("\n");
  return { line: lines.length, column: (lines[lines.length - 1]?.length ?? 0) + 1 };
}

/** The line holding `position` and a caret under it, for an error message. */
export function caretSnippet(sql: string, position: number): string {
  const { line, column } = lineCol(sql, position);
  const text = sql.split("\n")[line - 1] ?? "";
  return `${text}\n${" ".repeat(Math.max(0, column - 1))}^`;
}

/** A 0-based character offset from a 1-based line and column (clamped to the text). */
export function offsetOf(sql: string, line: number, column: number): number {
  const lines = sql.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += (lines[i]?.length ?? 0) + 1;
  return Math.min(sql.length, offset + Math.max(0, column - 1));
}
