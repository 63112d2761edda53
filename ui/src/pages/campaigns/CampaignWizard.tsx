// The campaign wizard: audience, content (one message or A/B/n variants with the test's
// settings), channels, schedule, throttle and holdout; saved as a draft, or saved and
// scheduled. A refused field is shown in the step it belongs to.
import "../journeys/journeys.css";
import { useEffect, useState, type ReactNode } from "react";
import { api, ApiError } from "../../api";
import { ErrorNote, Section, Spinner } from "../../components/ui";
import { useLoad } from "../../hooks";
import { Link, navigate } from "../../router";
import { CHANNELS, VARIANT, type AbTest, type Campaign, type CampaignDoc, type Channel, type Schedule } from "./types";

interface Form {
  name: string;
  audience: "segment" | "all_consented";
  segment_id: string;
  ab: boolean;
  message_id: string;
  variants: string[];
  ab_test: AbTest;
  channels: Channel[];
  category: "promo" | "trigger";
  schedule: Schedule;
  throttled: boolean;
  per_second: number;
  /** Throttle settings this form does not edit (kept as they were). */
  throttle_rest: Record<string, unknown>;
  holdout_pct: number;
}

const EMPTY: Form = {
  name: "", audience: "segment", segment_id: "", ab: false, message_id: "", variants: ["", ""],
  ab_test: { sample_pct: 20, wait: { amount: 4, unit: "hours" }, metric: "clicks" },
  channels: ["email"], category: "promo", schedule: { type: "now" }, throttled: false, per_second: 50, throttle_rest: {}, holdout_pct: 0,
};

function formOf(doc: CampaignDoc): Form {
  return {
    ...EMPTY,
    name: doc.name, audience: doc.audience, segment_id: doc.segment_id ?? "",
    ab: !!doc.variants?.length, message_id: doc.message_id ?? "", variants: doc.variants?.length ? doc.variants : ["", ""],
    ab_test: doc.ab_test ?? EMPTY.ab_test,
    channels: doc.cascade?.length ? doc.cascade : [doc.channel ?? "email"],
    category: doc.category, schedule: doc.schedule,
    throttled: !!doc.throttle, per_second: doc.throttle?.per_second ?? 50, throttle_rest: { ...(doc.throttle ?? {}), per_second: undefined }, holdout_pct: doc.holdout_pct,
  };
}

/** The API's document: one channel or a cascade, one message or variants + ab_test. */
export function documentOf(f: Form): Record<string, unknown> {
  const doc: Record<string, unknown> = { name: f.name, audience: f.audience, category: f.category, holdout_pct: f.holdout_pct };
  if (f.audience === "segment") doc.segment_id = f.segment_id || null;
  if (f.ab) {
    doc.variants = f.variants;
    doc.ab_test = f.ab_test;
  } else doc.message_id = f.message_id || null;
  if (f.channels.length > 1) doc.cascade = f.channels;
  else doc.channel = f.channels[0] ?? "email";
  const s = f.schedule;
  const optimal = s.send_time === "optimal" ? { send_time: "optimal" } : {};
  doc.schedule = s.type === "now" ? { type: "now", ...optimal }
    : s.type === "at" ? { type: "at", at: s.at ? new Date(s.at).toISOString() : null, ...optimal }
    : { type: "local", time: s.time || null, ...(s.date ? { date: s.date } : {}), ...(s.fallback_timezone ? { fallback_timezone: s.fallback_timezone } : {}) };
  if (f.throttled) doc.throttle = { ...f.throttle_rest, per_second: f.per_second };
  return doc;
}

