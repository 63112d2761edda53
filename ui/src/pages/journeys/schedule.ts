// Cron presets for the schedule trigger ("every Monday at 9:00") and a plain-words reading of
// a cron line. Pure. Cron weekdays count 0 = Sunday … 6 = Saturday (1-5 = weekdays).

export type Repeat = "daily" | "weekdays" | "weekly" | "monthly" | "custom";
export interface Preset { repeat: Repeat; time: string; weekday: number; day: number }

export const CRON_WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** Ready-made lines shown as one-click choices. */
export const CRON_PRESETS: { label: string; cron: string }[] = [
  { label: "Every day at 9:00", cron: "0 9 * * *" },
  { label: "Every Monday at 9:00", cron: "0 9 * * 1" },
  { label: "Weekdays at 10:00", cron: "0 10 * * 1-5" },
  { label: "Every Friday at 17:00", cron: "0 17 * * 5" },
  { label: "The 1st of each month at 9:00", cron: "0 9 1 * *" },
];

function hm(time: string): [number, number] {
  const [h, m] = time.split(":").map(Number);
  return [Number.isFinite(h) ? h! : 9, Number.isFinite(m) ? m! : 0];
}

/** The cron line of a preset.
 * >>> cronOf({repeat: "weekly", time: "09:00", weekday: 1, day: 1}) → "0 9 * * 1" */
export function cronOf(p: Preset): string {
  const [h, m] = hm(p.time);
  switch (p.repeat) {
    case "daily": return `${m} ${h} * * *`;
    case "weekdays": return `${m} ${h} * * 1-5`;
    case "weekly": return `${m} ${h} * * ${p.weekday}`;
    case "monthly": return `${m} ${h} ${p.day} * *`;
    case "custom": return "";
  }
}

const NUM = /^\d{1,2}$/;

/** The preset a cron line is, or `custom` (time and weekday still best-effort).
 * >>> presetOf("30 8 * * 1-5") → {repeat: "weekdays", time: "08:30", weekday: 1, day: 1} */
export function presetOf(cron: string): Preset {
  const parts = cron.trim().split(/\s+/);
  const fallback: Preset = { repeat: "custom", time: "09:00", weekday: 1, day: 1 };
  if (parts.length !== 5) return fallback;
  const [m, h, dom, mon, dow] = parts as [string, string, string, string, string];
  if (!NUM.test(m) || !NUM.test(h) || mon !== "*") return fallback;
  const time = `${h.padStart(2, "0")}:${m.padStart(2, "0")}`;
  if (dom === "*" && dow === "*") return { repeat: "daily", time, weekday: 1, day: 1 };
  if (dom === "*" && dow === "1-5") return { repeat: "weekdays", time, weekday: 1, day: 1 };
  if (dom === "*" && /^[0-6]$/.test(dow)) return { repeat: "weekly", time, weekday: Number(dow), day: 1 };
  if (NUM.test(dom) && dow === "*") return { repeat: "monthly", time, weekday: 1, day: Number(dom) };
  return { ...fallback, time };
}

/** The cron line in words, for the entry node on the canvas.
 * >>> describeCron("0 9 * * 1") → "every Monday at 9:00" */
export function describeCron(cron: string): string {
  const p = presetOf(cron);
  const [h, m] = hm(p.time);
  const at = `${h}:${String(m).padStart(2, "0")}`;
  switch (p.repeat) {
    case "daily": return `every day at ${at}`;
    case "weekdays": return `weekdays at ${at}`;
    case "weekly": return `every ${CRON_WEEKDAYS[p.weekday]} at ${at}`;
    case "monthly": return `day ${p.day} of each month at ${at}`;
    case "custom": return cron.trim() ? `cron ${cron.trim()}` : "no schedule";
  }
}
