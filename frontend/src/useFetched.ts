// One object kept fresh while its events arrive (a run, a distillation job): every event asks for
// a refetch, so answers overlap. Bursts fold into one request in flight plus one after it, and an
// answer never replaces a newer one (an older "running, no outputs" over a shown "succeeded").
import { useCallback, useEffect, useRef, useState } from "react";
import { get } from "./api";

export interface Fetched<T> {
  value: T | null;
  refresh: () => Promise<void>; // fetch now (and wait for it)
  refreshSoon: () => void; // fetch once the request in flight is answered
}

export function useFetched<T>(path: string | null): Fetched<T> {
  const [value, setValue] = useState<T | null>(null);
  const currentPath = useRef(path);
  currentPath.current = path;
  const requested = useRef(0);
  const shown = useRef(0);

  useEffect(() => setValue(null), [path]);

  const refresh = useCallback(async () => {
    if (path === null) return;
    const request = ++requested.current;
    const fetched = await get<T>(path);
    if (currentPath.current !== path || request < shown.current) return;
    shown.current = request;
    setValue(fetched);
  }, [path]);

  const refreshing = useRef(false);
  const refreshAgain = useRef(false);
  const refreshSoon = useCallback(() => {
    if (refreshing.current) {
      refreshAgain.current = true;
      return;
    }
    refreshing.current = true;
    refresh()
      .catch(() => undefined)
      .finally(() => {
        refreshing.current = false;
        if (refreshAgain.current) {
          refreshAgain.current = false;
          refreshSoon();
        }
      });
  }, [refresh]);

  return { value, refresh, refreshSoon };
}
