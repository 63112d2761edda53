import { useState } from "react";
import type { Consent, Profile } from "../../api";
import { Badge, Empty, Section } from "../../components/ui";
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

export function Consents({ consents }: { consents: Profile["consents"] }) {
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
    </Section>
  );
}
