// The flow report: where the members of chosen segments on one day were on another day.
import { useMemo, useState, type FormEvent } from "react";
import { api, query } from "../api";
import { Sankey } from "../components/Sankey";
import { Empty, ErrorNote, Section, Spinner } from "../components/ui";
import { fmtNumber } from "../format";
import { useLoad } from "../hooks";
import { navigate, useLocation } from "../router";
import { SegmentsNav } from "./SegmentsPage";
import type { FlowReport, Segment } from "./segments/types";

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function daysAgo(n: number): string {
  return isoDay(new Date(Date.now() - n * 86_400_000));
}

/** Segment id → display name, with "none" for contacts in none of the chosen segments. */
function nameOf(report: FlowReport, all: Segment[]): (id: string) => string {
  const names = new Map<string, string>();
  for (const s of all) names.set(s.id, s.name);
  for (const s of report.segments) if (typeof s !== "string") names.set(s.id, s.name);
  return (id) => (id === "none" ? "in none" : names.get(id) ?? id);
}

export function SegmentFlowPage() {
  const { search } = useLocation();
  const ids = (search.get("ids") ?? "").split(",").filter(Boolean);
  const from = search.get("from") ?? daysAgo(30);
  const to = search.get("to") ?? daysAgo(0);
  const segments = useLoad(() => api.get<{ items: Segment[] }>("/api/v1/segments"), []);
  const report = useLoad(
    () => (ids.length ? api.get<FlowReport>(`/api/v1/segments/flow${query({ ids: ids.join(","), from, to })}`) : Promise.resolve(null)),
    [ids.join(","), from, to],
  );
  const [chosen, setChosen] = useState<string[]>(ids);
  const [range, setRange] = useState({ from, to });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    navigate(`/segments/flow${query({ ids: chosen.join(","), from: range.from, to: range.to })}`);
  };
  const all = segments.data?.items ?? [];
  return (
    <div className="page" data-testid="flow-page">
      <div className="page-head">
        <div>
          <h1>Segment flow</h1>
          <p className="muted">How contacts moved between segments from one day to another.</p>
        </div>
      </div>
      <SegmentsNav />
      <Section title="Segments and dates">
        <ErrorNote error={segments.error} />
        <form onSubmit={submit} className="flow-form">
          <div className="chips" role="group" aria-label="Segments to compare">
            {all.map((s) => (
              <label key={s.id} className={chosen.includes(s.id) ? "chip on" : "chip"}>
                <input type="checkbox" checked={chosen.includes(s.id)}
                  onChange={() => setChosen(chosen.includes(s.id) ? chosen.filter((x) => x !== s.id) : [...chosen, s.id])} />
                {s.name}
              </label>
            ))}
            {segments.data && !all.length && <Empty>No segments yet.</Empty>}
          </div>
          <div className="cond-line">
            <label className="check"><span>From</span><input type="date" aria-label="From" value={range.from} onChange={(e) => setRange({ ...range, from: e.target.value })} /></label>
            <label className="check"><span>to</span><input type="date" aria-label="To" value={range.to} onChange={(e) => setRange({ ...range, to: e.target.value })} /></label>
            <button className="btn btn-primary" type="submit" disabled={!chosen.length}>Show flow</button>
          </div>
        </form>
      </Section>
      <ErrorNote error={report.error} />
      {ids.length > 0 && (report.data ? <FlowResult report={report.data} all={all} from={from} to={to} /> : !report.error && <Spinner />)}
    </div>
  );
}

function FlowResult({ report, all, from, to }: { report: FlowReport; all: Segment[]; from: string; to: string }) {
  const name = nameOf(report, all);
  const keys = useMemo(() => {
    const seen = new Set<string>();
    report.matrix.forEach((m) => (seen.add(m.from), seen.add(m.to)));
    return [...seen].sort((a, b) => (a === "none" ? 1 : b === "none" ? -1 : a.localeCompare(b)));
  }, [report]);
  const count = (f: string, t: string) => report.matrix.filter((m) => m.from === f && m.to === t).reduce((a, m) => a + m.count, 0);
  const left = (id: string) => `${name(id)} · ${from}`;
  const right = (id: string) => `${name(id)} · ${to}`;
  const nodes = useMemo(() => [...keys.map(left), ...keys.map(right)], [keys]); // eslint-disable-line react-hooks/exhaustive-deps
  const links = useMemo(() => report.matrix.filter((m) => !(m.from === "none" && m.to === "none"))
    .map((m) => ({ source: left(m.from), target: right(m.to), value: m.count })), [report]); // eslint-disable-line react-hooks/exhaustive-deps
  if (!report.matrix.length) return <Empty>No one was in these segments on either day.</Empty>;
  return (
    <>
      <Section title="Flow" testId="flow-sankey">
        <div className="flow-sides muted small"><span>{from}</span><span>{to}</span></div>
        <Sankey nodes={nodes} links={links} ariaLabel="Flow between segments" />
      </Section>
      <Section title="Matrix" testId="flow-matrix">
        <table className="table compact">
          <thead>
            <tr><th>{from} ↓ · {to} →</th>{keys.map((k) => <th key={k} className="right">{name(k)}</th>)}</tr>
          </thead>
          <tbody>
            {keys.map((f) => (
              <tr key={f}>
                <th>{name(f)}</th>
                {keys.map((t) => <td key={t} className={f === t ? "right stay" : "right"}>{fmtNumber(count(f, t))}</td>)}
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </>
  );
}
