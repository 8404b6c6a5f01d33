// Follow one run live: replay its events, then tail them over a WebSocket, resuming from the last
// seq after any disconnect (a reload starts from 0 and replays everything, so nothing is missed).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { get } from "../api";
import type { NodeRun, NodeStatus, Run, RunEvent } from "../types";

const terminal = new Set(["succeeded", "failed", "cancelled"]);

const nodeStatusByEvent: Record<string, NodeStatus> = {
  node_started: "running",
  node_retrying: "running",
  node_succeeded: "succeeded",
  node_failed: "failed",
  node_skipped: "skipped",
  node_waiting: "waiting",
};

export interface LiveRun {
  run: Run | null;
  events: RunEvent[];
  runNodes: Map<string, Partial<NodeRun>>;
  streamed: Map<string, string>;
  connected: boolean;
  refresh: () => Promise<void>;
}

export function useRun(runId: string | number | null): LiveRun {
  const [run, setRun] = useState<Run | null>(null);
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [connected, setConnected] = useState(false);
  const lastSeq = useRef(0);

  const refresh = useCallback(async () => {
    if (runId === null) return;
    setRun(await get<Run>(`/api/runs/${runId}`));
  }, [runId]);

  useEffect(() => {
    setRun(null);
    setEvents([]);
    lastSeq.current = 0;
    if (runId === null) return;
    let socket: WebSocket | null = null;
    let retry: number | undefined;
    let stopped = false;
    let failures = 0;

    function accept(event: RunEvent) {
      // Exactly once, in order: a replay after reconnect may overlap what we already have.
      if (event.seq <= lastSeq.current) return;
      lastSeq.current = event.seq;
      setEvents((old) => [...old, event]);
      if (event.type !== "token") void refresh().catch(() => undefined);
      if (event.type.startsWith("run_") && terminal.has(event.type.slice(4))) stopped = true;
    }

    // Over plain HTTP, fetch whatever the socket missed; keeps the page current even if
    // WebSockets are blocked somewhere between the browser and the server.
    async function catchUp() {
      const missed = await get<RunEvent[]>(`/api/runs/${runId}/events?after=${lastSeq.current}`);
      missed.forEach(accept);
    }

    function connect() {
      if (stopped) return;
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${window.location.host}/ws/runs/${runId}/?after=${lastSeq.current}`);
      socket.onopen = () => {
        failures = 0;
        setConnected(true);
      };
      socket.onmessage = (message) => accept(JSON.parse(message.data) as RunEvent);
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
  }, [runId, refresh]);

  const { runNodes, streamed } = useMemo(() => {
    const runNodes = new Map<string, Partial<NodeRun>>();
    for (const node of run?.nodes ?? []) runNodes.set(node.node_id, node);
    const streamed = new Map<string, string>();
    // Events are newer than the last fetched run row, so they win for status.
    for (const event of events) {
      if (!event.node_id) continue;
      const status = nodeStatusByEvent[event.type];
      if (status) runNodes.set(event.node_id, { ...runNodes.get(event.node_id), node_id: event.node_id, status });
      if (event.type === "token") streamed.set(event.node_id, (streamed.get(event.node_id) ?? "") + String(event.data?.text ?? ""));
    }
    // A finished run's stored rows are final; prefer them over replayed history.
    if (run && terminal.has(run.status)) for (const node of run.nodes) runNodes.set(node.node_id, node);
    return { runNodes, streamed };
  }, [run, events]);

  return { run, events, runNodes, streamed, connected, refresh };
}
