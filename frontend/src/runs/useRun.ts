// Follow one run live: its events (see eventStream.ts; a reload starts from 0 and replays
// everything, so nothing is missed) folded over the stored run row.
import { useMemo } from "react";
import { useEventStream } from "../eventStream";
import { useFetched } from "../useFetched";
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
  const { value: run, refresh, refreshSoon } = useFetched<Run>(runId === null ? null : `/api/runs/${runId}`);
  const { events, connected } = useEventStream<RunEvent>({
    wsPath: runId === null ? null : `/ws/runs/${runId}/`,
    eventsPath: `/api/runs/${runId}/events`,
    isFinal: (event) => event.type.startsWith("run_") && terminal.has(event.type.slice(4)),
    onEvent: (event) => {
      if (event.type !== "token") refreshSoon();
    },
    start: refresh,
  });

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
