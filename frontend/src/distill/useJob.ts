// Follow one distillation job live: its events (see eventStream.ts) and the job row they update.
import { useCallback, useEffect, useRef, useState } from "react";
import { get } from "../api";
import { useEventStream } from "../eventStream";
import type { DistillationJob, JobEvent } from "../types";

const finalEvents = new Set(["job_succeeded", "job_failed", "job_cancelled"]);

export interface LiveJob {
  job: DistillationJob | null;
  events: JobEvent[];
  connected: boolean;
  refresh: () => Promise<void>;
}

export function useJob(jobId: string | undefined): LiveJob {
  const [job, setJob] = useState<DistillationJob | null>(null);

  const refresh = useCallback(async () => {
    if (jobId) setJob(await get<DistillationJob>(`/api/distillations/${jobId}`));
  }, [jobId]);

  // A training job sends an event per optimizer step: fold bursts into one refetch of the job
  // row (progress, losses, report) instead of one request per event.
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

  useEffect(() => setJob(null), [jobId]);
  const { events, connected } = useEventStream<JobEvent>({
    wsPath: jobId ? `/ws/distillations/${jobId}/` : null,
    eventsPath: `/api/distillations/${jobId}/events`,
    isFinal: (event) => finalEvents.has(event.type),
    onEvent: refreshSoon,
    start: refresh,
  });

  return { job, events, connected, refresh };
}
