// Every distillation job of the workspace (the API lists them newest first), filtered by workflow.
import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { get, query } from "../api";
import type { ApiError, DistillationJob, Workflow } from "../types";
import { ErrorList, StatusBadge, errorsFrom, formatTime } from "../ui";

export function DistillationsPage() {
  const [params, setParams] = useSearchParams();
  const workflow = params.get("workflow") ?? "";
  const [workflows, setWorkflows] = useState<Workflow[]>([]);
  const [jobs, setJobs] = useState<DistillationJob[] | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);

  useEffect(() => {
    get<Workflow[]>("/api/workflows").then(setWorkflows, (e) => setErrors(errorsFrom(e)));
  }, []);

  useEffect(() => {
    get<DistillationJob[]>(`/api/distillations${query({ workflow })}`).then(setJobs, (e) => setErrors(errorsFrom(e)));
  }, [workflow]);

  const names = new Map(workflows.map((w) => [String(w.id), w.name]));
  return (
    <div className="page">
      <div className="page-head">
        <h1>Distillation</h1>
        <span className="spacer" />
        <select aria-label="Workflow" value={workflow} onChange={(e) => setParams(e.target.value ? { workflow: e.target.value } : {})}>
          <option value="">All workflows</option>
          {workflows.map((w) => <option key={w.id} value={String(w.id)}>{w.name}</option>)}
        </select>
        <Link to={`/savings${query({ workflow })}`}>Savings</Link>
      </div>
      <ErrorList errors={errors} />
      {jobs === null ? <p className="muted">Loading…</p> : jobs.length === 0 ? (
        <div className="empty">No distillation jobs yet. Open an LLM node in the editor and choose <b>Distill…</b> under <i>Distillation</i>.</div>
      ) : (
        <table className="table" data-testid="jobs-table">
          <thead><tr><th>Job</th><th>Workflow</th><th>Node</th><th>Method</th><th>Student</th><th>Status</th><th>Progress</th><th>Model</th><th>Created</th></tr></thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id}>
                <td><Link to={`/distillations/${job.id}`}><code>{job.id.slice(0, 8)}</code></Link></td>
                <td><Link to={`/workflows/${job.workflow}`}>{job.workflow && (names.get(job.workflow) ?? job.workflow)}</Link></td>
                <td><code>{job.node_id}</code></td>
                <td>{job.method}</td>
                <td className="truncate" title={job.student}>{job.student}</td>
                <td><StatusBadge status={job.status} /></td>
                <td>{job.progress ? `${job.progress.step} / ${job.progress.total_steps}` : "—"}</td>
                <td>{job.model ? <code>{job.model}</code> : "—"}</td>
                <td>{formatTime(job.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