/** `datetime-local` wants `YYYY-MM-DDTHH:MM` in local time. */
function localInput(iso: string | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function StepError({ error, fields }: { error: ApiError | null; fields: string[] }) {
  if (!error?.field || !fields.some((f) => error.field === f || error.field!.startsWith(`${f}.`) || error.field!.startsWith(`${f}[`))) return null;
  return <p className="field-error" role="alert">{error.message}</p>;
}

export function CampaignWizard({ id }: { id?: string }) {
  const existing = useLoad(() => (id ? api.get<Campaign>(`/api/v1/campaigns/${encodeURIComponent(id)}`) : Promise.resolve(null)), [id]);
  const segments = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/segments"), []);
  const messages = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/messages"), []);
  const [form, setForm] = useState<Form | null>(id ? null : EMPTY);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  // Set once a new campaign is first saved, so a retry updates it instead of making another.
  const [savedId, setSavedId] = useState(id);
  useEffect(() => {
    if (existing.data) setForm(formOf(existing.data.definition));
  }, [existing.data]);
  if (existing.error) return <div className="page"><ErrorNote error={existing.error} /></div>;
  if (!form) return <div className="page"><Spinner /></div>;
  const set = (patch: Partial<Form>) => setForm({ ...form, ...patch });

  const save = async (andSchedule: boolean) => {
    setBusy(true);
    setError(null);
    try {
      const doc = documentOf(form);
      const saved = savedId
        ? await api.put<Campaign>(`/api/v1/campaigns/${encodeURIComponent(savedId)}`, doc)
        : await api.post<Campaign>("/api/v1/campaigns", doc);
      if (!savedId) {
        setSavedId(saved.id);
        // The address of the draft, without remounting the form (the error stays in view).
        window.history.replaceState(null, "", `/campaigns/${saved.id}/edit`);
      }
      if (andSchedule) await api.post(`/api/v1/campaigns/${encodeURIComponent(saved.id)}/schedule`);
      navigate(`/campaigns/${saved.id}`);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, "error", String(err)));
    } finally {
      setBusy(false);
    }
  };

  const pick = (label: string, value: string, items: { id: string; name: string }[] | undefined, onChange: (v: string) => void, empty: string) => (
    <label className="field"><span>{label}</span>
      <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{items ? empty : "Loading…"}</option>
        {(items ?? []).map((i) => <option key={i.id} value={i.id}>{i.name}</option>)}
      </select>
    </label>
  );
  const step = (n: number, title: string, children: ReactNode, fields: string[]) => (
    <Section title={`${n}. ${title}`} testId={`step-${n}`}>
      {children}
      <StepError error={error} fields={fields} />
    </Section>
  );
  const s = form.schedule;

  return (
    <div className="page">
      <p className="crumbs"><Link to="/campaigns">← Campaigns</Link></p>
      <div className="page-head"><h1>{id ? "Edit campaign" : "New campaign"}</h1></div>
      <form aria-label="Campaign" onSubmit={(e) => { e.preventDefault(); void save(false); }}>
        <Section title="Name">
          <label className="field inline"><span>Campaign name</span><input aria-label="Campaign name" value={form.name} onChange={(e) => set({ name: e.target.value })} /></label>
          <StepError error={error} fields={["name"]} />
        </Section>
        {step(1, "Audience", (
          <>
            <label className="field inline"><span>Send to</span>
              <select aria-label="Send to" value={form.audience} onChange={(e) => set({ audience: e.target.value as Form["audience"] })}>
                <option value="segment">a segment</option>
                <option value="all_consented">everyone who consented to the channel</option>
              </select>
            </label>
            {form.audience === "segment" && pick("Segment", form.segment_id, segments.data?.items, (v) => set({ segment_id: v }), "Choose a segment")}
            <label className="field inline"><span>Holdout (% kept out, to measure the lift)</span>
              <input type="number" min={0} max={99} step="any" value={form.holdout_pct} onChange={(e) => set({ holdout_pct: Number(e.target.value) })} />
            </label>
          </>
        ), ["audience", "segment_id", "holdout_pct"])}
        {step(2, "Content", (
          <>
            <label className="small"><input type="checkbox" checked={form.ab} onChange={(e) => set({ ab: e.target.checked })} /> A/B/n test between messages</label>
            {!form.ab ? pick("Message", form.message_id, messages.data?.items, (v) => set({ message_id: v }), "Choose a message") : (
              <>
                {form.variants.map((v, i) => (
                  <div key={i} className="row-inline">
                    {pick(`Variant ${VARIANT(i)}`, v, messages.data?.items, (m) => set({ variants: form.variants.map((x, j) => (j === i ? m : x)) }), "Choose a message")}
                    <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove variant ${VARIANT(i)}`} disabled={form.variants.length <= 2}
                      onClick={() => set({ variants: form.variants.filter((_, j) => j !== i) })}>×</button>
                  </div>
                ))}
                <button type="button" className="btn btn-small" disabled={form.variants.length >= 5} onClick={() => set({ variants: [...form.variants, ""] })}>Add a variant</button>
                <div className="policy-row">
                  <label className="field"><span>Test sample (% of the audience)</span>
                    <input type="number" min={1} max={100} value={form.ab_test.sample_pct} onChange={(e) => set({ ab_test: { ...form.ab_test, sample_pct: Number(e.target.value) } })} />
                  </label>
                  <label className="field"><span>Pick the winner after</span>
                    <input aria-label="Test wait amount" type="number" min={1} value={form.ab_test.wait.amount} onChange={(e) => set({ ab_test: { ...form.ab_test, wait: { ...form.ab_test.wait, amount: Number(e.target.value) } } })} />
                  </label>
                  <label className="field"><span>&nbsp;</span>
                    <select aria-label="Test wait unit" value={form.ab_test.wait.unit} onChange={(e) => set({ ab_test: { ...form.ab_test, wait: { ...form.ab_test.wait, unit: e.target.value as AbTest["wait"]["unit"] } } })}>
                      <option>minutes</option><option>hours</option><option>days</option>
                    </select>
                  </label>
                  <label className="field"><span>by</span>
                    <select aria-label="Test metric" value={form.ab_test.metric} onChange={(e) => set({ ab_test: { ...form.ab_test, metric: e.target.value as AbTest["metric"] } })}>
                      <option value="clicks">clicks</option><option value="opens">opens</option>
                    </select>
                  </label>
                </div>
              </>
            )}
            <label className="field inline"><span>Category</span>
              <select value={form.category} onChange={(e) => set({ category: e.target.value as Form["category"] })}>
                <option value="promo">promo</option><option value="trigger">trigger</option>
              </select>
            </label>
          </>
        ), ["message_id", "variants", "ab_test", "category"])}
        {step(3, "Channels", (
          <div className="field"><span>Tried in order (the first one that may reach the contact)</span>
            <ol className="cascade" aria-label="Campaign channels">
              {form.channels.map((ch) => (
                <li key={ch}><span className="mono">{ch}</span>
                  <button type="button" className="btn btn-ghost btn-small" aria-label={`Remove ${ch}`} disabled={form.channels.length <= 1}
                    onClick={() => set({ channels: form.channels.filter((x) => x !== ch) })}>×</button>
                </li>
              ))}
            </ol>
            <select aria-label="Add a channel" value="" onChange={(e) => e.target.value && set({ channels: [...form.channels, e.target.value as Channel] })}>
              <option value="">Add a channel…</option>
              {CHANNELS.filter((c) => !form.channels.includes(c)).map((c) => <option key={c}>{c}</option>)}
            </select>
          </div>
        ), ["channel", "cascade"])}
        {step(4, "Schedule", (
          <>
            <label className="field inline"><span>When</span>
              <select aria-label="Schedule type" value={s.type} onChange={(e) => set({ schedule: { type: e.target.value as Schedule["type"], send_time: e.target.value === "local" ? null : s.send_time ?? null } })}>
                <option value="now">as soon as it is scheduled</option>
                <option value="at">at a moment</option>
                <option value="local">at a time of day in each contact's timezone</option>
              </select>
            </label>
            {s.type === "at" && (
              <label className="field inline"><span>Moment (your local time)</span>
                <input type="datetime-local" aria-label="Send at" value={localInput(s.at)} onChange={(e) => set({ schedule: { ...s, at: e.target.value } })} />
              </label>
            )}
            {s.type !== "local" && (
              <label className="field inline"><span>Send time</span>
                <select aria-label="Send time" value={s.send_time ?? ""} onChange={(e) => set({ schedule: { ...s, send_time: e.target.value === "optimal" ? "optimal" : null } })}>
                  <option value="">everyone at once</option>
                  <option value="optimal">at each contact's best time (within 24 h of the start)</option>
                </select>
              </label>
            )}
            {s.type === "local" && (
              <div className="policy-row">
                <label className="field"><span>Time</span><input type="time" aria-label="Local time" value={(s.time ?? "").slice(0, 5)} onChange={(e) => set({ schedule: { ...s, time: e.target.value } })} /></label>
                <label className="field"><span>Date (optional)</span><input type="date" aria-label="Local date" value={s.date ?? ""} onChange={(e) => set({ schedule: { ...s, date: e.target.value } })} /></label>
                <label className="field"><span>Timezone for contacts without one</span><input aria-label="Fallback timezone" value={s.fallback_timezone ?? ""} placeholder="Europe/Kyiv" onChange={(e) => set({ schedule: { ...s, fallback_timezone: e.target.value } })} /></label>
              </div>
            )}
          </>
        ), ["schedule"])}
        {step(5, "Throttle", (
          <>
            <label className="small"><input type="checkbox" checked={form.throttled} onChange={(e) => set({ throttled: e.target.checked })} /> Limit the sending rate</label>
            {form.throttled && (
              <label className="field inline"><span>At most this many sends per second</span>
                <input type="number" aria-label="Sends per second" min={0} step="any" value={form.per_second} onChange={(e) => set({ per_second: Number(e.target.value) })} />
              </label>
            )}
          </>
        ), ["throttle"])}
        {error && !error.field && <ErrorNote error={error} />}
        {error?.field && <div className="note note-error" role="alert" data-testid="campaign-error">{error.message}</div>}
        <div className="form-actions">
          <button className="btn" disabled={busy}>Save draft</button>
          <button type="button" className="btn btn-primary" disabled={busy} onClick={() => void save(true)}>Save and schedule</button>
        </div>
      </form>
    </div>
  );
}
