import { useState } from "react";
import { api, query } from "../api";
import { useCan } from "../auth";
import { Badge, Confirm, Empty, ErrorNote, Section, Spinner } from "../components/ui";
import { fmtShort } from "../format";
import { useLoad } from "../hooks";

/** A refused event as `GET /api/v1/dead-letters` lists it (docs/ingest.md, "Dead letters"). */
export interface DeadLetter {
  id: number;
  received_at: string;
  endpoint: string;
  payload: Record<string, unknown>;
  errors: { field: string; reason: string }[];
  status: "pending" | "replayed" | "discarded";
  resolved_at: string | null;
}

interface Page {
  items: DeadLetter[];
  next_cursor: number | null;
}

interface BulkReplayed {
  replayed: number;
  still_refused: number;
  more: boolean;
}

interface Replayed {
  id: number;
  status: string;
  message_id: string;
  stored: number;
  duplicates: number;
  applied?: number;
}

const STATUSES = ["pending", "replayed", "discarded", "all"] as const;
/** Letters of this endpoint hold an event that was stored but that commerce did not apply. */
const APPLY = "apply";

function statusTone(status: string): string {
  return status === "pending" ? "warn" : status === "replayed" ? "ok" : "neutral";
}

/** What the event was, in a few words: its type, name and who sent it. */
function summary(payload: Record<string, unknown>): string {
  const who = payload.userId ?? payload.anonymousId;
  const parts = [payload.type, payload.event ?? payload.name, who !== undefined ? `by ${String(who)}` : null];
  return parts.filter((p) => p !== undefined && p !== null && p !== "").map(String).join(" · ") || "—";
}

