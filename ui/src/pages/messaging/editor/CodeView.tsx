// A read-only source with line numbers; the lines named by errors are marked, with the reason.
import type { TemplateError } from "../types";

export function CodeView({ title, source, errors, testId }: { title: string; source: string; errors: TemplateError[]; testId?: string }) {
  const lines = source.split("\n");
  const bad = new Map(errors.filter((e) => e.line).map((e) => [e.line!, e.reason]));
  return (
    <div className="code-view" data-testid={testId}>
      <div className="code-view-title">{title}</div>
      <ol className="code-lines">
        {lines.map((line, i) => (
          <li key={i} className={bad.has(i + 1) ? "bad" : undefined} data-line={i + 1} title={bad.get(i + 1)}>
            <code>{line || " "}</code>
          </li>
        ))}
      </ol>
      {errors.length > 0 && (
        <ul className="cond-errors" role="alert">
          {errors.map((e, i) => <li key={i}>{e.line ? `line ${e.line}: ` : ""}{e.reason}</li>)}
        </ul>
      )}
    </div>
  );
}
