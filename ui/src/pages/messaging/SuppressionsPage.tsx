// The suppression list: who nothing is ever sent to. Values are stored hashed with a masked
// hint; an exact address or phone is found by hashing it here the way the server does.
import { useEffect, useState, type FormEvent } from "react";
import { api, query, type Page } from "../../api";
import { useCan } from "../../auth";
import { Badge, Confirm, Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtDate, fmtShort, humanize } from "../../format";
import { MessagingNav } from "./nav";
import { kindOf, normalize, suppressionHash, type SuppressionKind } from "./suppressionKey";
import { SUPPRESSION_REASONS, type Suppression } from "./types";

const PAGE_SIZE = 100;
const SCAN_PAGE = 1000;

const REASON_TONE: Record<string, string> = { hard_bounce: "bad", complaint: "bad", unsubscribed: "warn", manual: "neutral" };

function listUrl(reason: string, cursor: string | null, limit = PAGE_SIZE): string {
  return `/api/v1/suppressions${query({ reason, limit, cursor })}`;
}

/** The entry with `hash`, read page by page (the API lists, it does not look up). */
async function findByHash(hash: string): Promise<Suppression | null> {
  let cursor: string | null = null;
  do {
    const page: Page<Suppression> = await api.get<Page<Suppression>>(listUrl("", cursor, SCAN_PAGE));
    const hit = page.items.find((s) => s.hash === hash);
    if (hit) return hit;
    cursor = page.next_cursor;
  } while (cursor);
  return null;
}

type Lookup = { text: string; entry: Suppression | null } | null;

