import { useState, type FormEvent } from "react";
import { api, type ApiKey, type Role, type User, type WorkspaceInfo } from "../api";
import { useAuth, useCan } from "../auth";
import { Badge, Confirm, Empty, ErrorNote, Section, Spinner } from "../components/ui";
import { fmtDate, fmtShort } from "../format";
import { useLoad } from "../hooks";

export function SettingsPage() {
  const isAdmin = useCan("admin");
  return (
    <div className="page">
      <div className="page-head">
        <div>
          <h1>Settings</h1>
          <p className="muted">Your workspace, its API keys and the people who can log in.</p>
        </div>
      </div>
      <WorkspaceCard />
      {isAdmin ? (
        <>
          <KeysCard />
          <UsersCard />
        </>
      ) : (
        <div className="note" data-testid="admin-only-note">Keys and users are managed by workspace admins.</div>
      )}
    </div>
  );
}

function WorkspaceCard() {
  const { me } = useAuth();
  const ws = useLoad(() => api.get<WorkspaceInfo>("/api/v1/workspace"), []);
  return (
    <Section title="Workspace" testId="workspace">
      <ErrorNote error={ws.error} />
      {!ws.data ? (ws.error ? null : <Spinner />) : (
        <dl className="kv">
          <div className="kv-row"><dt>Name</dt><dd>{ws.data.name}</dd></div>
          <div className="kv-row"><dt>Workspace id</dt><dd className="mono">{ws.data.id}</dd></div>
          <div className="kv-row"><dt>Created</dt><dd>{fmtDate(ws.data.created_at)}</dd></div>
          <div className="kv-row"><dt>You</dt><dd>{me.email} <Badge tone="info">{me.role}</Badge></dd></div>
        </dl>
      )}
    </Section>
  );
}

function KeysCard() {
  const keys = useLoad(() => api.get<ApiKey[]>("/api/v1/keys"), []);
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"write" | "api">("write");
  const [secret, setSecret] = useState<{ name: string; secret: string } | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const key = await api.post<{ id: string; secret: string }>("/api/v1/keys", { kind, name: name.trim() || "default" });
      setSecret({ name: name.trim() || "default", secret: key.secret });
      setName("");
      keys.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const revoke = async (key: ApiKey) => {
    await api.del(`/api/v1/keys/${key.id}`);
    setRevoking(null);
    keys.reload();
  };
  return (
    <Section title="API keys" testId="keys">
      <p className="muted small">Write keys send events (<code>/v1/*</code>, as the HTTP Basic username); API keys call the management API (<code>Authorization: Bearer</code>).</p>
      {secret && <SecretOnce name={secret.name} secret={secret.secret} onDone={() => setSecret(null)} />}
      <ErrorNote error={keys.error} />
      {!keys.data ? (keys.error ? null : <Spinner />) : keys.data.length === 0 ? <Empty>No keys.</Empty> : (
        <table className="table compact" data-testid="keys-table">
          <thead><tr><th>Name</th><th>Kind</th><th>Prefix</th><th>Created</th><th>Status</th><th /></tr></thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td><Badge>{k.kind}</Badge></td>
                <td className="mono">{k.prefix}…</td>
                <td className="nowrap">{fmtShort(k.created_at)}</td>
                <td>{k.revoked_at ? <Badge tone="bad">revoked</Badge> : <Badge tone="ok">active</Badge>}</td>
                <td className="right">
                  {!k.revoked_at && <button className="btn btn-small btn-danger-outline" onClick={() => setRevoking(k)}>Revoke</button>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="inline-form" onSubmit={create} aria-label="Create key">
        <input placeholder="Key name, e.g. website" value={name} onChange={(e) => setName(e.target.value)} aria-label="Key name" maxLength={100} />
        <select value={kind} onChange={(e) => setKind(e.target.value as "write" | "api")} aria-label="Key kind">
          <option value="write">Write key</option>
          <option value="api">API key</option>
        </select>
        <button className="btn btn-primary" type="submit">Create key</button>
      </form>
      <ErrorNote error={error} />
      {revoking && (
        <Confirm title={`Revoke “${revoking.name}”?`} danger confirmLabel="Revoke"
          body={<p>Requests signed with this key stop working at once.</p>}
          onConfirm={() => revoke(revoking)} onCancel={() => setRevoking(null)} />
      )}
    </Section>
  );
}

function SecretOnce({ name, secret, onDone }: { name: string; secret: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await navigator.clipboard?.writeText(secret).then(() => setCopied(true), () => undefined);
  };
  return (
    <div className="note note-success" data-testid="new-secret">
      <div><strong>Key “{name}” created.</strong> Copy the secret now — it is not shown again.</div>
      <div className="secret-row">
        <code className="secret" data-testid="secret-value">{secret}</code>
        <button className="btn btn-small" onClick={() => void copy()}>{copied ? "Copied" : "Copy"}</button>
        <button className="btn btn-small btn-ghost" onClick={onDone}>Done</button>
      </div>
    </div>
  );
}

function UsersCard() {
  const users = useLoad(() => api.get<User[]>("/api/v1/users"), []);
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("marketer");
  const [error, setError] = useState<Error | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const create = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const user = await api.post<User>("/api/v1/users", { email, password, role });
      setCreated(user.email);
      setEmail("");
      setPassword("");
      users.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  return (
    <Section title="Users" testId="users">
      <ErrorNote error={users.error} />
      {!users.data ? (users.error ? null : <Spinner />) : (
        <table className="table compact" data-testid="users-table">
          <thead><tr><th>Email</th><th>Role</th><th>Created</th></tr></thead>
          <tbody>
            {users.data.map((u) => (
              <tr key={u.id}><td>{u.email}</td><td><Badge tone="info">{u.role}</Badge></td><td className="nowrap">{fmtShort(u.created_at)}</td></tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="inline-form" onSubmit={create} aria-label="Create user">
        <input type="email" required placeholder="Email" value={email} onChange={(e) => setEmail(e.target.value)} aria-label="New user email" />
        <input type="password" required minLength={8} placeholder="Password (8+ characters)" value={password}
          onChange={(e) => setPassword(e.target.value)} aria-label="New user password" autoComplete="new-password" />
        <select value={role} onChange={(e) => setRole(e.target.value as Role)} aria-label="New user role">
          <option value="admin">Admin</option>
          <option value="marketer">Marketer</option>
          <option value="analyst">Analyst</option>
        </select>
        <button className="btn btn-primary" type="submit">Add user</button>
      </form>
      {created && <div className="note note-success">User {created} added.</div>}
      <ErrorNote error={error} />
    </Section>
  );
}
