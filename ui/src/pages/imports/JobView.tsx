import { useEffect, useState } from "react";
import { api, type ImportJob, type RejectRow } from "../../api";
import { Badge, Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtDate, fmtNumber, fmtValue } from "../../format";
import { useInterval, useLoad } from "../../hooks";
import { statusTone } from "../ImportsPage";

const FINISHED = new Set(["done", "completed", "failed", "cancelled"]);

/** Percent done, 0–100; unknown totals read as 0 until the file has been counted. */
export function percent(job: ImportJob): number {
  if (FINISHED.has(job.status) && job.status !== "failed") return 100;
  if (!job.total_rows) return 0;
  return Math.min(100, Math.round((100 * job.processed_rows) / job.total_rows));
}

export function ImportJobView({ jobId, onStatus }: { jobId: string; onStatus?: (status: string) => void }) {
  const [job, setJob] = useState<ImportJob | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const poll = async () => {
    try {
      setJob(await api.get<ImportJob>(`/api/v1/imports/${encodeURIComponent(jobId)}`));
    } catch (err) {
      setError(err as Error);
    }
  };
  const finished = job !== null && FINISHED.has(job.status);
  useInterval(poll, 1000, !finished && !error);
  useLoad(poll, [jobId]);
  useEffect(() => {
    if (job) onStatus?.(job.status);
  }, [job?.status, onStatus]); // eslint-disable-line react-hooks/exhaustive-deps
  if (!job) return error ? <ErrorNote error={error} /> : <Spinner />;
  return (
    <>
      <Section title={`Import of ${job.file_name}`} testId="import-job">
        <div className="job-line">
          <Badge tone={statusTone(job.status)}><span data-testid="import-status">{job.status}</span></Badge>
          <span className="muted">{job.entity} · started {fmtDate(job.created_at)}</span>
        </div>
        <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent(job)}>
          <div className={`progress-bar ${job.status === "failed" ? "failed" : ""}`} style={{ width: `${percent(job)}%` }} />
        </div>
        <div className="job-counts">
          <span>{fmtNumber(job.processed_rows)} of {fmtNumber(job.total_rows)} rows processed</span>
          <span data-testid="accepted-rows"><strong>{fmtNumber(job.accepted_rows)}</strong> accepted</span>
          <span data-testid="rejected-rows"><strong>{fmtNumber(job.rejected_rows)}</strong> rejected</span>
        </div>
        {job.error && <div className="note note-error">{job.error}</div>}
      </Section>
      {finished && <Rejects jobId={job.id} count={job.rejected_rows} />}
    </>
  );
}

type RawReject = RejectRow & { row_number?: number; raw?: unknown };

/** Rejected rows, from a bare list or `{items: [...]}`; `row_number`/`raw` accepted too. */
function rejectsOf(data: unknown): RejectRow[] {
  const list = (Array.isArray(data) ? data : ((data as { items?: unknown[] } | null)?.items ?? [])) as RawReject[];
  return list.map((r) => ({ row: r.row ?? r.row_number ?? 0, field: r.field, reason: r.reason, data: r.data ?? r.raw }));
}

const REPORT_ROWS = 200;

function Rejects({ jobId, count }: { jobId: string; count: number }) {
  const base = `/api/v1/imports/${encodeURIComponent(jobId)}/rejects`;
  const rejects = useLoad(() => api.get<unknown>(`${base}?limit=${REPORT_ROWS}`), [jobId, count]);
  const rows = rejectsOf(rejects.data);
  const total = (rejects.data as { total?: number } | null)?.total ?? rows.length;
  const csv = total > 0 && (
    <a className="btn btn-small" href={`${base}?format=csv&limit=10000`} download={`rejects-${jobId}.csv`}>Download CSV</a>
  );
  return (
    <Section title="Validation report" testId="rejects" actions={csv}>
      {total > rows.length && <p className="muted small">Showing the first {rows.length} of {fmtNumber(total)} problems.</p>}
      <ErrorNote error={rejects.error} />
      {rejects.loading ? <Spinner /> : rows.length === 0 ? <Empty>Every row was accepted.</Empty> : (
        <table className="table compact">
          <thead><tr><th>Row</th><th>Field</th><th>Reason</th><th>Data</th></tr></thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={`${r.row}:${i}`} data-testid="reject-row">
                <td>{r.row}</td>
                <td className="mono">{r.field ?? "—"}</td>
                <td>{r.reason}</td>
                <td className="mono small wrap">{fmtValue(r.data)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
