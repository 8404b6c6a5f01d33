// Test-run the draft: a form from the input node's fields, then the run's live state.
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import type { ApiError, GraphNode, JsonObject, JsonValue } from "../types";
import type { LiveRun } from "../runs/useRun";
import { EventLog, RunTotals } from "../runs/Inspector";
import { AgentTrajectory } from "../runs/Trajectory";
import { ErrorList, JsonView, StatusBadge } from "../ui";

interface InputField {
  name: string;
  type?: string;
  required?: boolean;
  default?: JsonValue;
  description?: string;
}

function initialText(field: InputField): string {
  if (field.default === undefined || field.default === null) return "";
  return typeof field.default === "string" ? field.default : JSON.stringify(field.default);
}

function parseField(field: InputField, text: string): JsonValue | undefined {
  if (text === "") return undefined;
  switch (field.type) {
    case "number":
    case "integer":
      return Number(text);
    case "boolean":
      return text === "true";
    case "object":
    case "array":
      return JSON.parse(text);
    default:
      return text;
  }
}

export function TestRunPanel({ inputNode, agentNodes, live, onStart, starting, errors }: {
  inputNode: GraphNode | undefined;
  agentNodes: GraphNode[]; // their trajectories show here, live
  live: LiveRun;
  onStart: (inputs: JsonObject) => void;
  starting: boolean;
  errors: ApiError[];
}) {
  const fields = ((inputNode?.config.fields as unknown as InputField[] | undefined) ?? []).filter((f) => f?.name);
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(fields.map((f) => [f.name, initialText(f)])));
  const [formError, setFormError] = useState("");

  function submit(event: FormEvent) {
    event.preventDefault();
    const inputs: JsonObject = {};
    try {
      for (const field of fields) {
        const value = parseField(field, values[field.name] ?? initialText(field));
        if (value !== undefined) inputs[field.name] = value;
      }
    } catch (error) {
      setFormError(`Not valid JSON: ${(error as Error).message}`);
      return;
    }
    setFormError("");
    onStart(inputs);
  }

  return (
    <div className="test-run" data-testid="test-run">
      <form onSubmit={submit}>
        <h2>Test run</h2>
        {!inputNode && <p className="muted">Add an Input node to give the run its inputs.</p>}
        {fields.map((field) => (
          <div className="field" key={field.name}>
            <label className="field-label">{field.name}{field.required && <span className="required">*</span>} <span className="muted">{field.type ?? "string"}</span></label>
            {field.type === "boolean" ? (
              <input type="checkbox" name={`input.${field.name}`} checked={values[field.name] === "true"} onChange={(e) => setValues({ ...values, [field.name]: String(e.target.checked) })} />
            ) : field.type === "object" || field.type === "array" ? (
              <textarea className="mono" name={`input.${field.name}`} rows={3} value={values[field.name] ?? ""} onChange={(e) => setValues({ ...values, [field.name]: e.target.value })} />
            ) : (
              <input name={`input.${field.name}`} type={field.type === "number" || field.type === "integer" ? "number" : "text"} value={values[field.name] ?? ""} onChange={(e) => setValues({ ...values, [field.name]: e.target.value })} />
            )}
          </div>
        ))}
        {formError && <p className="field-error">{formError}</p>}
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
