import { useEffect, useState, type FormEvent } from "react";
import { api, query, type ContactRow, type Page } from "../api";
import { Empty, ErrorNote, Spinner } from "../components/ui";
import { fmtShort } from "../format";
import { Link, navigate, useLocation } from "../router";

const PAGE_SIZE = 50;

function contactsUrl(q: string, cursor: string | null): string {
  return `/api/v1/contacts${query({ q, limit: PAGE_SIZE, cursor })}`;
}

/** The search lives in the address (`/contacts?q=…`) so a result can be shared. */
export function ContactsPage() {
  const { search } = useLocation();
  const q = search.get("q") ?? "";
  const [text, setText] = useState(q);
  const [rows, setRows] = useState<ContactRow[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);

  useEffect(() => {
    let live = true;
    setRows(null);
    setError(null);
    setText(q);
    api.get<Page<ContactRow>>(contactsUrl(q, null)).then(
      (page) => live && (setRows(page.items), setNext(page.next_cursor)),
      (err: Error) => live && (setError(err), setRows([])),
    );
    return () => {
      live = false;
    };
  }, [q]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    navigate(`/contacts${query({ q: text.trim() })}`);
  };
  const more = async () => {
    setLoadingMore(true);
    try {
      const page = await api.get<Page<ContactRow>>(contactsUrl(q, next));
      setRows((old) => [...(old ?? []), ...page.items]);
      setNext(page.next_cursor);
    } catch (err) {
      setError(err as Error);
    } finally {
      setLoadingMore(false);
    }
  };

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Contacts</h1>
          <p className="muted">Search by email, phone, external id, anonymous id, or the start of a name or email.</p>
        </div>
      </div>
      <form className="search" onSubmit={submit} role="search">
        <input type="search" placeholder="e.g. anna@example.com, +380501234567, cust-1042, Anna"
          value={text} onChange={(e) => setText(e.target.value)} aria-label="Search contacts" />
        <button className="btn btn-primary" type="submit">Search</button>
      </form>
      <ErrorNote error={error} />
      {rows === null ? <Spinner /> : <ContactTable rows={rows} q={q} />}
      {next && (
        <div className="more">
          <button className="btn" onClick={() => void more()} disabled={loadingMore}>
            {loadingMore ? "Loading…" : "Load more"}
          </button>
        </div>
      )}
    </div>
  );
}

function ContactTable({ rows, q }: { rows: ContactRow[]; q: string }) {
  if (!rows.length) return <Empty>{q ? `No contact matches “${q}”.` : "No contacts yet."}</Empty>;
  return (
    <div className="card table-card">
      <table className="table" data-testid="contacts-table">
        <thead>
          <tr>
            <th>Name</th><th>Email</th><th>Phone</th><th>External id</th><th>Last seen</th><th>Created</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr key={c.id} className="clickable" onClick={() => navigate(`/contacts/${c.id}`)}>
              <td><Link to={`/contacts/${c.id}`} onClick={(e) => e.stopPropagation()}>{c.name || `Contact #${c.id}`}</Link></td>
              <td>{c.email ?? "—"}</td>
              <td>{c.phone ?? "—"}</td>
              <td className="mono">{c.external_id ?? "—"}</td>
              <td className="nowrap">{fmtShort(c.last_seen_at)}</td>
              <td className="nowrap">{fmtShort(c.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
