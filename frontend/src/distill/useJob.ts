// Follow one distillation job live: its events (see eventStream.ts) and the job row they update.
import { useEventStream } from "../eventStream";
import { useFetched } from "../useFetched";
import type { DistillationJob, JobEvent } from "../types";

const finalEvents = new Set(["job_succeeded", "job_failed", "job_cancelled"]);

export interface LiveJob {
  job: DistillationJob | null;
  events: JobEvent[];
  connected: boolean;
  refresh: () => Promise<void>;
}

export function useJob(jobId: string | undefined): LiveJob {
  // A training job sends an event per optimizer step: bursts fold into one refetch of the job row.
  const { value: job, refresh, refreshSoon } = useFetched<DistillationJob>(jobId ? `/api/distillations/${jobId}` : null);
  const { events, connected } = useEventStream<JobEvent>({
    wsPath: jobId ? `/ws/distillations/${jobId}/` : null,
    eventsPath: `/api/distillations/${jobId}/events`,
    isFinal: (event) => finalEvents.has(event.type),
    onEvent: refreshSoon,
    start: refresh,
  });

  return { job, events, connected, refresh };
}
