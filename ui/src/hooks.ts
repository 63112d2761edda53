import { useCallback, useEffect, useRef, useState } from "react";

export interface Loaded<T> {
  data: T | null;
  error: Error | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change; `reload()` runs it again. Stale answers are dropped. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    load()
      .then((value) => live && (setData(value), setError(null)))
      .catch((err: Error) => live && setError(err))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** Calls `fn` every `ms` while `active` and the tab is visible, waiting for each call to
 * finish before the next (a slow server is never flooded). */
export function useInterval(fn: () => Promise<unknown> | void, ms: number, active = true): void {
  const saved = useRef(fn);
  saved.current = fn;
  useEffect(() => {
    if (!active) return;
    let timer: number | undefined;
    let live = true;
    const tick = async () => {
      try {
        if (!document.hidden) await saved.current();
      } finally {
        if (live) timer = window.setTimeout(tick, ms);
      }
    };
    timer = window.setTimeout(tick, ms);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [ms, active]);
}
