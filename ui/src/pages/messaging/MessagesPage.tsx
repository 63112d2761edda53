// The message list: name, category, channels, languages, last change.
import { useState } from "react";
import { api } from "../../api";
import { useCan } from "../../auth";
import { Badge, Empty, ErrorNote, Spinner } from "../../components/ui";
import { fmtShort } from "../../format";
import { useLoad } from "../../hooks";
import { Link, navigate } from "../../router";
import { MessagingNav } from "./nav";
import { languagesOf, type Channels } from "./editor/model";
import { CATEGORY_TONE, messageChannels, type MessageSummary } from "./types";

export function MessagesPage() {
  const canEdit = useCan("marketer");
  const list = useLoad(() => api.get<{ items: MessageSummary[] }>("/api/v1/messages"), []);
  const [filter, setFilter] = useState("");
  const [category, setCategory] = useState("");
  const items = list.data?.items;
  const shown = (items ?? []).filter((m) => {
    const text = `${m.name} ${m.topic ?? ""} ${(m.tags ?? []).join(" ")}`.toLowerCase();
    return text.includes(filter.toLowerCase()) && (!category || m.category === category);
  });
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Messages</h1>
          <p className="muted">Email, SMS, push, Viber, in-app and webhook content, in every language, built from blocks.</p>
        </div>
        {canEdit && <div className="head-actions"><Link to="/messages/new" className="btn btn-primary">New message</Link></div>}
      </div>
      <MessagingNav />
      <div className="search">
        <input type="search" aria-label="Filter messages" placeholder="Filter by name, topic or tag" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <select aria-label="Category" value={category} onChange={(e) => setCategory(e.target.value)}>
          <option value="">All categories</option>
          <option value="promo">Promo</option>
          <option value="trigger">Trigger</option>
          <option value="transactional">Transactional</option>
        </select>
      </div>
      <ErrorNote error={list.error} />
      {!items ? (list.error ? null : <Spinner />) : !items.length ? (
        <Empty>No messages yet. {canEdit && <Link to="/messages/new">Write the first one.</Link>}</Empty>
      ) : (
        <div className="card table-card">
          <table className="table" data-testid="messages-table">
            <thead><tr><th>Name</th><th>Category</th><th>Channels</th><th>Languages</th><th>Updated</th></tr></thead>
            <tbody>
              {shown.map((m) => (
                <tr key={m.id} className="clickable" onClick={() => navigate(`/messages/${m.id}`)} data-testid="message-row">
                  <td>
                    <Link to={`/messages/${m.id}`} onClick={(e) => e.stopPropagation()}>{m.name}</Link>
                    {m.topic && <div className="muted small">topic: {m.topic}</div>}
                  </td>
                  <td><Badge tone={CATEGORY_TONE[m.category] ?? "neutral"}>{m.category}</Badge></td>
                  <td>{messageChannels(m).map((c) => <span key={c}><Badge>{c}</Badge> </span>)}</td>
                  <td className="mono">{languagesOf({ ...m, tags: m.tags ?? [], channels: (Array.isArray(m.channels) ? {} : m.channels ?? {}) as Channels }).join(", ") || "—"}</td>
                  <td className="nowrap">{fmtShort(m.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {!shown.length && <div className="card-body"><Empty>No message matches the filter.</Empty></div>}
        </div>
      )}
    </div>
  );
}
