// The contact's journey decision trace: why she did (or did not) get something.
import { api } from "../../api";
import { Badge, Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtDate } from "../../format";
import { useLoad } from "../../hooks";
import { Link } from "../../router";

interface TraceRow { at: string; journey_id: string; journey: string | null; run_id: string; node_id: string; decision: string; reason: string | null }

const TONE: Record<string, string> = {
  entered: "info", sent: "ok", exit: "neutral", skipped: "warn", branch: "info", converted: "ok", moved: "info", held: "warn", waiting: "neutral", waited: "neutral",
};

export function JourneyTrace({ contactId }: { contactId: number | string }) {
  const trace = useLoad(() => api.get<{ items: TraceRow[] }>(`/api/v1/contacts/${encodeURIComponent(String(contactId))}/journey-trace`), [contactId]);
  const items = trace.data?.items;
  return (
    <Section title="Journey decisions" testId="journey-trace" actions={<button type="button" className="btn btn-small" onClick={trace.reload}>Refresh</button>}>
      <ErrorNote error={trace.error} />
      {!items ? (trace.error ? null : <Spinner />) : !items.length ? <Empty>No journey has decided anything about this contact.</Empty> : (
        <table className="table compact">
          <thead><tr><th>Time</th><th>Journey</th><th>Node</th><th>Decision</th><th>Reason</th></tr></thead>
          <tbody>
            {items.map((r, i) => (
              <tr key={`${r.run_id}-${i}`} data-testid="trace-row">
                <td className="nowrap">{fmtDate(r.at)}</td>
                <td><Link to={`/journeys/${r.journey_id}`}>{r.journey ?? r.journey_id}</Link></td>
                <td className="mono">{r.node_id}</td>
                <td><Badge tone={TONE[r.decision] ?? "neutral"}>{r.decision}</Badge></td>
                <td>{r.reason ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
