// Data the journey editor loads: pickers' options and the live counts (polled).
import { useCallback, useEffect, useState } from "react";
import { api } from "../../api";
import { useInterval, useLoad } from "../../hooks";
import { normalizeStats, type Stats } from "./counts";
import type { Option } from "./fields";

export function useOptions() {
  const messages = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/messages"), []);
  const segments = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/segments"), []);
  const journeys = useLoad(() => api.get<{ items: { id: string; name: string }[] }>("/api/v1/journeys"), []);
  const pick = (items: { id: string; name: string }[] | undefined): Option[] | null => items?.map((i) => ({ id: i.id, name: i.name })) ?? null;
  return { messages: pick(messages.data?.items), segments: pick(segments.data?.items), journeys: pick(journeys.data?.items) };
}

/** The journey's per-node counts (GET /api/v1/journeys/{id}/stats), every 2 s. */
export function useLiveStats(id: string | undefined): Stats | null {
  const [stats, setStats] = useState<Stats | null>(null);
  const poll = useCallback(async () => {
    if (!id) return;
    setStats(normalizeStats(await api.get(`/api/v1/journeys/${encodeURIComponent(id)}/stats`)));
  }, [id]);
  useEffect(() => void poll().catch(() => undefined), [poll]);
  useInterval(() => poll().catch(() => undefined), 2000, !!id);
  return stats;
}
