// Node positions are not part of the journey document (the API forbids extra keys), so the
// canvas keeps them in this browser's localStorage per journey; a journey with no stored
// layout (another browser, made by the API) is laid out top-down from its graph.
import type { Point } from "./model";

const key = (journeyId: string) => `retenta.journey-layout.${journeyId}`;

export function loadLayout(journeyId: string): Record<string, Point> | null {
  try {
    const raw = window.localStorage.getItem(key(journeyId));
    return raw ? (JSON.parse(raw) as Record<string, Point>) : null;
  } catch {
    return null;
  }
}

export function saveLayout(journeyId: string, positions: Record<string, Point>): void {
  try {
    window.localStorage.setItem(key(journeyId), JSON.stringify(positions));
  } catch {
    // a full or disabled storage only loses the layout, never the journey
  }
}
