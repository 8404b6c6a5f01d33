// An agent node's trajectory, step by step and live: each model turn (model, text, tokens, cost,
// latency) and under it each tool call (arguments, result or error, latency; running while in flight).
import { useMemo } from "react";
import type { NodeRun, RunEvent } from "../types";
import { ClippedText, formatCost, formatMs, formatNumber, prettyJson } from "../ui";
import { foldTrajectory, totalsOf, type CallStatus, type TrajectoryCall, type TrajectoryTurn } from "./trajectory";

const OPEN_TURNS = 4; // in a long trajectory, earlier turns start folded

const callStatusLabel: Record<CallStatus, string> = {
  pending: "queued", running: "running", ok: "ok", error: "error", not_run: "not run",
};

export function AgentTrajectory({ events, nodeId, node }: { events: RunEvent[]; nodeId: string; node: Partial<NodeRun> | undefined }) {
  const trajectory = useMemo(() => foldTrajectory(events.filter((e) => e.node_id === nodeId), node), [events, nodeId, node]);
  const totals = totalsOf(trajectory);
  const earlier = trajectory.turns.filter((t) => t.attempt !== trajectory.attempt);
  const latest = trajectory.turns.filter((t) => t.attempt === trajectory.attempt);
  if (!trajectory.turns.length && trajectory.thinking === null) return <p className="muted">No model turn yet.</p>;
  return (
    <section className="trajectory" data-testid="trajectory" data-turns={totals.turns} data-calls={totals.calls}>
      <p className="trajectory-totals">
        {totals.turns} turn{totals.turns === 1 ? "" : "s"} · {totals.calls} tool call{totals.calls === 1 ? "" : "s"}
        {totals.failedCalls > 0 && <span className="error"> ({totals.failedCalls} failed)</span>}
        {" · "}{formatNumber(totals.tokensIn)} in · {formatNumber(totals.tokensOut)} out
      </p>
      {earlier.length > 0 && (
        <details className="earlier-attempts">
          <summary>Earlier attempts ({earlier.length} turn{earlier.length === 1 ? "" : "s"})</summary>
          <ol className="turns">{earlier.map((turn, i) => <TurnCard key={turn.key} turn={turn} index={i} open={false} />)}</ol>
        </details>
      )}
      <ol className="turns">
        {latest.map((turn, i) => <TurnCard key={turn.key} turn={turn} index={i} open={i >= latest.length - OPEN_TURNS} />)}
        {trajectory.thinking !== null && (
          <li className="turn turn-thinking" data-testid="turn-in-flight">
            <div className="turn-head"><span className="turn-label">Step {latest.length + 1}</span> <span className="badge status-running">model answering…</span></div>
            {trajectory.thinking && <pre className="json streaming">{trajectory.thinking}</pre>}
          </li>
        )}
      </ol>
    </section>
  );
}

function TurnCard({ turn, index, open }: { turn: TrajectoryTurn; index: number; open: boolean }) {
  return (
    <li className={`turn ${turn.answer ? "turn-answer" : ""}`} data-testid="agent-turn" data-final={turn.final ? "true" : "false"} data-answer={turn.answer ? "true" : "false"}>
      <details open={open}>
        <summary className="turn-head">
          <span className="turn-label">{turn.answer ? "Answer" : turn.final ? "Last turn" : `Step ${index + 1}`}</span>
          {turn.model && <code>{turn.model}</code>}
          <span className="muted turn-usage">
            {formatNumber(turn.tokensIn)}→{formatNumber(turn.tokensOut)} tok · {formatCost(turn.cost)} · {formatMs(turn.latencyMs)}
          </span>
          {!open && turn.calls.length > 0 && <span className="muted">· {turn.calls.map((c) => c.name).join(", ")}</span>}
        </summary>
        {turn.text.trim() ? <ClippedText text={turn.text} limit={500} className="turn-text" /> : turn.calls.length === 0 && <p className="muted">No text.</p>}
        {turn.calls.map((call) => <ToolCallCard key={call.key} call={call} />)}
      </details>
    </li>
  );
}

function ToolCallCard({ call }: { call: TrajectoryCall }) {
  return (
    <div className={`tool-call call-${call.status}`} data-testid="tool-call" data-tool={call.name} data-status={call.status}>
      <div className="tool-call-head">
        <span className="tool-icon" aria-hidden>⚙</span>
        <b>{call.name}</b>
        {call.kind && <span className="badge">{call.kind}</span>}
        <span className={`badge call-badge-${call.status}`}>{callStatusLabel[call.status]}</span>
        <span className="spacer" />
        <span className="muted">{formatMs(call.latencyMs)}</span>
      </div>
      <div className="call-part-label">Arguments</div>
      <ClippedText text={call.arguments ? prettyJson(call.arguments) : "{}"} limit={400} />
      {call.status === "ok" && (
        <>
          <div className="call-part-label">Result</div>
          <div data-testid="tool-result"><ClippedText text={prettyJson(call.result)} limit={400} /></div>
        </>
      )}
      {call.status === "error" && (
        <>
          <div className="call-part-label">Error</div>
          <div data-testid="tool-error"><ClippedText text={call.error ?? ""} limit={400} className="error-text" /></div>
        </>
      )}
    </div>
  );
}
