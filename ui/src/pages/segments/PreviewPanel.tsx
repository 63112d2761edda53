// The live count while editing: size, how long the count took, a sample with why each matched.
import { useState } from "react";
import { ErrorNote, Spinner } from "../../components/ui";
import { fmtNumber, fmtValue } from "../../format";
import { Link } from "../../router";
import type { PreviewState } from "./usePreview";

export function PreviewPanel({ state, title = "Live count" }: { state: PreviewState; title?: string }) {
  const { preview, errors, error, busy } = state;
  const [showSql, setShowSql] = useState(false);
  return (
    <section className="card preview" data-testid="preview" aria-busy={busy}>
      <header className="card-head">
        <h2>{title}</h2>
        {busy && <span className="muted small">counting…</span>}
      </header>
      <div className="card-body">
        {!preview && !errors.length && !error && <Spinner label="Counting…" />}
        {errors.length > 0 && (
          <p className="note note-error" data-testid="preview-invalid">
            {errors.length === 1 ? "1 problem" : `${errors.length} problems`} to fix before the count.
          </p>
        )}
        {error && !errors.length && <ErrorNote error={error} />}
        {preview && (
          <>
            <div className="preview-count">
              <span className="stat-value" data-testid="preview-count">{fmtNumber(preview.count)}</span>
              <span className="muted"> contacts</span>
            </div>
            <p className="muted small" data-testid="preview-elapsed">counted in {fmtNumber(Math.round(preview.elapsed_ms))} ms</p>
            {preview.sample.length > 0 && (
              <ul className="sample" data-testid="preview-sample">
                {preview.sample.map((s) => (
                  <li key={s.contact_id}>
                    <Link to={`/contacts/${s.contact_id}`}>{s.name || s.email || `Contact #${s.contact_id}`}</Link>
                    {s.name && s.email && <span className="muted small"> {s.email}</span>}
                    {s.reasons && s.reasons.length > 0 && (
                      <ul className="reasons">
                        {s.reasons.map((r, i) => (
                          <li key={i} className={r.matched ? "ok" : "no"} title={r.path}>
                            <span aria-hidden="true">{r.matched ? "✓" : "✗"}</span> {r.label || r.path}
                            {r.value !== undefined && r.value !== null && <span className="muted"> = {fmtValue(r.value)}</span>}
                          </li>
                        ))}
                      </ul>
                    )}
                  </li>
                ))}
              </ul>
            )}
            {preview.sql && (
              <>
                <button type="button" className="btn btn-ghost btn-small" onClick={() => setShowSql(!showSql)}>
                  {showSql ? "Hide SQL" : "Show SQL"}
                </button>
                {showSql && <pre className="json sql">{preview.sql}</pre>}
              </>
            )}
          </>
        )}
      </div>
    </section>
  );
}