export function SuppressionsPage() {
  const canEdit = useCan("marketer");
  const [reason, setReason] = useState("");
  const [items, setItems] = useState<Suppression[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const [filter, setFilter] = useState("");
  const [lookup, setLookup] = useState<Lookup>(null);
  const [removing, setRemoving] = useState<Suppression | null>(null);

  const load = async (cursor: string | null) => {
    setBusy(true);
    try {
      const page = await api.get<Page<Suppression>>(listUrl(reason, cursor));
      setItems((old) => (cursor ? [...(old ?? []), ...page.items] : page.items));
      setNext(page.next_cursor);
      setError(null);
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    setItems(null);
    void load(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [reason]);

  const search = async (e: FormEvent) => {
    e.preventDefault();
    const kind = kindOf(filter);
    setLookup(null);
    if (!kind) return; // plain text only filters the rows shown
    const hash = await suppressionHash(kind, filter);
    if (!hash) {
      setError(new Error(kind === "email" ? "not an email address" : "a phone has 6-15 digits"));
      return;
    }
    try {
      setLookup({ text: normalize(kind, filter)!, entry: await findByHash(hash) });
    } catch (err) {
      setError(err as Error);
    }
  };
  const remove = async (s: Suppression) => {
    await api.del(`/api/v1/suppressions/${s.hash}`);
    setRemoving(null);
    setLookup((old) => (old?.entry?.hash === s.hash ? { ...old, entry: null } : old));
    await load(null);
  };

  const words = filter.trim().toLowerCase();
  const shown = (items ?? []).filter((s) => kindOf(filter) || !words
    || `${s.hint} ${s.reason} ${s.source} ${s.kind}`.toLowerCase().includes(words));
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Suppression list</h1>
          <p className="muted">Addresses and phone numbers nothing is ever sent to, checked at send time.</p>
        </div>
      </div>
      <MessagingNav />
      {canEdit && <AddSuppression onAdded={() => void load(null)} />}
      <Section title="Suppressed addresses and phones" testId="suppressions">
        <form className="search" onSubmit={search} role="search">
          <input type="search" aria-label="Search the suppression list" placeholder="An address or phone (exact), or part of a hint, reason or source"
            value={filter} onChange={(e) => { setFilter(e.target.value); setLookup(null); }} />
          <select aria-label="Reason" value={reason} onChange={(e) => setReason(e.target.value)}>
            <option value="">All reasons</option>
            {SUPPRESSION_REASONS.map((r) => <option key={r} value={r}>{humanize(r)}</option>)}
          </select>
          <button className="btn" type="submit">Search</button>
        </form>
        {lookup && (
          <div className={lookup.entry ? "note note-error" : "note note-success"} data-testid="lookup-result">
            {lookup.entry ? (
              <>
                <strong>{lookup.text}</strong> is suppressed ({humanize(lookup.entry.reason)}, since {fmtDate(lookup.entry.created_at)}).{" "}
                {canEdit && <button className="link" onClick={() => setRemoving(lookup.entry)}>Remove it</button>}
              </>
            ) : (
              <><strong>{lookup.text}</strong> is not on the suppression list.</>
            )}
          </div>
        )}
        <ErrorNote error={error} />
        {items === null ? (error ? null : <Spinner />) : items.length === 0 ? <Empty>Nobody is suppressed{reason ? " for this reason" : ""}.</Empty> : (
          <table className="table compact" data-testid="suppressions-table">
            <thead><tr><th>Address or phone</th><th>Kind</th><th>Reason</th><th>Source</th><th>Added</th><th /></tr></thead>
            <tbody>
              {shown.map((s) => (
                <tr key={s.hash} data-testid="suppression-row">
                  <td className="mono" title={`SHA-256 ${s.hash}`}>{s.hint}</td>
                  <td><Badge>{s.kind}</Badge></td>
                  <td><Badge tone={REASON_TONE[s.reason] ?? "neutral"}>{humanize(s.reason)}</Badge></td>
                  <td>{s.source}{s.send_id && <div className="muted small mono">{s.send_id}</div>}</td>
                  <td className="nowrap">{fmtShort(s.created_at)}</td>
                  <td className="right">
                    {canEdit && <button className="btn btn-small btn-danger-outline" onClick={() => setRemoving(s)}>Remove</button>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {items && items.length > 0 && !shown.length && <Empty>No row shown matches “{filter}”.</Empty>}
        {next && (
          <div className="more">
            <button className="btn" onClick={() => void load(next)} disabled={busy}>{busy ? "Loading…" : "Load more"}</button>
          </div>
        )}
      </Section>
      {removing && (
        <Confirm title={`Remove ${removing.hint}?`} danger confirmLabel="Remove"
          body={<p>Messages can reach this {removing.kind === "email" ? "address" : "number"} again, where the contact has consented.</p>}
          onConfirm={() => remove(removing)} onCancel={() => setRemoving(null)} />
      )}
    </div>
  );
}

function AddSuppression({ onAdded }: { onAdded: () => void }) {
  const [kind, setKind] = useState<SuppressionKind>("email");
  const [value, setValue] = useState("");
  const [reason, setReason] = useState("manual");
  const [error, setError] = useState<Error | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const add = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone(null);
    try {
      const body = kind === "email" ? { address: value.trim(), reason } : { phone: value.trim(), reason };
      const answer = await api.post<{ added: boolean }>("/api/v1/suppressions", body);
      setDone(answer.added ? `${value.trim()} is suppressed.` : `${value.trim()} was already on the list (its first reason is kept).`);
      setValue("");
      onAdded();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <Section title="Suppress an address or phone" testId="add-suppression">
      <form className="inline-form flush" onSubmit={add} aria-label="Add a suppression">
        <select aria-label="Kind" value={kind} onChange={(e) => setKind(e.target.value as SuppressionKind)}>
          <option value="email">Email</option>
          <option value="phone">Phone</option>
        </select>
        <input aria-label="Address or phone" required placeholder={kind === "email" ? "someone@example.com" : "+380 50 123 45 67"}
          value={value} onChange={(e) => setValue(e.target.value)} maxLength={kind === "email" ? 320 : 40} />
        <select aria-label="Suppression reason" value={reason} onChange={(e) => setReason(e.target.value)}>
          {SUPPRESSION_REASONS.map((r) => <option key={r} value={r}>{humanize(r)}</option>)}
        </select>
        <button className="btn btn-primary" type="submit">Suppress</button>
      </form>
      {done && <div className="note note-success form-row" data-testid="added-note">{done}</div>}
      <ErrorNote error={error} />
    </Section>
  );
}
