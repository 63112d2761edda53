// The workspace's contact policy (docs/policy.md): caps, quiet hours, fatigue, default
// timezone, saved whole with PUT; a refused field is shown where it is. Below, the log of
// messages the policy held back.
import "../journeys/journeys.css";
import { useEffect, useState, type ReactNode } from "react";
import { api, ApiError, query } from "../../api";
import { useCan } from "../../auth";
import { Badge, Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtShort } from "../../format";
import { useLoad } from "../../hooks";
import { Link } from "../../router";
import { JourneysNav } from "../journeys/JourneysPage";
import { PreemptionSection, PreferencesSection, PrioritySection, type Preemption, type Preferences, type Priorities } from "./PriorityFields";

type Category = "transactional" | "trigger" | "promo";
interface Period { amount: number; unit: "hours" | "days" | "weeks" }
interface Cap { channel: string; max: number; per: Period; window: "rolling" | "day" | "week"; categories: Category[]; action: "defer" | "drop" }
interface QuietHours { start: string; end: string; channels: string[]; categories: Category[]; action: "defer" | "drop" }
interface Fatigue { channel: string; unopened: number; categories: Category[] }
export interface Policy {
  caps: Cap[]; quiet_hours: QuietHours | null; fatigue: Fatigue[]; default_timezone: string;
  /** Present on servers with priority pre-emption (docs/policy.md). */
  priorities?: Priorities; preemption?: Preemption; preferences?: Preferences;
}
interface Held {
  send_id: string; contact_id: number; channel: string; category: string; action: string; rule: string; reason: string; until: string | null; at: string;
  /** The send's priority, and the higher-priority send that took its slot (pre-emption). */
  priority?: number | null; displaced_by?: string | null;
}

const CATEGORIES: Category[] = ["trigger", "promo", "transactional"];
const CHANNELS = ["email", "sms", "push", "viber", "inapp", "webhook"];

function hhmm(t: string): string {
  return t.slice(0, 5);
}

