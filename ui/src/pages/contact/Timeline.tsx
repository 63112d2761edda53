import { useEffect, useState } from "react";
import { api, query, type Page, type TimelineEvent } from "../../api";
import { Badge, Empty, ErrorNote, Json, Section, Spinner } from "../../components/ui";
import { fmtShort, fmtValue } from "../../format";

const PAGE_SIZE = 25;

/** The headline of an event: its name for track, the page/screen name, or the type. */
function title(e: TimelineEvent): string {
  if (e.event) return e.event;
  const name = e.properties?.name ?? e.properties?.title;
  return name ? `${e.type}: ${fmtValue(name)}` : e.type;
}

/** Up to three property values worth a glance (product, price, url…). */
function summary(e: TimelineEvent): string {
  const props = e.type === "identify" ? e.traits : e.properties;
  return Object.entries(props ?? {})
    .filter(([, v]) => v !== null && typeof v !== "object")
    .slice(0, 3)
    .map(([k, v]) => `${k}: ${fmtValue(v)}`)
    .join(" · ");
}

export function Timeline({ contactId }: { contactId: string }) {
  const [items, setItems] = useState<TimelineEvent[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState<string | null>(null);

  const load = async (cursor: string | null) => {
    setBusy(true);
    try {
      const url = `/api/v1/contacts/${encodeURIComponent(contactId)}/events${query({ limit: PAGE_SIZE, cursor })}`;
      const page = await api.get<Page<TimelineEvent>>(url);
      setItems((old) => (cursor ? [...(old ?? []), ...page.items] : page.items));
      setNext(page.next_cursor);
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
  }, [contactId]);

  return (
    <Section title="Timeline" testId="timeline">
      <ErrorNote error={error} />
      {items === null ? (error ? null : <Spinner />) : items.length === 0 ? <Empty>No events yet.</Empty> : (
        <ol className="timeline">
          {items.map((e) => (
            <li key={e.message_id} className="tl-item" data-testid="timeline-item">
              <button className="tl-head" onClick={() => setOpen(open === e.message_id ? null : e.message_id)}>
                <span className={`tl-dot tl-${e.type}`} />
                <span className="tl-title">{title(e)}</span>
                <Badge>{e.type}</Badge>
                <time className="tl-time" dateTime={e.timestamp}>{fmtShort(e.timestamp)}</time>
              </button>
              {summary(e) && <div className="tl-summary">{summary(e)}</div>}
              {open === e.message_id && <Json value={e} />}
            </li>
          ))}
        </ol>
      )}
      {next && (
        <div className="more">
          <button className="btn" onClick={() => void load(next)} disabled={busy}>{busy ? "Loading…" : "Load more"}</button>
        </div>
      )}
    </Section>
  );
}
