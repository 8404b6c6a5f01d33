// An agent node's trajectory (its model turns and tool calls), folded from the node's run events
// while it runs and completed from its stored steps once it has finished.
import type { AgentStep, AgentTurnData, JsonObject, JsonValue, NodeRun, RunEvent, ToolCalledData, ToolResultData } from "../types";

/** pending: asked for, not started yet; not_run: the node ended without running it. */
export type CallStatus = "pending" | "running" | "ok" | "error" | "not_run";

export interface TrajectoryCall {
  key: string; // the call key: the turn's key + "#t<index>"
  id: string | null;
  name: string;
  kind: string | null;
  arguments: string; // JSON text, as the model wrote it
  status: CallStatus;
  result?: JsonValue;
  error?: string;
  latencyMs: number | null;
}

export interface TrajectoryTurn {
  key: string;
  attempt: number;
  final: boolean; // a turn offered no tools: the budget's last turn, or a JSON retry
  answer: boolean; // the turn whose reply became the node's answer
  model: string;
  text: string;
  tokensIn: number | null;
  tokensOut: number | null;
  cost: number | null;
  latencyMs: number | null;
  calls: TrajectoryCall[];
}

export interface Trajectory {
  turns: TrajectoryTurn[];
  attempt: number; // the latest attempt
  thinking: string | null; // what the model turn in flight has streamed so far; null: none in flight
}

export const EMPTY_TRAJECTORY: Trajectory = { turns: [], attempt: 1, thinking: null };

const asObject = (value: JsonValue | undefined): JsonObject =>
  value && typeof value === "object" && !Array.isArray(value) ? value : {};
const numberOr = (value: unknown): number | null => (typeof value === "number" ? value : null);

