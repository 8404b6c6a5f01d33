// The latest runs a kind of trigger started for this workflow, refreshed every few seconds.
import { useEffect, useState } from "react";
import { Link } from "react-router";
import { get, query } from "../../api";
import type { RunPage, RunSummary } from "../../types";
import { StatusBadge, formatTime } from "../../ui";

const POLL_MS = 5000;

export function RecentRuns({ workflowId, trigger, refresh }: { workflowId: string; trigger: "webhook" | "schedule"; refresh: number }) {
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  useEffect(() => {
    let stopped = false;
    const load = () => get<RunPage>(`/api/runs${query({ workflow: workflowId, trigger, limit: 5 })}`)
      .then((page) => !stopped && setRuns(page.results), () => undefined); // decoration: a failed poll waits for the next
    void load();
    const timer = window.setInterval(() => void load(), POLL_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [workflowId, trigger, refresh]);

  if (runs === null) return null;
  return (
    <div className="recent-runs" data-testid={`recent-${trigger}-runs`}>
      <h4>Latest runs by {trigger === "webhook" ? "webhooks" : "schedules"}</h4>
      {runs.length === 0 ? <p className="hint">None yet.</p> : (
        <ul>
          {runs.map((run) => (
            <li key={run.id} data-run-id={run.id}>
              <StatusBadge status={run.status} />
              <Link to={`/runs/${run.id}`}><code>{String(run.id).slice(0, 8)}</code></Link>
              <span className="muted">{formatTime(run.created_at)}</span>
              {run.error ? <span className="error run-error" title={typeof run.error === "string" ? run.error : JSON.stringify(run.error)}>{typeof run.error === "string" ? run.error : "failed"}</span> : null}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
