import { useCallback, useEffect, useState } from "react";
import { api, type LiveStats } from "../api";
import { Chart } from "../components/Chart";
import { ErrorNote, Spinner } from "../components/ui";
import { clockTime, fmtNumber } from "../format";
import { useInterval } from "../hooks";
import { Link } from "../router";

const REFRESH_MS = 5000;

const SERIES = [
  { key: "events", label: "Events", color: "#4f46e5", kind: "bar" },
  { key: "contacts", label: "New contacts", color: "#0e9f6e", kind: "bar" },
  { key: "merges", label: "Merges", color: "#d97706", kind: "bar" },
  { key: "imports", label: "Imports", color: "#0284c7", kind: "bar" },
] as const;

/** `HH:MM` labels for the minute buckets, in the viewer's time zone. */
function minuteLabels(buckets: string[]): string[] {
  return buckets.map((b) => new Date(b).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }));
}

function Stat({ label, value, hint, testId }: { label: string; value: number; hint?: string; testId: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className="stat-value" data-testid={`${testId}-value`}>{fmtNumber(value)}</div>
      {hint && <div className="stat-hint">{hint}</div>}
    </div>
  );
}

export function DashboardPage() {
  const [stats, setStats] = useState<LiveStats | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [updated, setUpdated] = useState<Date | null>(null);

  const refresh = useCallback(async () => {
    try {
      setStats(await api.get<LiveStats>("/api/v1/stats/live?minutes=60"));
      setUpdated(new Date());
      setError(null);
    } catch (err) {
      setError(err as Error);
    }
  }, []);
  useEffect(() => void refresh(), [refresh]);
  useInterval(refresh, REFRESH_MS);

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Dashboard</h1>
          <p className="muted">Activity in this workspace over the last 60 minutes.</p>
        </div>
        <div className="live" data-testid="updated-at">
          <span className="live-dot" />
          {updated ? `Live · updated ${clockTime(updated)}` : "Connecting…"}
        </div>
      </div>
      <ErrorNote error={error} />
      {!stats ? <Spinner /> : <DashboardBody stats={stats} />}
    </div>
  );
}

function DashboardBody({ stats }: { stats: LiveStats }) {
  const labels = minuteLabels(stats.buckets);
  const imp = stats.imports;
  return (
    <>
      <div className="stats">
        <Stat testId="stat-events" label="Events" value={stats.totals.events}
          hint={`received in 60 min · ${fmtNumber(stats.dead_letters.refused)} refused`} />
        <Stat testId="stat-contacts" label="New contacts" value={stats.totals.contacts}
          hint={`${fmtNumber(stats.contacts_total)} contacts in total`} />
        <Stat testId="stat-merges" label="Merges" value={stats.totals.merges} hint="identity merges" />
        <Stat testId="stat-imports" label="Imports" value={stats.totals.imports}
          hint={`${fmtNumber(imp.accepted_rows)} rows accepted · ${fmtNumber(imp.rejected_rows)} rejected${imp.running ? ` · ${imp.running} running` : ""}`} />
      </div>
      {stats.dead_letters.pending > 0 && (
        <div className="note" data-testid="dead-letters-waiting">
          {fmtNumber(stats.dead_letters.pending)} refused{" "}
          {stats.dead_letters.pending === 1 ? "event waits" : "events wait"} for a decision in{" "}
          <Link to="/dead-letters">Dead letters</Link>.
        </div>
      )}
      <div className="chart-grid">
        {SERIES.map((s) => (
          <div className="card chart-card" key={s.key} data-testid={`chart-${s.key}`}>
            <div className="chart-title">
              <span>{s.label} per minute</span>
              <strong>{fmtNumber(stats.totals[s.key])}</strong>
            </div>
            <Chart name={s.label} labels={labels} values={stats.series[s.key]} color={s.color} kind={s.kind} />
          </div>
        ))}
      </div>
    </>
  );
}
