import { useEffect, useRef, useState } from "react";
import { api, ApiError } from "../../api";
import type { PathError, Preview, SegmentBody } from "./types";

export const PREVIEW_DEBOUNCE_MS = 450;

export interface PreviewState {
  preview: Preview | null;
  errors: PathError[];
  error: Error | null;
  busy: boolean;
  /** The moment of the last answer, so the UI can show it is live. */
  at: number | null;
}

/** Path errors carried by an API error (400 with `details`), else none. */
export function pathErrors(err: unknown): PathError[] {
  return err instanceof ApiError ? err.details.filter((d) => typeof d?.path === "string") : [];
}

/** Previews (and so validates) `body` after it has been still for a moment; stale answers are dropped. */
export function usePreview(body: SegmentBody | null, sample = 10): PreviewState {
  const [state, setState] = useState<PreviewState>({ preview: null, errors: [], error: null, busy: false, at: null });
  const seq = useRef(0);
  const key = body ? JSON.stringify(body) : "";
  useEffect(() => {
    if (!body) return;
    const mine = ++seq.current;
    const live = () => mine === seq.current;
    setState((s) => ({ ...s, busy: true })); // busy from the change on, so nobody reads a stale count
    const timer = window.setTimeout(async () => {
      try {
        // The preview checks the definition too: a 400 carries every problem with its path.
        const preview = await api.post<Preview>("/api/v1/segments/preview", { ...body, sample });
        if (live()) setState({ preview, errors: [], error: null, busy: false, at: Date.now() });
      } catch (err) {
        if (live()) setState({ preview: null, errors: pathErrors(err), error: err as Error, busy: false, at: Date.now() });
      }
    }, PREVIEW_DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, sample]);
  return state;
}
