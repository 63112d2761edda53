import { useEffect, useState } from "react";
import { api, type Merge, type Profile } from "../api";
import { useCan } from "../auth";
import { Badge, Confirm, Empty, ErrorNote, Section, Spinner } from "../components/ui";
import { fmtDate, fmtDay, fmtShort, fmtMoney, fmtNumber, fmtValue, humanize } from "../format";
import { useLoad } from "../hooks";
import { Link, navigate } from "../router";
import { Commerce } from "./contact/Commerce";
import { Consents } from "./contact/Consents";
import { DeliveryLog } from "./messaging/DeliveryLog";
import { JourneyTrace } from "./contact/JourneyTrace";
import { BestTimeLine } from "./contact/BestTime";
import { Timeline } from "./contact/Timeline";

/** The identifier that best names a contact in a heading. */
function displayName(p: Profile): string {
  const a = p.attributes;
  const name = [a.first_name, a.last_name].filter(Boolean).join(" ") || (a.name as string | undefined);
  const email = p.identifiers.find((i) => i.type === "email")?.value;
  return name || email || `Contact #${p.id}`;
}

export function ContactPage({ id }: { id: string }) {
  const profile = useLoad(() => api.get<Profile>(`/api/v1/contacts/${encodeURIComponent(id)}`), [id]);
  const merges = useLoad(() => api.get<Merge[]>(`/api/v1/contacts/${encodeURIComponent(id)}/merges`), [id]);
  const [tab, setTab] = useState<"activity" | "deliveries" | "journeys">("activity");
  const reloadAll = () => {
    profile.reload();
    merges.reload();
  };
  // A merged-away contact answers with the contact it lives on in: show that one's address.
  const liveId = profile.data ? String(profile.data.id) : null;
  useEffect(() => {
    if (liveId && liveId !== id) navigate(`/contacts/${liveId}`, true);
  }, [liveId, id]);
  if (profile.error) {
    return (
      <div className="page">
        <p><Link to="/contacts">← Contacts</Link></p>
        <ErrorNote error={profile.error} />
      </div>
    );
  }
  if (!profile.data) return <div className="page"><Spinner /></div>;
  const p = profile.data;
  return (
    <div className="page" data-testid="contact-page">
      <p className="crumbs"><Link to="/contacts">← Contacts</Link></p>
      <ContactHeader p={p} />
      <div className="grid-360">
        <div className="col">
          <Identifiers p={p} />
          <Attributes p={p} />
          <Traits p={p} />
          <Consents consents={p.consents} contactId={p.id} onChange={profile.reload} />
        </div>
        <div className="col">
          <div className="tabs page-tabs" role="tablist" aria-label="Contact history">
            <button role="tab" aria-selected={tab === "activity"} className={tab === "activity" ? "tab on" : "tab"} onClick={() => setTab("activity")}>Activity</button>
            <button role="tab" aria-selected={tab === "deliveries"} className={tab === "deliveries" ? "tab on" : "tab"} onClick={() => setTab("deliveries")}>Deliveries</button>
            <button role="tab" aria-selected={tab === "journeys"} className={tab === "journeys" ? "tab on" : "tab"} onClick={() => setTab("journeys")}>Journeys</button>
          </div>
          {tab === "journeys" ? <JourneyTrace contactId={p.id} /> : tab === "deliveries" ? <DeliveryLog contactId={p.id} title="Messages sent" /> : (
            <>
              <Timeline contactId={id} />
              <Commerce contactId={id} />
              <MergeHistory merges={merges.data} error={merges.error} onChange={reloadAll} />
            </>
          )}
        </div>
      </div>
    </div>
  );
}

