import { useState } from "react";
import { api, type ImportJob } from "../api";
import { useCan } from "../auth";
import { Badge, Empty, ErrorNote, Section, Spinner } from "../components/ui";
import { fmtShort, fmtNumber } from "../format";
import { useInterval, useLoad } from "../hooks";
import { Link, navigate } from "../router";
import { ImportJobView } from "./imports/JobView";
import { ImportWizard } from "./imports/Wizard";

export function statusTone(status: string): string {
  if (status === "done" || status === "completed") return "ok";
  if (status === "failed") return "bad";
  if (status === "running" || status === "queued") return "info";
  return "neutral";
}

export function ImportsPage({ jobId }: { jobId?: string }) {
  const canImport = useCan("marketer");
  const [jobStatus, setJobStatus] = useState<string | null>(null);
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Imports</h1>
          <p className="muted">Bring contacts, orders, products and events in from CSV or Excel files.</p>
        </div>
      </div>
      {jobId ? (
        <>
          <p className="crumbs"><Link to="/imports">← All imports</Link></p>
          <ImportJobView jobId={jobId} onStatus={setJobStatus} />
        </>
      ) : canImport ? (
        <ImportWizard onStarted={(job) => navigate(`/imports/${job.id}`)} />
      ) : (
        <div className="note">Your role can view imports but not start them.</div>
      )}
      <PastImports key={jobId ?? "new"} refresh={jobStatus} />
    </div>
  );
}

/** Past jobs; reloaded when the job on screen changes status (`refresh`). */
function PastImports({ refresh }: { refresh: string | null }) {
  const jobs = useLoad(() => api.get<ImportJob[] | { items: ImportJob[] }>("/api/v1/imports"), [refresh]);
  const list = Array.isArray(jobs.data) ? jobs.data : (jobs.data?.items ?? []);
  useInterval(jobs.reload, 3000, list.some((j) => j.status === "running" || j.status === "queued"));
  return (
    <Section title="Past imports" testId="past-imports">
      <ErrorNote error={jobs.error} />
      {jobs.data === null ? (jobs.error ? null : <Spinner />) : list.length === 0 ? <Empty>No imports yet.</Empty> : (
        <table className="table compact">
          <thead>
            <tr><th>File</th><th>Entity</th><th>Status</th><th className="right">Rows</th><th className="right">Accepted</th><th className="right">Rejected</th><th>Started</th></tr>
          </thead>
          <tbody>
            {list.map((j) => (
              <tr key={j.id} className="clickable" onClick={() => navigate(`/imports/${j.id}`)}>
                <td><Link to={`/imports/${j.id}`} onClick={(e) => e.stopPropagation()}>{j.file_name}</Link></td>
                <td>{j.entity}</td>
                <td><Badge tone={statusTone(j.status)}>{j.status}</Badge></td>
                <td className="right">{fmtNumber(j.total_rows)}</td>
                <td className="right">{fmtNumber(j.accepted_rows)}</td>
                <td className="right">{fmtNumber(j.rejected_rows)}</td>
                <td className="nowrap">{fmtShort(j.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
