// What one node did in a run; for a node waiting for an answer (an approval, or one in a run it
// started), the approve/reject controls.
import { useState } from "react";
import { Link } from "react-router";
import { post } from "../api";
import type { ApiError, JsonValue, NodeRun, Run, RunEvent, RunWaiting } from "../types";
import { ErrorList, JsonView, StatusBadge, errorsFrom, formatCost, formatNumber, formatTime } from "../ui";
import { AgentTrajectory } from "./Trajectory";
import { RoutingDecisions } from "../routing/RoutingDecision";

export function Inspector({ run, nodeId, nodeType, node, streamed, events, onResumed }: {
  run: Run;
  nodeId: string;
  nodeType: string | undefined;
  node: Partial<NodeRun> | undefined;
  streamed: string | undefined;
  events: RunEvent[];
  onResumed: () => void;
}) {
  if (!node) return <p className="muted">This node has not run in this run.</p>;
  const agent = nodeType === "agent";
  const stoppedBy = node.fields?.stopped_by;
  return (
    <div className="inspector" data-testid="inspector">
      <dl className="facts">
        <dt>Status</dt><dd><StatusBadge status={node.status} /></dd>
        <dt>Attempts</dt><dd>{formatNumber(node.attempts)}</dd>
        <dt>Model</dt><dd>{node.model ?? "—"}</dd>
        <dt>Tokens</dt><dd>{formatNumber(node.tokens_in)} in · {formatNumber(node.tokens_out)} out</dd>
        <dt>Latency</dt><dd>{node.latency_ms === null || node.latency_ms === undefined ? "—" : `${Math.round(node.latency_ms)} ms`}</dd>
        <dt>Cost</dt><dd>{formatCost(node.cost)}</dd>
        <dt>Started</dt><dd>{formatTime(node.started_at)}</dd>
        <dt>Finished</dt><dd>{formatTime(node.finished_at)}</dd>
      </dl>
      {(nodeType === "llm" || agent) && <RoutingDecisions runId={run.id} nodeId={nodeId} finishedAt={node.finished_at} />}
      {node.status === "waiting" && run.status === "waiting" && run.waiting?.node_id === nodeId && (nodeType === "approval" || run.waiting.child_run) && (
        <ApprovalForm runId={run.id} nodeId={nodeId} waiting={run.waiting} onResumed={onResumed} />
      )}
      {agent && (
        <>
          <h4>Trajectory</h4>
          <AgentTrajectory events={events} nodeId={nodeId} node={node} />
          {stoppedBy && <p className="hint">Stopped by {stoppedBy}: the last turn answered without tools.</p>}
        </>
      )}
      {streamed && node.status === "running" && !agent && (
        <>
          <h4>Streaming</h4>
          <pre className="json streaming" data-testid="streamed">{streamed}</pre>
        </>
      )}
      {!agent && <><h4>Input</h4><JsonView value={node.input} /></>}
      <h4>{agent ? "Answer" : "Output"}</h4>
      <div data-testid="node-output"><JsonView value={node.output} /></div>
      {agent && (
        <details className="agent-input">
          <summary>Input (the first turn's messages)</summary>
          <JsonView value={node.input} />
        </details>
      )}
      {node.error !== null && node.error !== undefined && node.error !== "" && (
        <>
          <h4>Error</h4>
          <div className="error"><JsonView value={node.error} /></div>
        </>
      )}
    </div>
  );
}

/** Where an answer given here goes: the approval of the run a sub-workflow, a map item or a tool call started. */
function waitsIn(waiting: RunWaiting): string {
  if (waiting.item !== undefined) return `item ${waiting.item}'s run`;
  if (waiting.tool !== undefined) return `the run of tool ${waiting.tool} (step ${waiting.step ?? "?"})`;
  return "the sub-workflow's run";
}

function ApprovalForm({ runId, nodeId, waiting, onResumed }: { runId: string | number; nodeId: string; waiting: RunWaiting; onResumed: () => void }) {
  const [text, setText] = useState("");
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [busy, setBusy] = useState(false);

  async function answer(approved: boolean) {
    let value: JsonValue = text;
    try {
      value = text.trim() ? JSON.parse(text) : null;
    } catch {
      // Not JSON: send it as the plain text the person typed.
    }
    setBusy(true);
    setErrors([]);
    try {
      await post(`/api/runs/${runId}/resume`, { node_id: nodeId, value: { approved, value } });
      onResumed();
    } catch (error) {
      setErrors(errorsFrom(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="approval card" data-testid="approval-form">
      <h4>Waiting for approval</h4>
      {waiting.prompt && <p>{waiting.prompt}</p>}
      {waiting.child_run && (
        <p className="hint" data-testid="waits-in">
          Asked in {waitsIn(waiting)}, <Link to={`/runs/${waiting.child_run}`}>{String(waiting.child_run).slice(0, 8)}</Link> (node <code>{waiting.child_node}</code>); answered here or there, this run goes on.
        </p>
      )}
      <label>
        Value (text or JSON, optional)
        <textarea name="approval-value" rows={2} value={text} onChange={(e) => setText(e.target.value)} />
      </label>
      <ErrorList errors={errors} />
      <div className="button-row">
        <button className="primary" disabled={busy} onClick={() => void answer(true)}>Approve</button>
        <button className="danger" disabled={busy} onClick={() => void answer(false)}>Reject</button>
      </div>
    </div>
  );
}

export function RunTotals({ run }: { run: Run }) {
  const sum = (pick: (n: NodeRun) => number | string | null | undefined) => run.nodes.reduce((total, n) => total + Number(pick(n) ?? 0), 0);
  const tokensIn = run.tokens_in ?? sum((n) => n.tokens_in);
  const tokensOut = run.tokens_out ?? sum((n) => n.tokens_out);
  const cost = run.cost ?? sum((n) => n.cost);
  return (
    <dl className="facts run-totals" data-testid="run-totals" data-run={String(run.id)}>
      <dt>Status</dt><dd><StatusBadge status={run.status} /></dd>
      <dt>Tokens</dt><dd>{formatNumber(tokensIn)} in · {formatNumber(tokensOut)} out</dd>
      <dt>Cost</dt><dd>{formatCost(cost)}</dd>
      <dt>Started</dt><dd>{formatTime(run.started_at)}</dd>
      <dt>Finished</dt><dd>{formatTime(run.finished_at)}</dd>
    </dl>
  );
}

/** What a row of the log says besides the type: the tool of a tool event, the item of a map's item
 * event, marked when it failed. */
function eventDetail(type: string, data: unknown): string {
  if (!data || typeof data !== "object") return "";
  if ("item" in data && type.startsWith("item_")) return `item ${String(data.item)}${type === "item_failed" ? " ✗" : ""}`;
  if (!("tool" in data)) return "";
  const failed = type === "tool_result" && "error" in data && data.error !== undefined && data.error !== null;
  return `${String(data.tool)}${failed ? " ✗" : ""}`;
}

export function EventLog({ events }: { events: { seq: number; type: string; node_id: string | null; data: unknown }[] }) {
  // Consecutive token events collapse into one line; the log is for "what happened", not the text.
  const rows: { seq: number; type: string; node_id: string | null; count: number; detail: string }[] = [];
  for (const event of events) {
    const last = rows[rows.length - 1];
    if (event.type === "token" && last?.type === "token" && last.node_id === event.node_id) {
      last.count += 1;
      last.seq = event.seq;
    } else rows.push({ seq: event.seq, type: event.type, node_id: event.node_id, count: 1, detail: eventDetail(event.type, event.data) });
  }
  return (
    <ol className="event-log" data-testid="event-log" data-last-seq={events.length ? events[events.length - 1].seq : 0} data-count={events.length}>
      {rows.map((row) => (
        <li key={row.seq}>
          <span className="seq">#{row.seq}</span> <span className={`event-type event-${row.type}`}>{row.type}{row.count > 1 ? ` ×${row.count}` : ""}</span>
          {row.node_id && <code> {row.node_id}</code>}
          {row.detail && <span className="muted"> {row.detail}</span>}
        </li>
      ))}
    </ol>
  );
}
