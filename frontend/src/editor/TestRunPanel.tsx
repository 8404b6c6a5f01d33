// Test-run the draft: a form from the input node's fields, then the run's live state.
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import type { ApiError, GraphNode, InputField, JsonObject } from "../types";
import type { LiveRun } from "../runs/useRun";
import { EventLog, RunTotals } from "../runs/Inspector";
import { AgentTrajectory } from "../runs/Trajectory";
import { ErrorList, JsonView, StatusBadge } from "../ui";
import { InputValues, inputFieldsOf, parseInputs, textOf } from "./InputValues";

const initialText = (field: InputField) => textOf(field.default);

export function TestRunPanel({ inputNode, agentNodes, live, onStart, starting, errors }: {
  inputNode: GraphNode | undefined;
  agentNodes: GraphNode[]; // their trajectories show here, live
  live: LiveRun;
  onStart: (inputs: JsonObject) => void;
  starting: boolean;
  errors: ApiError[];
}) {
  const fields = inputFieldsOf(inputNode);
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(fields.map((f) => [f.name, initialText(f)])));
  const [formErrors, setFormErrors] = useState<ApiError[]>([]);

  function submit(event: FormEvent) {
    event.preventDefault();
    const texts = Object.fromEntries(fields.map((f) => [f.name, values[f.name] ?? initialText(f)]));
    const { inputs, errors: invalid } = parseInputs(fields, texts);
    setFormErrors(invalid);
    if (!invalid.length) onStart(inputs);
  }

  return (
    <div className="test-run" data-testid="test-run">
      <form onSubmit={submit}>
        <h2>Test run</h2>
        {!inputNode && <p className="muted">Add an Input node to give the run its inputs.</p>}
        <InputValues fields={fields} texts={values} onChange={setValues} errors={formErrors} namePrefix="input" />
        <ErrorList errors={errors} />
        <button className="primary" type="submit" disabled={starting}>{starting ? "Starting…" : "Run draft"}</button>
      </form>
      {live.run && (
        <div className="run-summary" data-testid="run-summary" data-run-status={live.run.status}>
          <h3><Link to={`/runs/${live.run.id}`}>Run {String(live.run.id).slice(0, 8)}</Link> {live.connected && <span className="live-dot" title="live">●</span>}</h3>
          <RunTotals run={live.run} />
          {live.run.outputs !== null && live.run.outputs !== undefined && (
            <>
              <h4>Outputs</h4>
              <div data-testid="run-outputs"><JsonView value={live.run.outputs} /></div>
            </>
          )}
          {live.run.error !== null && live.run.error !== undefined && live.run.error !== "" && (
            <>
              <h4>Error</h4>
              <div className="error"><JsonView value={live.run.error} /></div>
            </>
          )}
          {agentNodes.filter((n) => live.runNodes.has(n.id)).map((n) => (
            <details key={n.id} className="agent-run" open data-testid="agent-run" data-node-id={n.id}>
              <summary><b>{n.name || n.id}</b> <StatusBadge status={live.runNodes.get(n.id)?.status} /></summary>
              <AgentTrajectory events={live.events} nodeId={n.id} node={live.runNodes.get(n.id)} />
            </details>
          ))}
          <p className="hint">Click a node on the canvas to inspect what it did.</p>
          <h4>Events</h4>
          <EventLog events={live.events} />
        </div>
      )}
    </div>
  );
}
