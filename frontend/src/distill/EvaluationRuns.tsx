// Task success end to end: a succeeded agent job's student (and its teacher, or the untrained base)
// drives the workflow on held-out cases in evaluation runs; per model, how many finished and succeeded.
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { get, post } from "../api";
import type { components } from "../api/schema";
import type { ApiError } from "../types";
import { ErrorList, StatusBadge, errorsFrom } from "../ui";

type Evaluation = components["schemas"]["EvaluationOut"];
type Model = components["schemas"]["EvaluatedModelEnum"];

const MODELS: Model[] = ["student", "teacher", "untrained"];
const POLL_MS = 2000;

function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(0)}%`;
}

export function EvaluationRuns({ jobId }: { jobId: string }) {
  const [evaluation, setEvaluation] = useState<Evaluation | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [busy, setBusy] = useState(false);
  const [cases, setCases] = useState(20);
  const [models, setModels] = useState<Model[]>(["student", "teacher"]);
  const path = `/api/distillations/${jobId}/evaluation-runs`;

  const load = useCallback(() => get<Evaluation>(path).then(setEvaluation, (e) => setErrors(errorsFrom(e))), [path]);
  useEffect(() => void load(), [load]);
  // Follow runs that are still going; stop once every one has finished.
  const running = evaluation?.models.some((m) => m.finished < m.started) ?? false;
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => void load(), POLL_MS);
    return () => clearInterval(timer);
  }, [running, load]);

  async function start() {
    setBusy(true);
    setErrors([]);
    try {
      setEvaluation(await post<Evaluation>(path, { cases, models }));
    } catch (error) {
      setErrors(errorsFrom(error));
    } finally {
      setBusy(false);
    }
  }

  const toggle = (model: Model) => setModels((old) => (old.includes(model) ? old.filter((m) => m !== model) : [...old, model]));
  return (
    <section className="card" data-testid="evaluation-runs">
      <h2>Task success (evaluation runs)</h2>
      <p className="muted">
        Each model drives the agent end to end on held-out cases, calling its tools for real (only tools marked safe
        to call in evaluation runs). These runs are marked <code>evaluation</code> and never count as production traces.
      </p>
      <div className="button-row">
        <label>Cases <input type="number" min={1} max={200} value={cases} onChange={(e) => setCases(Number(e.target.value))} /></label>
        {MODELS.map((model) => (
          <label key={model}><input type="checkbox" checked={models.includes(model)} onChange={() => toggle(model)} /> {model}</label>
        ))}
        <button className="primary" disabled={busy || models.length === 0} onClick={() => void start()}>Start evaluation runs</button>
      </div>
      <ErrorList errors={errors} />
      {evaluation && evaluation.models.length > 0 && (
        <>
          <table className="table metrics" data-testid="evaluation-models">
            <thead>
              <tr><th>Model</th><th>Started</th><th>Finished</th><th>Succeeded</th><th>Task success</th><th>95% interval</th></tr>
            </thead>
            <tbody>
              {evaluation.models.map((m) => (
                <tr key={m.model} data-model={m.model}>
                  <td>{m.model} <span className="muted">{m.endpoints.join(", ")}</span></td>
                  <td>{m.started}</td>
                  <td>{m.finished}</td>
                  <td>{m.task_success.count}</td>
                  <td><b>{percent(m.task_success.rate)}</b></td>
                  <td>{m.task_success.interval ? `${percent(m.task_success.interval[0])}–${percent(m.task_success.interval[1])}` : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="muted">Success: {evaluation.success_means}</p>
          <details>
            <summary>Runs ({evaluation.runs.length})</summary>
            <table className="table">
              <tbody>
                {evaluation.runs.map((r) => (
                  <tr key={r.run}>
                    <td><Link to={`/runs/${r.run}`}><code>{r.run.slice(0, 8)}</code></Link></td>
                    <td>{r.model} <span className="muted">{r.endpoint}</span></td>
                    <td><StatusBadge status={r.status} /></td>
                    <td>{r.success === null ? "…" : r.success ? "✓" : "✗"}</td>
                    <td className="muted">{r.failure ?? `held to the ${r.expected_from} answer`}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        </>
      )}
    </section>
  );
}
