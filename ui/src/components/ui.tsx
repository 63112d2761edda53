// Small building blocks shared by the rooms.
import { useState, type ReactNode } from "react";
import { ApiError } from "../api";

export function ErrorNote({ error }: { error: Error | null | undefined }) {
  if (!error) return null;
  // Name the field for validation errors, unless the message already does.
  const named = error instanceof ApiError && error.code === "validation_error" && error.field;
  const field = named && !error.message.includes(error.field!) ? ` (${error.field})` : "";
  return (
    <div className="note note-error" role="alert">
      {error.message}
      {field}
    </div>
  );
}

export function Section({ title, actions, children, testId }: {
  title: string;
  actions?: ReactNode;
  children: ReactNode;
  testId?: string;
}) {
  return (
    <section className="card" data-testid={testId}>
      <header className="card-head">
        <h2>{title}</h2>
        {actions && <div className="card-actions">{actions}</div>}
      </header>
      <div className="card-body">{children}</div>
    </section>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="spinner" role="status">
      <span className="spinner-dot" />
      {label}
    </div>
  );
}

export function Badge({ children, tone = "neutral" }: { children: ReactNode; tone?: string }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

/** A modal confirmation; when `phrase` is set the user must type it to proceed. */
export function Confirm({ title, body, confirmLabel, danger, phrase, onConfirm, onCancel }: {
  title: string;
  body: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  phrase?: string;
  onConfirm: () => Promise<void> | void;
  onCancel: () => void;
}) {
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const ready = !phrase || typed === phrase;
  const go = async () => {
    setBusy(true);
    try {
      await onConfirm();
    } catch (err) {
      setError(err as Error);
      setBusy(false);
    }
  };
  return (
    <div className="modal-backdrop" onClick={onCancel}>
      <div className="modal" role="dialog" aria-modal="true" aria-label={title} onClick={(e) => e.stopPropagation()}>
        <h3>{title}</h3>
        <div className="modal-body">{body}</div>
        {phrase && (
          <label className="field">
            <span>
              Type <code>{phrase}</code> to confirm
            </span>
            <input autoFocus value={typed} onChange={(e) => setTyped(e.target.value)} aria-label="Confirmation phrase" />
          </label>
        )}
        <ErrorNote error={error} />
        <div className="modal-actions">
          <button className="btn" onClick={onCancel} disabled={busy}>Cancel</button>
          <button className={danger ? "btn btn-danger" : "btn btn-primary"} onClick={go} disabled={!ready || busy}>
            {busy ? "Working…" : confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}
