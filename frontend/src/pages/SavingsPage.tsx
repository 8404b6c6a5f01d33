// What a workflow's LLM nodes cost per model over a period, how well shadowed students agree with
// their teachers, and what answering with the students would save in a month at this volume.
import { useEffect, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router";
import { get, query } from "../api";
import type { ApiError, Savings, Workflow } from "../types";
import { ErrorList, errorsFrom, formatCost, formatMs, formatNumber, formatTime } from "../ui";
import { BarChart } from "../distill/charts";

const PERIODS = [["1", "Last 24 hours"], ["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"]] as const;
const DAY_MS = 24 * 3600 * 1000;

const milliseconds = (value: number) => `${formatNumber(Math.round(value))} ms`;

export function SavingsPage() {
  const [params, setParams] = useSearchParams();
  const [workflows, setWorkflows] = useState<Workflow[] | null>(null);
  const [savings, setSavings] = useState<Savings | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const workflow = params.get("workflow") ?? (workflows?.[0] ? String(workflows[0].id) : "");
  const days = params.get("days") ?? "30";
  // Fixed once per choice of period, so re-renders do not refetch a moving window.
  const since = useMemo(() => new Date(Date.now() - Number(days) * DAY_MS).toISOString(), [days]);

  useEffect(() => {
    get<Workflow[]>("/api/workflows").then(setWorkflows, (e) => setErrors(errorsFrom(e)));
  }, []);

  useEffect(() => {
    setSavings(null);
    if (!workflow) return;
    get<Savings>(`/api/workflows/${workflow}/savings${query({ since })}`).then(setSavings, (e) => setErrors(errorsFrom(e)));
  }, [workflow, since]);

  const choose = (key: string, value: string) => setParams({ workflow, days, [key]: value });
  return (
    <div className="page savings-page">
      <div className="page-head">
        <h1>Savings</h1>
        <span className="spacer" />
        <select aria-label="Workflow" value={workflow} onChange={(e) => choose("workflow", e.target.value)}>
          {(workflows ?? []).map((w) => <option key={w.id} value={String(w.id)}>{w.name}</option>)}
        </select>
        <select aria-label="Period" value={days} onChange={(e) => choose("days", e.target.value)}>
          {PERIODS.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
        </select>
      </div>
      <ErrorList errors={errors} />
      {workflows?.length === 0 && <div className="empty">No workflows yet.</div>}
      {workflow && !savings && <p className="muted">Loading…</p>}
      {savings && (
        <>
          <div className="totals" data-testid="savings-totals">
            <div className="card stat"><span className="muted">Model calls</span><b>{formatNumber(savings.totals.calls)}</b></div>
            <div className="card stat"><span className="muted">Cost</span><b>{formatCost(savings.totals.cost)}</b></div>
            <div className="card stat"><span className="muted">Projected monthly saving</span><b className="ok">{formatCost(savings.totals.projected_monthly_saving)}</b></div>
            <p className="muted">{formatTime(savings.since)} – {formatTime(savings.until)}</p>
          </div>
          {savings.nodes.length === 0 && <div className="empty">No model calls in this period.</div>}
          {savings.nodes.map((node) => (
            <section key={node.node_id} className="card node-savings" data-testid="node-savings" data-node-id={node.node_id} data-state={node.state}>
              <div className="panel-head">
                <h2><code>{node.node_id}</code> <span className={`badge state-${node.state}`}>{node.state}</span></h2>
                <Link to={`/workflows/${workflow}`}>Open in the editor</Link>
              </div>
              <p>
                {node.shadow ? <>Shadow agreement <b data-testid="shadow-agreement">{(node.shadow.agreement * 100).toFixed(1)}%</b> over {formatNumber(node.shadow.calls)} calls · </> : <span className="muted">No shadow comparisons · </span>}
                {node.shadow?.student_errors ? <>{formatNumber(node.shadow.student_errors)} student failures · </> : null}
                {node.shadow && (
                  <span data-testid="shadow-side-by-side">
                    student {formatMs(node.shadow.student_latency_ms)} a call, {formatCost(node.shadow.student_cost)} in all; teacher {formatMs(node.shadow.teacher_latency_ms)}, {formatCost(node.shadow.teacher_cost)} ·{" "}
                  </span>
                )}
                projected monthly saving <b className="ok">{formatCost(node.projected_monthly_saving)}</b>
              </p>
              {node.projection.reason && (
                <p className="muted" data-testid="projection-reason">
                  Not projected: {node.projection.reason} (potential {formatCost(node.potential_monthly_saving)} a month)
                </p>
              )}
              <table className="table">
                <thead><tr><th>Model</th><th>Calls</th><th>Tokens in / out</th><th>Cost</th><th>p50</th><th>p95</th></tr></thead>
                <tbody>
                  {node.models.map((usage) => (
                    <tr key={usage.model}>
                      <td><code>{usage.model}</code></td>
                      <td>{formatNumber(usage.calls)}</td>
                      <td>{formatNumber(usage.tokens_in)} / {formatNumber(usage.tokens_out)}</td>
                      <td>{formatCost(usage.cost)}</td>
                      <td>{usage.p50_ms === null ? "—" : milliseconds(usage.p50_ms)}</td>
                      <td>{usage.p95_ms === null ? "—" : milliseconds(usage.p95_ms)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {node.models.length > 0 && (
                <div className="charts">
                  <BarChart title="Cost per call" format={(v) => formatCost(v)} bars={node.models.map((m) => ({ label: m.model, value: m.calls ? m.cost / m.calls : 0 }))} />
                  <BarChart title="p95 latency" format={milliseconds} bars={node.models.map((m) => ({ label: m.model, value: m.p95_ms ?? 0 }))} />
                </div>
              )}
            </section>
          ))}
        </>
      )}
    </div>
  );
}