function attemptOf(key: string): number {
  return Number(key.match(/#a(\d+)(?:#|$)/)?.[1] ?? 1);
}

/** The turn a call key belongs to: "agent#a1#s2#t0" -> "agent#a1#s2". */
function turnKeyOf(callKey: string): string {
  return callKey.replace(/#t\d+$/, "");
}

function outcomeOf(source: { result?: JsonValue; error?: JsonValue }): Pick<TrajectoryCall, "status" | "result" | "error"> {
  if (source.error !== undefined && source.error !== null) return { status: "error", error: String(source.error) };
  return { status: "ok", result: source.result ?? null };
}

function turnFromEvent(data: AgentTurnData): TrajectoryTurn {
  const calls = (Array.isArray(data.tool_calls) ? data.tool_calls : []).map((call, index): TrajectoryCall => ({
    key: `${data.key}#t${index}`,
    id: call?.id ?? null,
    name: String(call?.function?.name ?? "?"),
    kind: null,
    arguments: String(call?.function?.arguments ?? ""),
    status: "pending",
    latencyMs: null,
  }));
  return {
    key: String(data.key ?? ""), attempt: attemptOf(String(data.key ?? "")), final: data.final === true, answer: false,
    model: String(data.model ?? ""), text: String(data.text ?? ""), tokensIn: numberOr(data.tokens_in),
    tokensOut: numberOr(data.tokens_out), cost: numberOr(data.cost), latencyMs: numberOr(data.latency_ms), calls,
  };
}

function turnFromStep(step: AgentStep, attempt: number, index: number): TrajectoryTurn {
  const key = `step:${attempt}:${index}`;
  return {
    key, attempt, final: step.final === true, answer: false, model: String(step.model ?? ""), text: String(step.text ?? ""),
    tokensIn: numberOr(step.tokens_in), tokensOut: numberOr(step.tokens_out), cost: numberOr(step.cost),
    latencyMs: numberOr(step.latency_ms),
    calls: (Array.isArray(step.tool_calls) ? step.tool_calls : []).map((call, i) => ({
      key: `${key}#t${i}`, id: call?.id ?? null, name: String(call?.name ?? "?"), kind: null,
      arguments: String(call?.arguments ?? ""), latencyMs: null, ...outcomeOf(call ?? {}),
    })),
  };
}

/** The steps stored with a finished agent node, wherever the API puts them. */
export function storedSteps(node: Partial<NodeRun> | undefined): AgentStep[] | null {
  const steps = node?.fields?.steps;
  return Array.isArray(steps) ? (steps as AgentStep[]) : null;
}

/** Fold one node's events (in seq order) into its trajectory; `node` is its stored row, if any. */
export function foldTrajectory(events: RunEvent[], node: Partial<NodeRun> | undefined): Trajectory {
  const turns = new Map<string, TrajectoryTurn>();
  const calls = new Map<string, TrajectoryCall>();
  let attempt = 1;
  let thinking: string | null = null;
  let running = false;
  let succeeded = node?.status === "succeeded";
  const allSettled = (turn: TrajectoryTurn | undefined) => !!turn && turn.calls.every((c) => c.status === "ok" || c.status === "error");

  for (const event of events) {
    const data = asObject(event.data as JsonValue);
    switch (event.type) {
      case "node_started":
        attempt = typeof data.attempt === "number" ? data.attempt : attempt;
        running = true;
        succeeded = false;
        thinking = "";
        break;
      case "token":
        if (running) thinking = (thinking ?? "") + String(data.text ?? "");
        break;
      case "agent_turn": {
        const turn = turnFromEvent(data as unknown as AgentTurnData);
        // A turn replayed after a crash repeats its key: keep what its calls already did.
        const old = turns.get(turn.key);
        turn.calls = turn.calls.map((call) => calls.get(call.key) ?? old?.calls.find((c) => c.key === call.key) ?? call);
        turns.set(turn.key, turn);
        for (const call of turn.calls) calls.set(call.key, call);
        thinking = turn.calls.length ? null : "";
        break;
      }
      case "tool_called":
      case "tool_result": {
        const info = data as unknown as ToolCalledData & ToolResultData;
        const key = String(info.call_key ?? "");
        let call = calls.get(key);
        if (!call) {
          // A call whose turn we have not seen: keep it under a turn of its own key.
          const turnKey = turnKeyOf(key);
          const turn = turns.get(turnKey) ?? { ...turnFromEvent({ key: turnKey } as AgentTurnData), model: "" };
          call = { key, id: null, name: String(info.tool ?? "?"), kind: null, arguments: "", status: "pending", latencyMs: null };
          turn.calls.push(call);
          turns.set(turnKey, turn);
          calls.set(key, call);
        }
        call.name = String(info.tool ?? call.name);
        call.kind = typeof info.kind === "string" ? info.kind : call.kind;
        if (event.type === "tool_called") {
          if (typeof info.arguments === "string") call.arguments = info.arguments;
          if (call.status === "pending") call.status = "running";
        } else {
          Object.assign(call, outcomeOf(info), { latencyMs: numberOr(info.latency_ms) });
          if (running && allSettled(turns.get(turnKeyOf(key)))) thinking = "";
        }
        break;
      }
      case "node_succeeded":
        succeeded = true;
        running = false;
        thinking = null;
        break;
      case "node_failed":
      case "node_skipped":
      case "node_waiting":
      case "node_retrying":
        running = false;
        thinking = null;
        break;
    }
  }

  let list = [...turns.values()];
  const steps = storedSteps(node);
  if (steps && !running) list = withSteps(list, steps, attempt);
  if (!running) for (const turn of list) for (const call of turn.calls) if (call.status === "pending" || call.status === "running") call.status = "not_run";
  const last = list.filter((t) => t.attempt === attempt).at(-1);
  if (last && succeeded && !running) last.answer = true;
  return { turns: list, attempt, thinking: running ? thinking : null };
}

/** Complete the latest attempt's turns from the stored steps (e.g. results of calls replayed from records). */
function withSteps(turns: TrajectoryTurn[], steps: AgentStep[], attempt: number): TrajectoryTurn[] {
  const earlier = turns.filter((t) => t.attempt !== attempt);
  const latest = turns.filter((t) => t.attempt === attempt);
  const merged = steps.map((step, index) => {
    const stored = turnFromStep(step, attempt, index);
    const seen = latest[index];
    if (!seen) return stored;
    const calls = stored.calls.map((call, i) => {
      const live = seen.calls[i];
      if (!live) return call;
      const settled = live.status === "ok" || live.status === "error";
      return settled ? live : { ...live, ...call, key: live.key, kind: live.kind, latencyMs: live.latencyMs };
    });
    return { ...seen, calls: [...calls, ...seen.calls.slice(calls.length)] };
  });
  return [...earlier, ...merged, ...latest.slice(steps.length)];
}

export interface TrajectoryTotals {
  turns: number;
  calls: number;
  failedCalls: number;
  tokensIn: number;
  tokensOut: number;
}

export function totalsOf(trajectory: Trajectory): TrajectoryTotals {
  const turns = trajectory.turns.filter((t) => t.attempt === trajectory.attempt);
  const calls = turns.flatMap((t) => t.calls);
  return {
    turns: turns.length,
    calls: calls.length,
    failedCalls: calls.filter((c) => c.status === "error").length,
    tokensIn: turns.reduce((sum, t) => sum + (t.tokensIn ?? 0), 0),
    tokensOut: turns.reduce((sum, t) => sum + (t.tokensOut ?? 0), 0),
  };
}
