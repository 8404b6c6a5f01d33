// One distillation job, live: progress, the loss curve, the evaluation report and its verdict;
// Cancel while it runs, Deploy once it has succeeded; an agent job's evaluation runs (task success).
import { useEffect, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router";
import { get, post } from "../api";
import type { ApiError, JobEvent, JobReport, Workflow } from "../types";
import { ErrorList, StatusBadge, errorsFrom, formatNumber, formatTime } from "../ui";
import { useJob } from "../distill/useJob";
import { LossChart } from "../distill/charts";
import { Report } from "../distill/Report";
import { EvaluationRuns } from "../distill/EvaluationRuns";

function eventSummary(event: JobEvent): string {
  const data = event.data ?? {};
  if (event.type === "progress" && typeof data.step === "number") return `step ${data.step}/${data.total_steps} · loss ${Number(data.loss).toFixed(4)}`;
  if (event.type === "progress" && typeof data.stage === "string") return data.stage;
  if (event.type === "job_started") return data.resumed ? "resumed from its checkpoint" : "";
  if (typeof data.error === "string") return data.error;
  return "";
}

/** An agent job's evaluation is step by step (report.after.steps); only agents have evaluation runs. */
function isAgentReport(report: JobReport | null): boolean {
  const after = report?.after;
  return !!after && typeof after === "object" && "steps" in after;
}

export function DistillationPage() {
  const { jobId } = useParams();
  const { job, events, connected, refresh } = useJob(jobId);
  const [name, setName] = useState("");
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [busy, setBusy] = useState(false);
  const [workflowName, setWorkflowName] = useState("");
  const workflowId = job?.workflow;

  useEffect(() => {
    if (workflowId) get<Workflow>(`/api/workflows/${workflowId}`).then((w) => setWorkflowName(w.name), (e) => setErrors(errorsFrom(e)));
  }, [workflowId]);

  async function act(path: string, body?: unknown) {
    setBusy(true);
    setErrors([]);
    try {
      await post(path, body);
      await refresh();
    } catch (error) {
      setErrors(errorsFrom(error));
    } finally {
      setBusy(false);
    }
  }

  function deploy(event: FormEvent) {
    event.preventDefault();
    void act(`/api/distillations/${jobId}/deploy`, name.trim() ? { name: name.trim() } : {});
  }

  if (!job) return <div className="page"><ErrorList errors={errors} /><p className="muted">Loading…</p></div>;
  const progress = job.progress;
  const active = job.status === "queued" || job.status === "running";
  const stage = [...events].reverse().find((e) => e.type === "progress" && typeof e.data?.stage === "string" && e.data.stage !== "train");
  return (
    <div className="page job-page" data-testid="job" data-status={job.status}>
      <div className="page-head">
        <Link to="/distillations" className="muted">Distillation</Link>
        <span className="muted">/</span>
        <h1>Job <code>{job.id.slice(0, 8)}</code></h1>
        <StatusBadge status={job.status} />
        {active && connected && <span className="live-dot" title="following live">● live</span>}
        <span className="spacer" />
        {active && <button className="danger" disabled={busy} onClick={() => void act(`/api/distillations/${job.id}/cancel`)}>Cancel</button>}
      </div>
      <ErrorList errors={errors} />
      {job.error && <ErrorList errors={[{ path: "", message: job.error }]} />}
      <div className="job-grid">
        <section className="card">
          <dl className="facts wide">
            <dt>Node</dt><dd><Link to={`/workflows/${job.workflow}`}>{workflowName || "workflow"}</Link> · <code>{job.node_id}</code></dd>
            <dt>Method</dt><dd>{job.method}</dd>
            <dt>Teacher</dt><dd><code>{job.teacher}</code></dd>
            <dt>Student</dt><dd className="truncate" title={job.student}><code>{job.student}</code></dd>
            <dt>Created</dt><dd>{formatTime(job.created_at)}</dd>
            <dt>Started</dt><dd>{formatTime(job.started_at)}</dd>
            <dt>Finished</dt><dd>{formatTime(job.finished_at)}</dd>
          </dl>
          {job.status === "succeeded" && (job.model ? (
            <p className="ok" data-testid="deployed-model">Deployed as <code>{job.model}</code>. Switch the node to it from its side panel in the <Link to={`/workflows/${job.workflow}`}>editor</Link> (Distillation → Shadow).</p>
          ) : (
            <form className="deploy" onSubmit={deploy}>
              <label className="field-label">Register the student as a model</label>
              <div className="button-row">
                <input name="deploy-name" value={name} placeholder={`${job.node_id}-student-${job.id.slice(0, 8)}`} onChange={(e) => setName(e.target.value)} />
                <button className="primary" type="submit" disabled={busy}>Deploy</button>
              </div>
            </form>
          ))}
        </section>
        <section className="card">
          <h2>Training</h2>
          {progress ? (
            <div data-testid="job-progress" data-step={progress.step} data-total={progress.total_steps}>
              <progress max={progress.total_steps} value={progress.step} />
              <p className="muted">
                step {progress.step} / {progress.total_steps} · loss {progress.loss.toFixed(4)} · lr {progress.learning_rate ? progress.learning_rate.toExponential(1) : 0} ·
                {" "}{formatNumber(Math.round(progress.tokens_per_s))} tokens/s{active && progress.eta_s !== null ? ` · ${Math.round(progress.eta_s)} s left` : ""}
              </p>
            </div>
          ) : <p className="muted">{active ? (stage ? `Preparing: ${String(stage.data?.stage)}…` : "Waiting for a trainer…") : "No training steps were recorded."}</p>}
          <LossChart points={job.losses} totalSteps={progress?.total_steps} />
        </section>
      </div>
      <section className="card">
        <h2>Evaluation</h2>
        {job.report?.after || job.report?.baseline ? <Report report={job.report} /> : <p className="muted">{active ? "The held-out evaluation runs after training." : "No evaluation was recorded."}</p>}
      </section>
      {job.status === "succeeded" && isAgentReport(job.report) && <EvaluationRuns jobId={job.id} />}
      <details className="card">
        <summary>Events ({events.length})</summary>
        <ol className="event-log" data-testid="event-log" data-count={events.length} data-last-seq={events.at(-1)?.seq ?? 0}>
          {events.map((event) => (
            <li key={event.seq}><span className="seq">{event.seq}</span> {event.type} <span className="muted">{eventSummary(event)}</span></li>
          ))}
        </ol>
      </details>
    </div>
  );
}
