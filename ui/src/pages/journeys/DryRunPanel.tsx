// Dry run: the journey (as it is on the canvas) run against past events — who would have
// entered in the window, the path each took and the messages each would have got.
import { useState } from "react";
import { api } from "../../api";
import { ErrorNote, Empty } from "../../components/ui";
import { fmtShort } from "../../format";
import { Link } from "../../router";

export interface DryStep { node_id: string; decision: string; reason: string; at: string }
export interface DrySend { node_id: string; message_id: string; channel: string }
export interface DryContact { contact_id: number; entered_at: string; path: DryStep[]; sends: DrySend[] }
export interface DryRun { entered: number; contacts: DryContact[]; by_node: Record<string, number> }

/** `datetime-local` text for a moment `days` ago, in the browser's time. */
function localDaysAgo(days: number): string {
  const d = new Date(Date.now() - days * 86_400_000);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function DryRunPanel({ journeyId, version, draft, dirty, validate, onResult }: {
  journeyId: string | null;
  /** A past version being viewed: that version is dry-run, as stored. */
  version: number | null;
  draft: () => Record<string, unknown>; dirty: boolean;
  /** Checks the canvas (its problems then show on the nodes); false stops the dry run. */
  validate: () => Promise<boolean>; onResult: (r: DryRun | null) => void;
}) {
  const [since, setSince] = useState(() => localDaysAgo(7));
  const [until, setUntil] = useState("");
  const [limit, setLimit] = useState(50);
  const [result, setResult] = useState<DryRun | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const window = { since: new Date(since).toISOString(), ...(until ? { until: new Date(until).toISOString() } : {}), limit };
      const saved = journeyId && (!dirty || version !== null);
      if (!saved && !(await validate())) {
        setError(new Error("Fix the problems shown on the canvas first."));
        return;
      }
      // A saved, unchanged journey runs as stored; otherwise the canvas's draft is sent.
      const answer = saved
        ? await api.post<DryRun>(`/api/v1/journeys/${encodeURIComponent(journeyId)}/dry-run`, version === null ? window : { ...window, version })
        : await api.post<DryRun>("/api/v1/journeys/dry-run", { ...window, definition: draft() });
      setResult(answer);
      onResult(answer);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="jpanel" data-testid="dry-run-panel">
      <h3>Dry run{version !== null ? ` of version ${version}` : ""}</h3>
      <p className="muted small">Who would have entered in this window, and what each would have got. Nothing is sent.</p>
      <label className="field"><span>From</span><input type="datetime-local" aria-label="Dry run from" value={since} onChange={(e) => setSince(e.target.value)} /></label>
      <label className="field"><span>Until (blank: now)</span><input type="datetime-local" aria-label="Dry run until" value={until} onChange={(e) => setUntil(e.target.value)} /></label>
      <label className="field"><span>Show at most this many contacts</span>
        <input type="number" min={1} max={1000} aria-label="Dry run limit" value={limit} onChange={(e) => setLimit(Number(e.target.value))} />
      </label>
      <div className="row-inline">
        <button type="button" className="btn btn-primary btn-small" disabled={busy} onClick={() => void run()}>{busy ? "Running…" : "Run dry run"}</button>
        {result && <button type="button" className="btn btn-small" onClick={() => { setResult(null); onResult(null); }}>Clear</button>}
      </div>
      <ErrorNote error={error} />
      {result && <DryResult result={result} />}
    </div>
  );
}

function DryResult({ result }: { result: DryRun }) {
  return (
    <div data-testid="dry-run-result">
      <p><strong data-testid="dry-run-entered">{result.entered}</strong> contact{result.entered === 1 ? "" : "s"} would have entered
        {result.contacts.length < result.entered ? ` (first ${result.contacts.length} shown)` : ""}.</p>
      {!result.contacts.length ? <Empty>Nobody would have entered.</Empty> : (
        <ul className="dry-contacts">
          {result.contacts.map((c) => (
            <li key={`${c.contact_id}-${c.entered_at}`} data-testid="dry-run-contact">
              <div><Link to={`/contacts/${c.contact_id}`}>#{c.contact_id}</Link> <span className="muted small">entered {fmtShort(c.entered_at)}</span></div>
              <ol className="dry-path">
                {c.path.map((s, i) => (
                  <li key={i}><span className="mono">{s.node_id}</span> {s.decision}{s.reason ? <span className="muted"> — {s.reason}</span> : null}</li>
                ))}
              </ol>
              {c.sends.length > 0 && (
                <div className="small" data-testid="dry-run-sends">Would get: {c.sends.map((s) => `${s.message_id} by ${s.channel} (${s.node_id})`).join("; ")}</div>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
