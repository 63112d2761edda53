// What /api/v1/campaigns answers (src/retenta/campaigns/).
export type Channel = "email" | "push" | "sms" | "viber" | "webhook" | "inapp";
export const CHANNELS: Channel[] = ["email", "push", "sms", "viber", "webhook", "inapp"];

export interface Schedule { type: "now" | "at" | "local"; at?: string; time?: string; date?: string; fallback_timezone?: string; send_time?: "optimal" | null }
export interface AbTest { sample_pct: number; wait: { amount: number; unit: "minutes" | "hours" | "days" }; metric: "clicks" | "opens"; alpha?: number; min_sample?: number; fallback?: "first" | "leader" }

export interface CampaignDoc {
  name: string;
  audience: "segment" | "all_consented";
  segment_id?: string;
  message_id?: string;
  variants?: string[];
  channel?: Channel;
  cascade?: Channel[];
  category: "promo" | "trigger";
  schedule: Schedule;
  throttle?: ({ per_second: number } & Record<string, unknown>) | null;
  ab_test?: AbTest | null;
  holdout_pct: number;
}

export interface Campaign {
  id: string;
  name: string;
  status: string;
  definition: CampaignDoc;
  scheduled_at: string | null;
  started_at: string | null;
  test_ends_at: string | null;
  winner: { variant: number; message_id: string; reason: string; decided_at: string } | null;
  finished_at: string | null;
  error: string | null;
  updated_at: string;
  progress?: Record<string, number>;
}

export const STATUS_TONE: Record<string, string> = {
  draft: "neutral", scheduled: "info", sending: "ok", paused: "warn", sent: "ok", cancelled: "bad", failed: "bad",
};

/** The actions a status allows (the API refuses the others with 409). */
export function campaignActions(status: string): ("schedule" | "pause" | "resume" | "cancel")[] {
  switch (status) {
    case "draft": return ["schedule", "cancel"];
    case "scheduled": return ["cancel"];
    case "sending": return ["pause", "cancel"];
    case "paused": return ["resume", "cancel"];
    default: return [];
  }
}

export const VARIANT = (i: number) => String.fromCharCode(65 + i);
