// One campaign: status and actions, its settings, progress (polled every 2 s while it is
// scheduled or sending) and the report: A/B results and the holdout comparison.
import { useCallback, useState } from "react";
import { api } from "../../api";
import { useCan } from "../../auth";
import { Badge, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtNumber, fmtShort } from "../../format";
import { useInterval, useLoad } from "../../hooks";
import { Link } from "../../router";
import { campaignActions, STATUS_TONE, VARIANT, type Campaign } from "./types";

interface Report {
  ab_test: null | {
    metric: string; test: string; leader: number | null; significant: boolean; reason: string;
    variants: { variant: string; message_id: string; sent: number; rate: number; z: number | null; p_value: number | null }[];
  };
  holdout: null | { window_days: number; groups: Record<string, { recipients: number; converters: number; conversion_rate: number; revenue: number }> };
}

const PROGRESS_KEYS = ["audience", "recipients", "holdout", "global_control", "queued", "sent", "delivered", "opened", "clicked", "bounced", "failed", "suppressed", "unsubscribed"];
const LIVE = new Set(["scheduled", "sending"]);

function pct(n: number): string {
  return `${(100 * n).toFixed(1)}%`;
}

export function CampaignPage({ id }: { id: string }) {
  const canEdit = useCan("marketer");
  const path = `/api/v1/campaigns/${encodeURIComponent(id)}`;
  const loaded = useLoad(() => api.get<Campaign>(path), [id]);
  const report = useLoad(() => api.get<Report>(`${path}/report`), [id]);
  const [fresh, setFresh] = useState<Campaign | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const c = fresh ?? loaded.data;
  const poll = useCallback(async () => {
    setFresh(await api.get<Campaign>(path));
    report.reload();
  }, [path, report.reload]);
  useInterval(() => poll().catch(() => undefined), 2000, !!c && LIVE.has(c.status));

  if (loaded.error) return <div className="page"><p><Link to="/campaigns">← Campaigns</Link></p><ErrorNote error={loaded.error} /></div>;
  if (!c) return <div className="page"><Spinner /></div>;
  const act = async (action: string) => {
    setError(null);
    try {
      await api.post(`${path}/${action}`);
      await poll();
    } catch (err) {
      setError(err as Error);
    }
  };
  const d = c.definition;
  const p = c.progress ?? {};
  const done = (p.sent ?? 0) + (p.failed ?? 0) + (p.suppressed ?? 0) + (p.bounced ?? 0);
  const share = p.recipients ? Math.min(1, done / p.recipients) : 0;
  return (
    <div className="page">
      <p className="crumbs"><Link to="/campaigns">← Campaigns</Link></p>
      <div className="page-head">
        <div>
          <h1>{c.name}</h1>
          <p className="muted"><Badge tone={STATUS_TONE[c.status] ?? "neutral"}><span data-testid="campaign-status">{c.status}</span></Badge>
            {c.scheduled_at && <> · scheduled {fmtShort(c.scheduled_at)}</>}{c.finished_at && <> · finished {fmtShort(c.finished_at)}</>}</p>
        </div>
        {canEdit && (
          <div className="head-actions">
            {c.status === "draft" && <Link to={`/campaigns/${c.id}/edit`} className="btn">Edit</Link>}
            {campaignActions(c.status).map((a) => (
              <button key={a} type="button" className={a === "cancel" ? "btn btn-danger-outline" : a === "schedule" ? "btn btn-primary" : "btn"} onClick={() => void act(a)}>
                {a[0]!.toUpperCase() + a.slice(1)}
              </button>
            ))}
          </div>
        )}
      </div>
      <ErrorNote error={error} />
      {c.error && <div className="note note-error">{c.error}</div>}
      <Section title="Progress" testId="campaign-progress">
        <div className="progress campaign-progress-bar" aria-label="Sent of recipients"><div className="progress-bar" style={{ width: `${Math.round(share * 100)}%` }} /></div>
        <table className="table compact">
          <tbody>
            {PROGRESS_KEYS.filter((k) => k in p).map((k) => (
              <tr key={k} data-testid={`progress-${k}`}><td>{k.replace("_", " ")}</td><td className="right mono">{fmtNumber(p[k])}</td></tr>
            ))}
          </tbody>
        </table>
      </Section>
      <Section title="Settings">
        <table className="table compact">
          <tbody>
            <tr><td>Audience</td><td>{d.audience === "segment" ? <Link to={`/segments/${d.segment_id}`}>{d.segment_id}</Link> : "everyone consented"}{d.holdout_pct ? ` · ${d.holdout_pct}% holdout` : ""}</td></tr>
            <tr><td>Content</td><td className="mono">{d.variants?.length ? d.variants.map((v, i) => `${VARIANT(i)}: ${v}`).join(", ") : d.message_id}</td></tr>
            {d.ab_test && <tr><td>A/B test</td><td>{d.ab_test.sample_pct}% sample, winner by {d.ab_test.metric} after {d.ab_test.wait.amount} {d.ab_test.wait.unit}</td></tr>}
            <tr><td>Channels</td><td>{(d.cascade?.length ? d.cascade : [d.channel ?? "email"]).join(" → ")} · {d.category}</td></tr>
            <tr><td>Schedule</td><td>{d.schedule.type === "now" ? "now" : d.schedule.type === "at" ? fmtShort(d.schedule.at ?? null) : `${d.schedule.time} local${d.schedule.date ? ` on ${d.schedule.date}` : ""}`}{d.schedule.send_time === "optimal" ? " · each contact at their best time" : ""}</td></tr>
            <tr><td>Throttle</td><td>{d.throttle ? `${d.throttle.per_second}/s` : "none"}</td></tr>
          </tbody>
        </table>
      </Section>
      {report.data?.ab_test && (
        <Section title="A/B test" testId="campaign-ab">
          <table className="table compact">
            <thead><tr><th>Variant</th><th>Message</th><th className="right">Sent</th><th className="right">Rate ({report.data.ab_test.metric})</th><th className="right">p</th></tr></thead>
            <tbody>
              {report.data.ab_test.variants.map((v) => (
                <tr key={v.variant}><td>{v.variant}{c.winner && VARIANT(c.winner.variant) === v.variant ? " ★" : ""}</td><td className="mono">{v.message_id}</td>
                  <td className="right">{fmtNumber(v.sent)}</td><td className="right">{pct(v.rate)}</td><td className="right">{v.p_value === null ? "—" : v.p_value.toFixed(3)}</td></tr>
              ))}
            </tbody>
          </table>
          <p className="muted small">{c.winner ? `Winner ${VARIANT(c.winner.variant)}: ${c.winner.reason}` : report.data.ab_test.reason}</p>
        </Section>
      )}
      {report.data?.holdout && (
        <Section title={`Holdout comparison (${report.data.holdout.window_days} days)`}>
          <table className="table compact">
            <thead><tr><th>Group</th><th className="right">Contacts</th><th className="right">Converted</th><th className="right">Revenue</th></tr></thead>
            <tbody>
              {Object.entries(report.data.holdout.groups).map(([g, v]) => (
                <tr key={g}><td>{g}</td><td className="right">{fmtNumber(v.recipients)}</td><td className="right">{pct(v.conversion_rate)}</td><td className="right">{fmtNumber(v.revenue)}</td></tr>
              ))}
            </tbody>
          </table>
        </Section>
      )}
    </div>
  );
}
