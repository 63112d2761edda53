// What /api/v1/journeys answers (docs/journeys.md).
import type { Definition } from "./model";

export type JourneyStatus = "draft" | "live" | "paused" | "stopped";

export interface JourneySummary {
  id: string;
  name: string;
  status: JourneyStatus;
  version: number;
  updated_at: string;
}

export interface Journey extends JourneySummary {
  created_at: string;
  definition: Definition;
}

export const STATUS_TONE: Record<string, string> = { live: "ok", paused: "warn", stopped: "bad", draft: "neutral" };

/** The status actions that make sense from a status (the API takes them all). */
export function actionsFor(status: string): ("activate" | "pause" | "resume" | "stop")[] {
  if (status === "live") return ["pause", "stop"];
  if (status === "paused") return ["resume", "stop"];
  if (status === "stopped") return ["activate"];
  return ["activate"];
}

export const ACTION_LABEL = { activate: "Activate", pause: "Pause", resume: "Resume", stop: "Stop" } as const;