function ContactHeader({ p }: { p: Profile }) {
  const isAdmin = useCan("admin");
  const [erasing, setErasing] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const exportJson = async () => {
    try {
      const blob = await api.blob(`/api/v1/contacts/${p.id}/export`);
      const url = URL.createObjectURL(blob);
      const a = Object.assign(document.createElement("a"), { href: url, download: `contact-${p.id}.json` });
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setError(err as Error);
    }
  };
  const erase = async () => {
    await api.del(`/api/v1/contacts/${p.id}`);
    navigate("/contacts", true);
  };
  return (
    <div className="page-head">
      <div>
        <h1 data-testid="contact-name">{displayName(p)}</h1>
        <p className="muted">
          Contact #{p.id} · created {fmtDate(p.created_at)} · last seen {fmtDate(p.last_seen_at)}
          {p.language ? ` · ${p.language}` : ""}
          {p.timezone ? ` · ${p.timezone}` : ""}
        </p>
        <BestTimeLine contactId={p.id} />
        {p.merged_from.length > 0 && (
          <p className="muted small">Merged from {p.merged_from.map((m) => `#${m}`).join(", ")}</p>
        )}
        <ErrorNote error={error} />
      </div>
      {isAdmin && (
        <div className="head-actions">
          <button className="btn" onClick={() => void exportJson()}>Export JSON</button>
          <button className="btn btn-danger-outline" onClick={() => setErasing(true)}>Erase…</button>
        </div>
      )}
      {erasing && (
        <Confirm title="Erase this contact?" danger confirmLabel="Erase permanently" phrase="ERASE"
          body={<p>Deletes the person's profile and events, and suppresses their identifiers so that old events sent again do not re-create them. This cannot be undone.</p>}
          onConfirm={erase} onCancel={() => setErasing(false)} />
      )}
    </div>
  );
}

function Identifiers({ p }: { p: Profile }) {
  return (
    <Section title="Identifiers" testId="identifiers">
      {p.identifiers.length === 0 ? <Empty>No identifiers.</Empty> : (
        <table className="table compact">
          <thead><tr><th>Type</th><th>Value</th><th>Last seen</th></tr></thead>
          <tbody>
            {p.identifiers.map((i) => (
              <tr key={`${i.type}:${i.value}`}>
                <td><Badge>{i.type}</Badge></td>
                <td className="mono wrap">{i.value}</td>
                <td className="nowrap" title={`First seen ${fmtDate(i.first_seen)}`}>{fmtShort(i.last_seen)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

/** "source: crm · at: 2024-…" — where an attribute value came from, shown on hover. */
function provenanceText(value: unknown): string {
  if (value === null || value === undefined) return "No provenance recorded";
  if (typeof value !== "object") return String(value);
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${humanize(k)}: ${fmtValue(v)}`)
    .join("\n");
}

function Attributes({ p }: { p: Profile }) {
  const entries = Object.entries(p.attributes ?? {});
  return (
    <Section title="Attributes" testId="attributes">
      {entries.length === 0 ? <Empty>No attributes.</Empty> : (
        <dl className="kv">
          {entries.map(([k, v]) => (
            <div key={k} className="kv-row" title={provenanceText(p.provenance?.[k])} data-provenance={provenanceText(p.provenance?.[k])}>
              <dt>{humanize(k)}</dt>
              <dd>{fmtValue(v)}</dd>
            </div>
          ))}
        </dl>
      )}
    </Section>
  );
}

const MONEY_TRAITS = new Set(["revenue", "average_order_value"]);
const DATE_TRAITS = new Set(["first_order_at", "last_order_at", "last_activity_at"]);

function traitValue(key: string, value: unknown): string {
  if (MONEY_TRAITS.has(key)) return fmtMoney(value);
  if (DATE_TRAITS.has(key)) return fmtDay(value as string | null);
  return fmtNumber(value);
}

function Traits({ p }: { p: Profile }) {
  const entries = Object.entries(p.traits ?? {});
  return (
    <Section title="Computed traits" testId="traits">
      {entries.length === 0 ? <Empty>No traits yet.</Empty> : (
        <div className="traits">
          {entries.map(([k, v]) => (
            <div className="trait" key={k}>
              <div className="trait-label">{humanize(k)}</div>
              <div className="trait-value">{traitValue(k, v)}</div>
            </div>
          ))}
        </div>
      )}
    </Section>
  );
}

function MergeHistory({ merges, error, onChange }: { merges: Merge[] | null; error: Error | null; onChange: () => void }) {
  const canUnmerge = useCan("marketer");
  const [pending, setPending] = useState<Merge | null>(null);
  const unmerge = async (m: Merge) => {
    await api.post(`/api/v1/merges/${m.id}/unmerge`);
    setPending(null);
    onChange();
  };
  return (
    <Section title="Merge history" testId="merges">
      <ErrorNote error={error} />
      {!merges ? (error ? null : <Spinner />) : merges.length === 0 ? <Empty>This contact was never merged.</Empty> : (
        <table className="table compact">
          <thead><tr><th>Merged</th><th>Rule</th><th className="right">Status</th></tr></thead>
          <tbody>
            {merges.map((m) => (
              <tr key={m.id} data-testid="merge-row">
                <td className="nowrap">
                  <Link to={`/contacts/${m.loser_id}`}>#{m.loser_id}</Link> into <Link to={`/contacts/${m.winner_id}`}>#{m.winner_id}</Link>
                  <div className="muted small">{fmtShort(m.merged_at)}</div>
                </td>
                <td title={fmtValue(m.inputs)}>{humanize(m.rule)}</td>
                <td className="right nowrap">
                  {m.reverted_at ? (
                    <span title={`Unmerged ${fmtDate(m.reverted_at)}`}><Badge tone="warn">unmerged</Badge></span>
                  ) : canUnmerge ? (
                    <button className="btn btn-small" onClick={() => setPending(m)}>Unmerge</button>
                  ) : (
                    <Badge tone="ok">active</Badge>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {pending && (
        <Confirm title="Unmerge these contacts?" confirmLabel="Unmerge"
          body={<p>Contact #{pending.loser_id} is split back out of #{pending.winner_id}, with its own identifiers, attributes and events as they were before the merge.</p>}
          onConfirm={() => unmerge(pending)} onCancel={() => setPending(null)} />
      )}
    </Section>
  );
}