function list(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

/** The error for a field path (`caps.0.max`) and anything under it. */
function FieldError({ error, path }: { error: ApiError | null; path: string }) {
  if (!error?.field || !(error.field === path || error.field.startsWith(`${path}.`))) return null;
  return <p className="field-error" role="alert">{error.message}</p>;
}

function Categories({ value, onChange, label }: { value: Category[]; onChange: (v: Category[]) => void; label: string }) {
  return (
    <fieldset className="plain field"><span>{label}</span>
      <div className="row-inline">
        {CATEGORIES.map((c) => (
          <label key={c} className="small"><input type="checkbox" checked={value.includes(c)}
            onChange={(e) => onChange(e.target.checked ? [...value, c] : value.filter((x) => x !== c))} /> {c}</label>
        ))}
      </div>
    </fieldset>
  );
}

export function PolicyPage() {
  const isAdmin = useCan("admin");
  const loaded = useLoad(() => api.get<Policy>("/api/v1/policy"), []);
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => setPolicy(loaded.data), [loaded.data]);
  if (!policy) return <div className="page"><ErrorNote error={loaded.error} />{!loaded.error && <Spinner />}</div>;

  const edit = (patch: Partial<Policy>) => {
    setPolicy({ ...policy, ...patch });
    setSaved(false);
  };
  const setCap = (i: number, patch: Partial<Cap>) => edit({ caps: policy.caps.map((c, j) => (j === i ? { ...c, ...patch } : c)) });
  const setFatigue = (i: number, patch: Partial<Fatigue>) => edit({ fatigue: policy.fatigue.map((f, j) => (j === i ? { ...f, ...patch } : f)) });
  const q = policy.quiet_hours;
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      setPolicy(await api.put<Policy>("/api/v1/policy", policy));
      setSaved(true);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, "error", String(err)));
    } finally {
      setBusy(false);
    }
  };
  const row = (children: ReactNode, key: number | string, testId: string) => <div key={key} className="policy-row" data-testid={testId}>{children}</div>;

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Contact policy</h1>
          <p className="muted">Applies to every message (journeys, campaigns, API sends) at send time, in the contact's timezone. Transactional messages are never held.</p>
        </div>
      </div>
      <JourneysNav />
      <form aria-label="Contact policy" onSubmit={(e) => { e.preventDefault(); void save(); }}>
        <fieldset className="plain" disabled={!isAdmin}>
          <Section title="Frequency caps">
            {!policy.caps.length && <Empty>No caps.</Empty>}
            {policy.caps.map((c, i) => (
              <div key={i}>
                {row(<>
                  <label className="field"><span>Channel</span>
                    <select aria-label={`Cap ${i + 1} channel`} value={c.channel} onChange={(e) => setCap(i, { channel: e.target.value })}>{CHANNELS.map((ch) => <option key={ch}>{ch}</option>)}</select>
                  </label>
                  <label className="field"><span>At most</span>
                    <input aria-label={`Cap ${i + 1} max`} type="number" value={c.max} onChange={(e) => setCap(i, { max: Number(e.target.value) })} />
                  </label>
                  <label className="field"><span>Window</span>
                    <select aria-label={`Cap ${i + 1} window`} value={c.window} onChange={(e) => setCap(i, { window: e.target.value as Cap["window"] })}>
                      <option value="rolling">rolling period</option><option value="day">calendar day</option><option value="week">calendar week</option>
                    </select>
                  </label>
                  {c.window === "rolling" && (<>
                    <label className="field"><span>per</span>
                      <input aria-label={`Cap ${i + 1} period amount`} type="number" value={c.per.amount} onChange={(e) => setCap(i, { per: { ...c.per, amount: Number(e.target.value) } })} />
                    </label>
                    <label className="field"><span>&nbsp;</span>
                      <select aria-label={`Cap ${i + 1} period unit`} value={c.per.unit} onChange={(e) => setCap(i, { per: { ...c.per, unit: e.target.value as Period["unit"] } })}>
                        <option>hours</option><option>days</option><option>weeks</option>
                      </select>
                    </label>
                  </>)}
                  <label className="field"><span>Over the cap</span>
                    <select aria-label={`Cap ${i + 1} action`} value={c.action} onChange={(e) => setCap(i, { action: e.target.value as Cap["action"] })}>
                      <option value="defer">defer</option><option value="drop">drop</option>
                    </select>
                  </label>
                  <Categories label="Categories" value={c.categories} onChange={(categories) => setCap(i, { categories })} />
                  <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove cap ${i + 1}`} onClick={() => edit({ caps: policy.caps.filter((_, j) => j !== i) })}>×</button>
                </>, i, "policy-cap")}
                <FieldError error={error} path={`caps.${i}`} />
              </div>
            ))}
            <button type="button" className="btn btn-small" onClick={() => edit({ caps: [...policy.caps, { channel: "email", max: 3, per: { amount: 7, unit: "days" }, window: "rolling", categories: ["trigger", "promo"], action: "defer" }] })}>Add a cap</button>
          </Section>

          <Section title="Quiet hours">
            <label className="small"><input type="checkbox" checked={!!q} aria-label="Quiet hours on"
              onChange={(e) => edit({ quiet_hours: e.target.checked ? { start: "21:00", end: "09:00", channels: ["sms", "push", "viber"], categories: ["trigger", "promo"], action: "defer" } : null })} /> Hold messages during quiet hours (local time; may span midnight)</label>
            {q && row(<>
              <label className="field"><span>From</span><input aria-label="Quiet hours start" type="time" value={hhmm(q.start)} onChange={(e) => edit({ quiet_hours: { ...q, start: e.target.value } })} /></label>
              <label className="field"><span>Until</span><input aria-label="Quiet hours end" type="time" value={hhmm(q.end)} onChange={(e) => edit({ quiet_hours: { ...q, end: e.target.value } })} /></label>
              <label className="field"><span>Channels (comma-separated)</span><input aria-label="Quiet hours channels" value={q.channels.join(", ")} onChange={(e) => edit({ quiet_hours: { ...q, channels: list(e.target.value) } })} /></label>
              <label className="field"><span>Then</span>
                <select aria-label="Quiet hours action" value={q.action} onChange={(e) => edit({ quiet_hours: { ...q, action: e.target.value as QuietHours["action"] } })}>
                  <option value="defer">defer to the end</option><option value="drop">drop</option>
                </select>
              </label>
              <Categories label="Categories" value={q.categories} onChange={(categories) => edit({ quiet_hours: { ...q, categories } })} />
            </>, "q", "policy-quiet")}
            <FieldError error={error} path="quiet_hours" />
          </Section>

          <Section title="Fatigue">
            {!policy.fatigue.length && <Empty>No fatigue rule.</Empty>}
            {policy.fatigue.map((f, i) => (
              <div key={i}>
                {row(<>
                  <label className="field"><span>Channel</span>
                    <select aria-label={`Fatigue ${i + 1} channel`} value={f.channel} onChange={(e) => setFatigue(i, { channel: e.target.value })}>{CHANNELS.map((ch) => <option key={ch}>{ch}</option>)}</select>
                  </label>
                  <label className="field"><span>Stop after this many unopened</span>
                    <input aria-label={`Fatigue ${i + 1} unopened`} type="number" value={f.unopened} onChange={(e) => setFatigue(i, { unopened: Number(e.target.value) })} />
                  </label>
                  <Categories label="Categories" value={f.categories} onChange={(categories) => setFatigue(i, { categories })} />
                  <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove fatigue rule ${i + 1}`} onClick={() => edit({ fatigue: policy.fatigue.filter((_, j) => j !== i) })}>×</button>
                </>, i, "policy-fatigue")}
                <FieldError error={error} path={`fatigue.${i}`} />
              </div>
            ))}
            <button type="button" className="btn btn-small" onClick={() => edit({ fatigue: [...policy.fatigue, { channel: "email", unopened: 3, categories: ["promo"] }] })}>Add a fatigue rule</button>
          </Section>

          {policy.priorities && <PrioritySection value={policy.priorities} onChange={(priorities) => edit({ priorities })} error={<FieldError error={error} path="priorities" />} />}
          {policy.preemption && <PreemptionSection value={policy.preemption} onChange={(preemption) => edit({ preemption })} error={<FieldError error={error} path="preemption" />} />}
          {policy.preferences && <PreferencesSection value={policy.preferences} channels={CHANNELS} onChange={(preferences) => edit({ preferences })} error={<FieldError error={error} path="preferences" />} />}

          <Section title="Default timezone">
            <label className="field inline"><span>For contacts with no timezone (IANA name)</span>
              <input aria-label="Default timezone" value={policy.default_timezone} onChange={(e) => edit({ default_timezone: e.target.value })} />
            </label>
            <FieldError error={error} path="default_timezone" />
          </Section>
        </fieldset>
        {error && !error.field && <ErrorNote error={error} />}
        {error?.field && <div className="note note-error" role="alert" data-testid="policy-error">{error.message}</div>}
        {saved && <div className="note note-success" role="status">Policy saved.</div>}
        {isAdmin ? <div className="form-actions"><button className="btn btn-primary" disabled={busy}>Save policy</button></div>
          : <p className="muted small">Only admins change the policy.</p>}
      </form>
      <HeldLog />
    </div>
  );
}

