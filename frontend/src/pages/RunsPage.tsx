import { useEffect, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { get, query } from "../api";
import type { ApiError, RunPage, Workflow } from "../types";
import { ErrorList, Pager, StatusBadge, errorsFrom, formatCost, formatNumber, formatTime } from "../ui";

const statuses = ["queued", "running", "waiting", "succeeded", "failed", "cancelled"];
const triggers = ["editor", "api", "chat", "webhook", "schedule", "gateway", "evaluation"];

export function RunsPage() {
  const [params, setParams] = useSearchParams();
  const workflow = params.get("workflow") ?? "";
  const status = params.get("status") ?? "";
  const trigger = params.get("trigger") ?? "";
  const cursor = params.get("cursor") ?? "";
  const [workflows, setWorkflows] = useState<Workflow[]>([]);
  const [runs, setRuns] = useState<RunPage | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);

  useEffect(() => {
    get<Workflow[]>("/api/workflows").then(setWorkflows, (e) => setErrors(errorsFrom(e)));
  }, []);

  useEffect(() => {
    get<RunPage>(`/api/runs${query({ workflow, status, trigger, cursor })}`).then(setRuns, (e) => setErrors(errorsFrom(e)));
  }, [workflow, status, trigger, cursor]);

  const names = new Map(workflows.map((w) => [String(w.id), w.name]));
  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    next.delete("cursor");
    setParams(next);
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Runs</h1>
        <span className="spacer" />
        <select aria-label="Workflow" value={workflow} onChange={(e) => setFilter("workflow", e.target.value)}>
          <option value="">All workflows</option>
          {workflows.map((w) => <option key={w.id} value={String(w.id)}>{w.name}</option>)}
        </select>
        <select aria-label="Status" value={status} onChange={(e) => setFilter("status", e.target.value)}>
          <option value="">Any status</option>
          {statuses.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <select aria-label="Trigger" value={trigger} onChange={(e) => setFilter("trigger", e.target.value)}>
          <option value="">Any trigger</option>
          {triggers.map((t) => <option key={t} value={t}>{t}</option>)}
        </select>
      </div>
      <ErrorList errors={errors} />
      {runs === null ? <p className="muted">Loading…</p> : runs.results.length === 0 ? (
        <div className="empty">No runs match.</div>
      ) : (
        <>
          <table className="table">
            <thead><tr><th>Run</th><th>Workflow</th><th>Version</th><th>Status</th><th>Trigger</th><th>Started</th><th>Finished</th><th>Tokens</th><th>Cost</th></tr></thead>
            <tbody>
              {runs.results.map((run) => (
                <tr key={run.id}>
                  <td><Link to={`/runs/${run.id}`}><code>{String(run.id).slice(0, 8)}</code></Link></td>
                  <td>{names.get(String(run.workflow)) ?? run.workflow}</td>
                  <td>{run.version === null ? "draft" : `v${run.version}`}</td>
                  <td><StatusBadge status={run.status} /></td>
                  <td>{run.trigger ?? "—"}</td>
                  <td>{formatTime(run.started_at ?? run.created_at)}</td>
                  <td>{formatTime(run.finished_at)}</td>
                  <td>{formatNumber((run.tokens_in ?? 0) + (run.tokens_out ?? 0))}</td>
                  <td>{formatCost(run.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <Pager page={runs} noun="runs" onCursor={(to) => setParams({ ...Object.fromEntries(params), cursor: to })} />
        </>
      )}
    </div>
  );
}