export function DeadLettersPage() {
  const canAct = useCan("marketer");
  const [bulk, setBulk] = useState(false);
  const [status, setStatus] = useState<(typeof STATUSES)[number]>("pending");
  const [pages, setPages] = useState<DeadLetter[][]>([]);
  const [open, setOpen] = useState<DeadLetter | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const first = useLoad(() => api.get<Page>(`/api/v1/dead-letters${query({ status, limit: 50 })}`), [status]);
  const [cursor, setCursor] = useState<number | null | undefined>(undefined);
  const next = cursor === undefined ? first.data?.next_cursor ?? null : cursor;
  const letters = [...(first.data?.items ?? []), ...pages.flat()];

  const more = async () => {
    if (next === null) return;
    const page = await api.get<Page>(`/api/v1/dead-letters${query({ status, limit: 50, cursor: next })}`);
    setPages((p) => [...p, page.items]);
    setCursor(page.next_cursor);
  };
  const reload = (message: string | null) => {
    setPages([]);
    setCursor(undefined);
    setOpen(null);
    setDone(message);
    first.reload();
  };

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Dead letters</h1>
          <p className="muted">
            Events the tracking API refused, each with the field and the reason. Fix one and replay it, or discard
            it: a refused event waits here until you decide.
          </p>
        </div>
        {canAct && status === "pending" && letters.length > 0 && (
          <div className="head-actions">
            <button className="btn" onClick={() => setBulk(true)}>Replay all pending</button>
          </div>
        )}
        <label className="field inline">
          <span>Show</span>
          <select aria-label="Show letters" value={status} onChange={(e) => (setStatus(e.target.value as typeof status), reload(null))}>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
      </div>
      {done && <div className="note note-success" role="status">{done}</div>}
      {bulk && (
        <Confirm
          title="Replay all pending letters"
          body="Each pending letter is replayed as it is, oldest first (500 at a time). Use this once the cause is fixed on the server's side; a letter still refused stays pending."
          confirmLabel="Replay them"
          onCancel={() => setBulk(false)}
          onConfirm={async () => {
            const r = await api.post<BulkReplayed>("/api/v1/dead-letters/replay-pending");
            setBulk(false);
            const left = r.still_refused ? `; ${r.still_refused} still refused, left pending` : "";
            const n = `${r.replayed} letter${r.replayed === 1 ? "" : "s"}`;
            reload(`Replayed ${n}${left}.${r.more ? " More are pending: run it again." : ""}`);
          }}
        />
      )}
      {open && <LetterView key={open.id} letter={open} onClose={() => setOpen(null)} onResolved={reload} />}
      <Section title="Letters" testId="dead-letters">
        <ErrorNote error={first.error} />
        {first.data === null ? (first.error ? null : <Spinner />) : letters.length === 0 ? <Empty>No {status === "all" ? "" : `${status} `}dead letters.</Empty> : (
          <table className="table compact">
            <thead>
              <tr><th>Received</th><th>Endpoint</th><th>Event</th><th>Why</th><th>Status</th></tr>
            </thead>
            <tbody>
              {letters.map((l) => (
                <tr key={l.id} className="clickable" data-testid="dead-letter" onClick={() => (setOpen(l), setDone(null))}>
                  <td className="nowrap">{fmtShort(l.received_at)}</td>
                  <td className="mono">{l.endpoint}</td>
                  <td>{summary(l.payload)}</td>
                  <td>{l.errors.map((e) => `${e.field}: ${e.reason}`).join("; ")}</td>
                  <td><Badge tone={statusTone(l.status)}>{l.status}</Badge></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {next !== null && letters.length > 0 && (
          <button className="btn" onClick={() => void more()}>Load more</button>
        )}
      </Section>
    </div>
  );
}

/** One letter: its reasons and payload; a marketer fixes the payload, then replays or discards. */
function LetterView({ letter, onClose, onResolved }: {
  letter: DeadLetter;
  onClose: () => void;
  onResolved: (message: string) => void;
}) {
  const canAct = useCan("marketer") && letter.status === "pending";
  const stored = letter.endpoint === APPLY;
  const original = JSON.stringify(letter.payload, null, 2);
  const [text, setText] = useState(original);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const edited = text !== original;

  const act = async (action: "replay" | "discard") => {
    setError(null);
    let body: unknown = {};
    if (action === "replay" && edited) {
      try {
        body = { payload: JSON.parse(text) };
      } catch (err) {
        setError(new Error(`The payload is not JSON: ${(err as Error).message}`));
        return;
      }
    }
    setBusy(true);
    try {
      if (action === "discard") {
        await api.post(`/api/v1/dead-letters/${letter.id}/discard`);
        onResolved(`Dead letter ${letter.id} discarded.`);
      } else {
        const r = await api.post<Replayed>(`/api/v1/dead-letters/${letter.id}/replay`, body);
        const what = r.applied ? "applied again" : r.stored ? "stored" : "already stored (a duplicate)";
        onResolved(`Dead letter ${letter.id} replayed: event ${r.message_id} ${what}.`);
      }
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };

  return (
    <Section
      title={`Dead letter ${letter.id}`}
      testId="dead-letter-view"
      actions={<button className="btn btn-ghost btn-small" onClick={onClose}>Close</button>}
    >
      <p className="muted">
        Received {fmtShort(letter.received_at)}{" "}
        {stored ? "(stored; commerce did not apply it)" : <>at <span className="mono">/v1/{letter.endpoint}</span></>} ·{" "}
        <Badge tone={statusTone(letter.status)}>{letter.status}</Badge>
      </p>
      <ul className="letter-reasons" data-testid="dead-letter-reasons">
        {letter.errors.map((e, i) => <li key={i}><span className="mono">{e.field}</span>: {e.reason}</li>)}
      </ul>
      {stored && (
        <p className="note">
          This event was stored; what commerce derives from it (orders, carts) was not. A replay applies the stored
          event again, as it was received.
        </p>
      )}
      <label className="field">
        <span>{canAct && !stored ? "Payload (edit it to fix the event, then replay)" : "Payload"}</span>
        <textarea
          className="code"
          aria-label="Payload"
          rows={Math.min(24, original.split("\n").length + 1)}
          value={text}
          readOnly={!canAct || stored}
          spellCheck={false}
          onChange={(e) => setText(e.target.value)}
        />
      </label>
      <ErrorNote error={error} />
      {canAct && (
        <div className="form-actions">
          <button className="btn btn-primary" disabled={busy} onClick={() => void act("replay")}>
            {edited ? "Replay the fixed event" : "Replay"}
          </button>
          <button className="btn btn-danger-outline" disabled={busy} onClick={() => void act("discard")}>Discard</button>
        </div>
      )}
    </Section>
  );
}