function HeldLog() {
  const [contact, setContact] = useState("");
  const held = useLoad(() => api.get<{ items: Held[] }>(`/api/v1/policy/held${query({ contact_id: contact.trim() })}`), [contact]);
  return (
    <Section title="Held back" testId="policy-held">
      <div className="search"><input type="search" aria-label="Contact id" placeholder="Filter by contact id" value={contact} onChange={(e) => setContact(e.target.value.replace(/\D/g, ""))} /></div>
      <ErrorNote error={held.error} />
      {!held.data ? <Spinner /> : !held.data.items.length ? <Empty>Nothing held back.</Empty> : (
        <table className="table compact">
          <thead><tr><th>When</th><th>Contact</th><th>Channel</th><th>Category</th><th>Priority</th><th>Action</th><th>Rule</th><th>Reason</th><th>Until</th></tr></thead>
          <tbody>
            {held.data.items.map((h) => (
              <tr key={`${h.send_id}-${h.at}`}>
                <td className="nowrap">{fmtShort(h.at)}</td>
                <td><Link to={`/contacts/${h.contact_id}`}>#{h.contact_id}</Link></td>
                <td>{h.channel}</td>
                <td>{h.category}</td>
                <td className="mono">{h.priority ?? "—"}</td>
                <td><Badge tone={h.action === "drop" ? "bad" : "warn"}>{h.action}</Badge></td>
                <td className="mono">{h.rule}</td>
                <td>{h.reason}{h.displaced_by && <div className="muted small" data-testid="displaced-by">pre-empted by <span className="mono">{h.displaced_by}</span></div>}</td>
                <td className="nowrap">{h.until ? fmtShort(h.until) : "—"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
