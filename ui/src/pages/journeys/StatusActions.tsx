// Activate / pause / resume / stop buttons for one journey.
import { useState } from "react";
import { api } from "../../api";
import { ErrorNote } from "../../components/ui";
import { ACTION_LABEL, actionsFor, type JourneySummary } from "./types";

export function StatusActions({ journey, onChange, disabled }: {
  journey: JourneySummary;
  onChange: (j: JourneySummary) => void;
  disabled?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | null>(null);
  const act = async (action: keyof typeof ACTION_LABEL) => {
    setBusy(true);
    setError(null);
    try {
      onChange(await api.post<JourneySummary>(`/api/v1/journeys/${encodeURIComponent(journey.id)}/${action}`));
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="journey-actions">
      {actionsFor(journey.status).map((action) => (
        <button key={action} type="button" className={action === "stop" ? "btn btn-small btn-danger-outline" : "btn btn-small"}
          disabled={busy || disabled} onClick={(e) => { e.stopPropagation(); void act(action); }}>
          {ACTION_LABEL[action]}
        </button>
      ))}
      <ErrorNote error={error} />
    </span>
  );
}
