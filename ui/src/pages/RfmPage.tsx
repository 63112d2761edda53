// RFM: the recency × frequency grid with counts, the named cells, and the scoring settings.
import { useState } from "react";
import { api } from "../api";
import { useCan } from "../auth";
import { ErrorNote, Section, Spinner } from "../components/ui";
import { fmtNumber, fmtShort, humanize } from "../format";
import { useLoad } from "../hooks";
import { Link, navigate } from "../router";
import { SegmentsNav } from "./SegmentsPage";
import type { RfmConfig, RfmReport } from "./segments/types";

const SCORES = [5, 4, 3, 2, 1];

/** Counts per (r, f), summing over m when the report splits by monetary score too. */
export function gridCounts(grid: RfmReport["grid"]): Map<string, number> {
  const out = new Map<string, number>();
  for (const g of grid) out.set(`${g.r}:${g.f}`, (out.get(`${g.r}:${g.f}`) ?? 0) + g.count);
  return out;
}

/** The named cell and average order value the report gives each (r, f). */
function gridInfo(grid: RfmReport["grid"]): Map<string, { cell?: string; money?: number | null }> {
  return new Map(grid.map((g) => [`${g.r}:${g.f}`, { cell: g.cell, money: g.monetary_avg }]));
}

function newSegmentUrl(definition: unknown, name: string): string {
  return `/segments/new?name=${encodeURIComponent(name)}&definition=${encodeURIComponent(JSON.stringify(definition))}`;
}

export function RfmPage() {
  const report = useLoad(() => api.get<RfmReport>("/api/v1/rfm/report"), []);
  return (
    <div className="page" data-testid="rfm-page">
      <div className="page-head">
        <div>
          <h1>RFM</h1>
          <p className="muted">Recency, frequency and monetary scores (1–5) of every contact, and the named cells built on them.</p>
        </div>
        {report.data && <p className="muted small">computed {fmtShort(report.data.computed_at)} in {fmtNumber(Math.round(report.data.elapsed_ms))} ms</p>}
      </div>
      <SegmentsNav />
      <ErrorNote error={report.error} />
      {!report.data ? (report.error ? null : <Spinner />) : (
        <div className="grid-360">
          <Grid report={report.data} />
          <Cells report={report.data} />
        </div>
      )}
      <ConfigForm onSaved={report.reload} />
    </div>
  );
}

