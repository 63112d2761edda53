// Pure display helpers.

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
});
const number = new Intl.NumberFormat();
const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

export function fmtDate(value: string | null | undefined): string {
  if (!value) return "—";
  const d = parse(value);
  return Number.isNaN(d.getTime()) ? value : dateTime.format(d);
}

const shortThisYear = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const shortOtherYear = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const dayOnly = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });

function parse(value: string): Date {
  return new Date(value.endsWith("Z") || /[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`);
}

/** Compact date for table cells: time within this year, the year otherwise. */
export function fmtShort(value: string | null | undefined): string {
  if (!value) return "—";
  const d = parse(value);
  if (Number.isNaN(d.getTime())) return value;
  return d.getFullYear() === new Date().getFullYear() ? shortThisYear.format(d) : shortOtherYear.format(d);
}

export function fmtDay(value: string | null | undefined): string {
  if (!value) return "—";
  const d = parse(value);
  return Number.isNaN(d.getTime()) ? value : dayOnly.format(d);
}

export function fmtNumber(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  return typeof value === "number" ? number.format(value) : String(value);
}

export function fmtMoney(value: unknown, currency?: string | null): string {
  if (typeof value !== "number") return fmtNumber(value);
  if (!currency) return money.format(value);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(value);
  } catch {
    return `${number.format(value)} ${currency}`;
  }
}

/** A short, readable rendering of any JSON value. */
export function fmtValue(value: unknown): string {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

/** `first_name` / `firstName` → "First name". */
export function humanize(key: string): string {
  const s = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ").toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function clockTime(d: Date): string {
  return d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}
