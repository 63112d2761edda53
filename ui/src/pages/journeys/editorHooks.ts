// Data the journey editor loads: pickers' options and the live counts (polled).
import { useCallback, useEffect, useState } from "react";
import { api, ApiError } from "../../api";
import { useInterval, useLoad } from "../../hooks";
import { normalizeStats, statsFromRuns, type Run, type Stats } from "./counts";
import type { Option } from "./fields";

export function useOptions() {
  const messages = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/messages"), []);
  const segments = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/segments"), []);
  const journeys = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/journeys"), []);
  const pick = (items: { id: string; name: string }[] | undefined): Option[] | null => items?.map((i) => ({ id: i.id, name: i.name })) ?? null;
  return { messages: pick(messages.data?.items), segments: pick(segments.data?.items), journeys: pick(journeys.data?.items) };
}

/** The journey's per-node counts every 2 s. A server without the stats endpoint (404)
 * is read from its runs list instead. */
export function useLiveStats(id: string | undefined): Stats | null {
  const [stats, setStats] = useState<Stats | null>(null);
  const [fromRuns, setFromRuns] = useState(false);
  const poll = useCallback(async () => {
    if (!id) return;
    const base = `/api/v1/journeys/${encodeURIComponent(id)}`;
    if (!fromRuns) {
      try {
        setStats(normalizeStats(await api.get(`${base}/stats`)));
        return;
      } catch (err) {
        if (!(err instanceof ApiError && (err.status === 404 || err.status === 405))) throw err;
        setFromRuns(true);
      }
    }
    const runs = await api.get<{ items: Run[] }>(`${base}/runs?limit=1000`);
    setStats(statsFromRuns(runs.items));
  }, [id, fromRuns]);
  useEffect(() => void poll().catch(() => undefined), [poll]);
  useInterval(() => poll().catch(() => undefined), 2000, !!id);
  return stats;
}
