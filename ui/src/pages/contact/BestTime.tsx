// The contact's best hour to send (send-time optimization, GET /api/v1/contacts/{id}/best-time):
// what journeys' "best time" waits and "optimal" campaigns use for her.
import { api } from "../../api";
import { fmtShort } from "../../format";
import { useLoad } from "../../hooks";

interface BestTime { hour: number; source: "contact" | "population" | "default"; samples: number; timezone?: string; next_at?: string }

const SOURCE: Record<BestTime["source"], (n: number) => string> = {
  contact: (n) => `from ${n} of her own opens and clicks`,
  population: () => "the workspace's pattern (too few of her own opens and clicks)",
  default: () => "the default (no opens or clicks yet)",
};

export function BestTimeLine({ contactId }: { contactId: number }) {
  const best = useLoad(() => api.get<BestTime>(`/api/v1/contacts/${contactId}/best-time`), [contactId]);
  const b = best.data;
  if (!b) return null;
  return (
    <p className="muted small" data-testid="best-time">
      Best time to send: <strong>{String(b.hour).padStart(2, "0")}:00</strong>{b.timezone ? ` ${b.timezone}` : ""} — {SOURCE[b.source]?.(b.samples) ?? b.source}
      {b.next_at ? ` · next ${fmtShort(b.next_at)}` : ""}
    </p>
  );
}
