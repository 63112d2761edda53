// The delivery log: sends of one message or to one contact (GET /api/v1/sends), newest
// first; opening a send shows its status timeline (its message events).
import { useEffect, useState } from "react";
import { api, query } from "../../api";
import { Badge, Empty, ErrorNote, Section, Spinner } from "../../components/ui";
import { fmtDate, fmtShort, fmtValue } from "../../format";
import { Link } from "../../router";

const PAGE_SIZE = 50;

export interface SendRow {
  send_id: string;
  contact_id: number;
  message_id: string;
  channel: string;
  status: string;
  category?: string;
  attempts?: number;
  last_error?: string | null;
  message_revision?: number | null;
  versions_used?: Record<string, number> | null;
  created_at: string;
  updated_at?: string;
}

/** GET /api/v1/sends: `{"sends": [...], "next_cursor"}`. */
interface SendsPage {
  sends?: SendRow[];
  items?: SendRow[];
  next_cursor: string | null;
}

export interface SendEvent {
  status: string;
  at: string;
  channel?: string;
  machine?: boolean;
  properties?: Record<string, unknown> | string | null;
}

export interface SendDetail extends SendRow {
  events: SendEvent[];
}

const TONE: Record<string, string> = {
  queued: "neutral", sending: "info", sent: "info", delivered: "ok", opened: "ok", clicked: "ok",
  failed: "bad", bounced: "bad", complained: "bad", suppressed: "warn", unsubscribed: "warn",
};

/** The statuses a send ends in or waits in (GET /api/v1/sends?status=). */
const STATUSES = ["queued", "sending", "sent", "delivered", "bounced", "complained", "failed", "suppressed"];

export function StatusBadge({ status }: { status: string }) {
  return <Badge tone={TONE[status] ?? "neutral"}>{status}</Badge>;
}

export function DeliveryLog({ messageId, contactId, title = "Delivery log" }: { messageId?: string; contactId?: string | number; title?: string }) {
  const [items, setItems] = useState<SendRow[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const load = async (cursor: string | null) => {
    setBusy(true);
    try {
      const url = `/api/v1/sends${query({ message_id: messageId, contact_id: contactId, status, limit: PAGE_SIZE, cursor })}`;
      const page = await api.get<SendsPage>(url);
      const rows = page.sends ?? page.items ?? [];
      setItems((old) => (cursor ? [...(old ?? []), ...rows] : rows));
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
  }, [messageId, contactId, status]);
  const actions = (
    <>
      <select aria-label="Send status" value={status} onChange={(e) => setStatus(e.target.value)}>
        <option value="">Any status</option>
        {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
      </select>
      <button className="btn btn-small btn-ghost" onClick={() => void load(null)} disabled={busy}>Refresh</button>
    </>
  );
  return (
    <Section title={title} testId="delivery-log" actions={actions}>
      <ErrorNote error={error} />
      {items === null ? (error ? null : <Spinner />) : items.length === 0 ? <Empty>No sends yet.</Empty> : (
        <table className="table compact" data-testid="sends-table">
          <thead>
            <tr><th>Sent</th>{messageId ? <th>Contact</th> : <th>Message</th>}<th>Channel</th><th>Status</th><th className="right">Attempts</th></tr>
          </thead>
          <tbody>
            {items.map((s) => (
              <SendLine key={s.send_id} send={s} byMessage={!!messageId} open={open === s.send_id}
                onToggle={() => setOpen(open === s.send_id ? null : s.send_id)} />
            ))}
          </tbody>
        </table>
      )}
      {next && (
        <div className="more">
          <button className="btn" onClick={() => void load(next)} disabled={busy}>{busy ? "Loading…" : "Load more"}</button>
        </div>
      )}
    </Section>
  );
}

function SendLine({ send, byMessage, open, onToggle }: { send: SendRow; byMessage: boolean; open: boolean; onToggle: () => void }) {
  return (
    <>
      <tr className="clickable" onClick={onToggle} data-testid="send-row" aria-expanded={open}>
        <td className="nowrap" title={send.send_id}>{fmtShort(send.created_at)}</td>
        <td onClick={(e) => e.stopPropagation()}>
          {byMessage
            ? <Link to={`/contacts/${send.contact_id}`}>#{send.contact_id}</Link>
            : <Link to={`/messages/${send.message_id}`}>{send.message_id}</Link>}
        </td>
        <td><Badge>{send.channel}</Badge></td>
        <td>
          <StatusBadge status={send.status} />
          {send.last_error && <div className="muted small">{send.last_error}</div>}
        </td>
        <td className="right">{send.attempts ?? "—"}</td>
      </tr>
      {open && (
        <tr className="send-detail">
          <td colSpan={5}><SendTimeline sendId={send.send_id} /></td>
        </tr>
      )}
    </>
  );
}

/** Queued → sent → delivered → opened… as the send's events recorded it. */
export function SendTimeline({ sendId }: { sendId: string }) {
  const [detail, setDetail] = useState<SendDetail | null>(null);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    api.get<SendDetail>(`/api/v1/sends/${encodeURIComponent(sendId)}`).then(setDetail, setError);
  }, [sendId]);
  if (error) return <ErrorNote error={error} />;
  if (!detail) return <Spinner />;
  const events = [...(detail.events ?? [])].sort((a, b) => a.at.localeCompare(b.at));
  return (
    <div data-testid="send-timeline">
      <p className="muted small mono">{detail.send_id} · {detail.category ?? ""}{detail.message_revision ? ` · revision ${detail.message_revision}` : ""}
        {detail.versions_used && Object.keys(detail.versions_used).length > 0 && ` · blocks ${Object.entries(detail.versions_used).map(([b, v]) => `${b} v${v}`).join(", ")}`}
      </p>
      {events.length === 0 ? <Empty>No events recorded yet (status {detail.status}).</Empty> : (
        <ol className="status-timeline">
          {events.map((e, i) => (
            <li key={i} data-testid="send-event">
              <StatusBadge status={e.status} />
              {e.machine && <Badge tone="warn">machine</Badge>}
              <time dateTime={e.at}>{fmtDate(e.at)}</time>
              {e.properties && typeof e.properties === "object" && Object.keys(e.properties).length > 0 && (
                <span className="muted small">{Object.entries(e.properties).map(([k, v]) => `${k}: ${fmtValue(v)}`).join(" · ")}</span>
              )}
              {typeof e.properties === "string" && e.properties !== "{}" && <span className="muted small mono">{e.properties}</span>}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}