function Grid({ report }: { report: RfmReport }) {
  const counts = gridCounts(report.grid);
  const info = gridInfo(report.grid);
  const max = Math.max(1, ...counts.values());
  return (
    <Section title="Recency × frequency" testId="rfm-grid">
      <table className="heat">
        <thead>
          <tr><th className="axis">F ↓ · R →</th>{[1, 2, 3, 4, 5].map((r) => <th key={r}>R{r}</th>)}</tr>
        </thead>
        <tbody>
          {SCORES.map((f) => (
            <tr key={f}>
              <th>F{f}</th>
              {[1, 2, 3, 4, 5].map((r) => {
                const n = counts.get(`${r}:${f}`) ?? 0;
                const { cell, money } = info.get(`${r}:${f}`) ?? {};
                const alpha = n ? 0.08 + 0.82 * (n / max) : 0;
                const def = { version: 1, root: { type: "all", conditions: [{ type: "rfm", r: [r, r], f: [f, f] }] } };
                return (
                  <td key={r} data-testid={`rfm-${r}-${f}`} style={{ background: `rgba(79, 70, 229, ${alpha})`, color: alpha > 0.5 ? "#fff" : undefined }}
                    title={`R${r} F${f}${cell ? ` (${humanize(cell)})` : ""}: ${fmtNumber(n)} contacts${money ? `, average ${fmtNumber(money)}` : ""} — click to make a segment`}
                    className="clickable" onClick={() => navigate(newSegmentUrl(def, `RFM R${r} F${f}`))}>
                    <span className="heat-count" data-testid="rfm-count">{fmtNumber(n)}</span>
                    {cell && <span className="heat-cell">{humanize(cell)}</span>}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">5 = most recent / most frequent. Click a cell to build a segment from it.</p>
    </Section>
  );
}

function Cells({ report }: { report: RfmReport }) {
  const canEdit = useCan("marketer");
  return (
    <Section title="Named cells" testId="rfm-cells">
      <table className="table compact">
        <thead><tr><th>Cell</th><th className="right">Contacts</th><th className="right">Share</th><th></th></tr></thead>
        <tbody>
          {report.cells.map((c) => (
            <tr key={c.name} data-testid={`rfm-cell-${c.name}`}>
              <td>{c.label || humanize(c.name)}</td>
              <td className="right">{fmtNumber(c.count)}</td>
              <td className="right">{(c.share * 100).toFixed(1)}%</td>
              <td className="right">
                {canEdit && <Link to={`/segments/new?rfm=${encodeURIComponent(c.name)}&name=${encodeURIComponent(c.label || humanize(c.name))}`}>Create segment</Link>}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

/** The scoring settings as the server returns them, one input per value; nested objects nest. */
function ConfigForm({ onSaved }: { onSaved: () => void }) {
  const canEdit = useCan("marketer");
  const config = useLoad(() => api.get<RfmConfig>("/api/v1/rfm/config"), []);
  const [draft, setDraft] = useState<RfmConfig | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [saved, setSaved] = useState(false);
  const value = draft ?? config.data;
  const save = async () => {
    setError(null);
    setSaved(false);
    try {
      await api.put<RfmConfig>("/api/v1/rfm/config", value);
      setDraft(null);
      config.reload();
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <Section title="Scoring" testId="rfm-config" actions={canEdit && value ? (
      <button className="btn btn-primary btn-small" onClick={() => void save()} disabled={!draft}>Save and recompute</button>
    ) : undefined}>
      <ErrorNote error={config.error ?? error} />
      {saved && <div className="note note-success">Saved; the report was recomputed.</div>}
      {!value ? (config.error ? null : <Spinner />) : (
        <ConfigFields value={value} path="" onChange={(v) => setDraft(v as RfmConfig)} readOnly={!canEdit} />
      )}
    </Section>
  );
}

function ConfigFields({ value, path, onChange, readOnly }: { value: unknown; path: string; onChange: (v: unknown) => void; readOnly: boolean }) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    return (
      <div className={path ? "config-group" : "config-grid"}>
        {Object.entries(obj).map(([k, v]) => (
          <div key={k} className="config-item">
            {v && typeof v === "object" && !Array.isArray(v) ? (
              <fieldset><legend>{humanize(k)}</legend>
                <ConfigFields value={v} path={`${path}${k}.`} readOnly={readOnly} onChange={(nv) => onChange({ ...obj, [k]: nv })} />
              </fieldset>
            ) : (
              <label className="field"><span>{humanize(k)}</span>
                <ConfigScalar value={v} label={`${path}${k}`} readOnly={readOnly} onChange={(nv) => onChange({ ...obj, [k]: nv })} />
              </label>
            )}
          </div>
        ))}
      </div>
    );
  }
  return <ConfigScalar value={value} label={path} onChange={onChange} readOnly={readOnly} />;
}

/** Settings whose values are a fixed set, shown as a select. */
const CHOICES: Record<string, string[]> = { method: ["quantiles", "thresholds"] };

function ConfigScalar({ value, label, onChange, readOnly }: { value: unknown; label: string; onChange: (v: unknown) => void; readOnly: boolean }) {
  const choices = CHOICES[label];
  const [text, setText] = useState(Array.isArray(value) ? value.join(", ") : value === null || value === undefined ? "" : String(value));
  if (choices && typeof value === "string") {
    return (
      <select aria-label={label} value={value} disabled={readOnly} onChange={(e) => onChange(e.target.value)}>
        {choices.map((c) => <option key={c} value={c}>{c}</option>)}
      </select>
    );
  }
  if (typeof value === "boolean") {
    return <input type="checkbox" aria-label={label} checked={value} disabled={readOnly} onChange={(e) => onChange(e.target.checked)} />;
  }
  const parse = (t: string): unknown => {
    if (Array.isArray(value)) return t.split(",").map((s) => s.trim()).filter(Boolean).map((s) => (Number.isFinite(Number(s)) ? Number(s) : s));
    if (typeof value === "number" || value === null) return t.trim() === "" ? null : Number.isFinite(Number(t)) ? Number(t) : t;
    return t;
  };
  return (
    <input aria-label={label} value={text} disabled={readOnly} placeholder={Array.isArray(value) ? "comma separated" : undefined}
      onChange={(e) => {
        setText(e.target.value);
        onChange(parse(e.target.value));
      }} />
  );
}
