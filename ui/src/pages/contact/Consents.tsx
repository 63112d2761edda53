import { useState, type FormEvent } from "react";
import { api, type Consent, type Profile } from "../../api";
import { useCan } from "../../auth";
import { Badge, Empty, ErrorNote, Section } from "../../components/ui";
import { fmtShort } from "../../format";

function tone(status: string): string {
  if (["subscribed", "granted", "opted_in", "yes", "true"].includes(status)) return "ok";
  if (["unsubscribed", "revoked", "opted_out", "no", "false"].includes(status)) return "bad";
  return "neutral";
}

function ConsentTable({ rows, testId }: { rows: Consent[]; testId: string }) {
  return (
    <table className="table compact" data-testid={testId}>
      <thead><tr><th>Channel</th><th>Topic</th><th>Status</th><th>Source</th><th>Changed</th></tr></thead>
      <tbody>
        {rows.map((c, i) => (
          <tr key={`${c.channel}:${c.topic}:${c.changed_at}:${i}`}>
            <td>{c.channel}</td>
            <td className="nowrap">{!c.topic || c.topic === "*" ? "all topics" : c.topic}</td>
            <td><Badge tone={tone(c.status)}>{c.status}</Badge></td>
            <td className="nowrap">{c.source ?? "—"}</td>
            <td className="nowrap">{fmtShort(c.changed_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const CHANNELS = ["email", "sms", "viber", "webpush", "mobilepush"];

/** Record a consent decision by hand (e.g. a call-centre request); marketers and admins. */
function ConsentForm({ contactId, onSaved }: { contactId: number; onSaved: () => void }) {
  const [channel, setChannel] = useState("email");
  const [topic, setTopic] = useState("");
  const [status, setStatus] = useState("unsubscribed");
  const [error, setError] = useState<Error | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      await api.post(`/api/v1/contacts/${contactId}/consents`, { channel, topic: topic.trim() || "*", status, source: "ui" });
      setTopic("");
      onSaved();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <>
      <form className="inline-form" onSubmit={submit} aria-label="Change consent">
        <select value={channel} onChange={(e) => setChannel(e.target.value)} aria-label="Consent channel">
          {CHANNELS.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
        <input value={topic} onChange={(e) => setTopic(e.target.value)} placeholder="Topic (all if empty)" aria-label="Consent topic" maxLength={100} />
        <select value={status} onChange={(e) => setStatus(e.target.value)} aria-label="Consent status">
          <option value="subscribed">subscribed</option>
          <option value="unsubscribed">unsubscribed</option>
          <option value="pending">pending</option>
        </select>
        <button className="btn" type="submit">Record</button>
      </form>
      <ErrorNote error={error} />
    </>
  );
}

export function Consents({ consents, contactId, onChange }: {
  consents: Profile["consents"];
  contactId: number;
  onChange: () => void;
}) {
  const canChange = useCan("marketer");
  const [showHistory, setShowHistory] = useState(false);
  const current = consents?.current ?? [];
  const history = consents?.history ?? [];
  const toggle = history.length > 0 && (
    <button className="btn btn-ghost btn-small" onClick={() => setShowHistory(!showHistory)}>
      {showHistory ? "Hide history" : `History (${history.length})`}
    </button>
  );
  return (
    <Section title="Consents" testId="consents" actions={toggle}>
      {current.length === 0 ? <Empty>No consent recorded.</Empty> : <ConsentTable rows={current} testId="consents-current" />}
      {showHistory && (
        <>
          <h3 className="sub">History</h3>
          <ConsentTable rows={history} testId="consents-history" />
        </>
      )}
      {canChange && <ConsentForm contactId={contactId} onSaved={onChange} />}
    </Section>
  );
}
