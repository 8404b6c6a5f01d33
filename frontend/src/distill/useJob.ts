// Follow one distillation job live, the way useRun follows a run: replay its events, tail them
// over a WebSocket, and resume from the last seq after any disconnect (catching up over HTTP).
import { useCallback, useEffect, useRef, useState } from "react";
import { get } from "../api";
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
  const [events, setEvents] = useState<JobEvent[]>([]);
  const [connected, setConnected] = useState(false);
  const lastSeq = useRef(0);

  const refresh = useCallback(async () => {
    if (jobId) setJob(await get<DistillationJob>(`/api/distillations/${jobId}`));
  }, [jobId]);

  useEffect(() => {
    setJob(null);
    setEvents([]);
    lastSeq.current = 0;
    if (!jobId) return;
    let socket: WebSocket | null = null;
    let retry: number | undefined;
    let stopped = false;
    let failures = 0;

    // A training job sends an event per optimizer step: fold bursts into one refetch of the job
    // row (progress, losses, report) instead of one request per event.
    let refreshing = false;
    let refreshAgain = false;
    function refreshSoon() {
      if (refreshing) {
        refreshAgain = true;
        return;
      }
      refreshing = true;
      refresh().catch(() => undefined).finally(() => {
        refreshing = false;
        if (refreshAgain && !stopped) {
          refreshAgain = false;
          refreshSoon();
        }
      });
    }

    function accept(event: JobEvent) {
      // Exactly once, in order: a replay after reconnect may overlap what we already have.
      if (event.seq <= lastSeq.current) return;
      lastSeq.current = event.seq;
      setEvents((old) => [...old, event]);
      refreshSoon();
      if (finalEvents.has(event.type)) stopped = true;
    }

    async function catchUp() {
      const missed = await get<JobEvent[]>(`/api/distillations/${jobId}/events?after=${lastSeq.current}`);
      missed.forEach(accept);
    }

    function connect() {
      if (stopped) return;
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${window.location.host}/ws/distillations/${jobId}/?after=${lastSeq.current}`);
      socket.onopen = () => {
        failures = 0;
        setConnected(true);
      };
      socket.onmessage = (message) => accept(JSON.parse(message.data) as JobEvent);
      socket.onclose = () => {
        setConnected(false);
        if (stopped) return;
        failures += 1;
        const reconnect = () => {
          if (!stopped) retry = window.setTimeout(connect, Math.min(5000, 250 * 2 ** failures));
        };
        catchUp().then(reconnect, reconnect);
      };
    }

    // A page being left (or reloaded) closes its sockets: that is not a drop to recover from.
    const leave = () => {
      stopped = true;
    };
    window.addEventListener("pagehide", leave);
    void refresh()
      .then(() => connect())
      .catch(() => connect());
    return () => {
      window.removeEventListener("pagehide", leave);
      stopped = true;
      window.clearTimeout(retry);
      socket?.close();
    };
  }, [jobId, refresh]);

  return { job, events, connected, refresh };
}
