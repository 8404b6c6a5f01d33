// One router: its configuration, the compare and train actions with their jobs, the training
// report (the cost–quality curve, PGR at the chosen threshold, who answers how often) and how its
// routed calls went since (the answers per model, escalations, the saving against the strong model).
import { useCallback, useEffect, useState } from "react";
import { del, get, patch, post } from "../api";
import type { ApiError } from "../types";
import { ErrorList, StatusBadge, errorsFrom, formatCost, formatNumber, formatTime } from "../ui";
import { useDialogs } from "../dialogs";
import { BarChart } from "../distill/charts";
import { CurveChart } from "./CurveChart";
import { RouterForm, bodyOf, draftOf } from "./RouterForm";
import type { CurvePoint, RouterJob, RouterReport } from "./types";

const POLL_MS = 1000;

const percent = (value: number | null | undefined, digits = 1) => (value === null || value === undefined ? "—" : `${(value * 100).toFixed(digits)}%`);

export function RouterDetail({ routerId, modelNames, scope, onChanged, onDeleted }: {
  routerId: string;
  modelNames: string[];
  scope: string; // what the router serves, in words
  onChanged: () => void;
  onDeleted: () => void;
}) {
  const dialogs = useDialogs();
  const [report, setReport] = useState<RouterReport | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [editing, setEditing] = useState(false);
  const [sample, setSample] = useState(50);

  const load = useCallback(async () => {
    try {
      setReport(await get<RouterReport>(`/api/routers/${routerId}/report`));
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }, [routerId]);

  useEffect(() => {
    setReport(null);
    void load();
  }, [load]);

  const active = report?.jobs.find((job) => job.status === "queued" || job.status === "running");
  // A job runs on the training queue: follow it until it ends, then show what it changed.
  useEffect(() => {
    if (!active) return;
    const timer = window.setTimeout(() => {
      void load().then(onChanged);
    }, POLL_MS);
    return () => window.clearTimeout(timer);
  }, [active, report, load, onChanged]);

  async function start(kind: "compare" | "train") {
    setErrors([]);
    try {
      await post<RouterJob>(`/api/routers/${routerId}/${kind}`, kind === "compare" ? { sample } : {});
      await load();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function remove() {
    if (!report) return;
    const message = "Nodes that name it as their model will fail their calls; nodes on auto go back to the default.";
    if (!(await dialogs.confirm({ title: `Delete the router “${report.router.name}”?`, message, confirmLabel: "Delete", danger: true }))) return;
    try {
      await del(`/api/routers/${routerId}`);
      onDeleted();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  if (!report) return <section className="card router-detail"><ErrorList errors={errors} />{errors.length === 0 && <p className="muted">Loading…</p>}</section>;
  const { router, training, usage, jobs } = report;
  const chosen = training?.curve.find((p: CurvePoint) => p.threshold === training.threshold);
  return (
    <section className="card router-detail" data-testid="router-detail" data-router={router.name} data-trained={router.trained}>
      <div className="panel-head">
        <h2>{router.name} {router.is_default && <span className="badge">default</span>}</h2>
        <span className="muted">{scope}</span>
        <span className="spacer" />
        <button onClick={() => setEditing(!editing)}>{editing ? "Close settings" : "Settings"}</button>
        <button className="danger" onClick={() => void remove()}>Delete</button>
      </div>
      {editing ? (
        <RouterForm initial={draftOf(router)} modelNames={modelNames} workspaceRouter={!router.workflow} submitLabel="Save" errors={errors}
          onCancel={() => setEditing(false)}
          onSubmit={async (draft) => {
            setErrors([]);
            try {
              await patch(`/api/routers/${routerId}`, bodyOf(draft, { workspaceRouter: !router.workflow }));
              setEditing(false);
              await load();
              onChanged();
            } catch (error) {
              setErrors(errorsFrom(error));
            }
          }} />
      ) : (
        <p>
          Candidates, cheapest first: {router.candidates.map((c, i) => <span key={c}>{i > 0 && " → "}<code>{c}</code></span>)}
          {" · "}target {percent(router.target)} of the strong model's quality
          {router.verifier.min_confidence != null && <> · escalates below {router.verifier.min_confidence} mean token probability</>}
        </p>
      )}
      {!editing && <ErrorList errors={errors} />}

      <h3>Learn from the workspace</h3>
      <p className="hint">
        A compare job replays a sample of {router.workflow ? "the node's" : "the gateway's"} answered calls to every candidate and scores each answer
        (golden label, else the strong model's answer); shadow mode adds pairs by itself. Training fits the router on every pair and calibrates its threshold.
      </p>
      <div className="button-row">
        <label className="inline">Sample <input name="sample" type="number" min={1} max={1000} value={sample} onChange={(e) => setSample(Number(e.target.value))} /></label>
        <button disabled={!!active} onClick={() => void start("compare")}>Compare candidates</button>
        <button className="primary" disabled={!!active} onClick={() => void start("train")}>Train</button>
      </div>
      {jobs.length > 0 && (
        <table className="table router-jobs" data-testid="router-jobs">
          <thead><tr><th>Job</th><th>Status</th><th>Progress</th><th>Started</th><th>Finished</th><th /></tr></thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-kind={job.kind} data-status={job.status}>
                <td>{job.kind}</td>
                <td><StatusBadge status={job.status} /></td>
                <td>{job.kind === "compare" ? `${job.progress.compared ?? 0} of ${job.sample ?? "—"} prompts` : "—"}</td>
                <td>{formatTime(job.started_at)}</td>
                <td>{formatTime(job.finished_at)}</td>
                <td className="error">{job.error}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3>Training report</h3>
      {!training ? (
        <p className="muted" data-testid="router-untrained">Not trained: every call goes to the strong model, <code>{router.candidates[router.candidates.length - 1]}</code>.</p>
      ) : (
        <div data-testid="router-report">
          <div className="totals">
            <div className="card stat"><span className="muted">PGR at the threshold</span><b data-testid="router-pgr">{training.pgr === null ? "no gap" : percent(training.pgr)}</b>{training.pgr === null && <span className="muted">the cheapest is as good as the strong model</span>}</div>
            <div className="card stat"><span className="muted">Quality</span><b>{percent(training.quality)}</b><span className="muted">strong {percent(training.strong_quality)} · cheapest {percent(training.cheapest_quality)}</span></div>
            <div className="card stat"><span className="muted">Cost saved</span><b className="ok" data-testid="router-cost-saved">{percent(training.cost_saved)}</b></div>
            <div className="card stat"><span className="muted">Threshold</span><b>{training.threshold === null ? "always strong" : training.threshold.toFixed(3)}</b></div>
            <div className="card stat"><span className="muted">APGR · CPT(50%) · CPT(80%)</span><b>{training.apgr === null ? "no gap to recover" : `${training.apgr.toFixed(3)} · ${percent(training.cpt50, 0)} · ${percent(training.cpt80, 0)}`}</b></div>
          </div>
          <div className="charts">
            <CurveChart curve={training.curve} target={training.target} chosen={chosen} />
            <BarChart title="Who answers at the threshold (held-out prompts)" format={(v) => percent(v, 0)}
              bars={router.candidates.map((c, i) => ({ label: c, value: training.shares[i] ?? 0 }))} />
          </div>
          <p className="hint">
            Trained {formatTime(router.trained_at)} on {training.examples?.train ?? "—"} prompts, the curve drawn on {training.examples?.held_out ?? "—"} held out
            {training.sources && <> (pairs from compare jobs {training.sources.compare}, shadow mode {training.sources.shadow})</>}.
            A cheaper answer was acceptable on {training.acceptable_rate?.map((r) => percent(r, 0)).join(", ") ?? "—"} of them.
            {" "}A curve that climbs steeply and flattens early means the router tells easy prompts from hard ones; a straight line means it cannot yet (docs/router.md).
          </p>
        </div>
      )}

      <h3>Routed calls</h3>
      {usage.calls === 0 ? <p className="muted" data-testid="router-usage" data-calls={0}>No call routed yet.</p> : (
        <div data-testid="router-usage" data-calls={usage.calls}>
          <p>
            {formatNumber(usage.calls)} calls routed · {formatNumber(usage.escalated)} escalated · cost {formatCost(usage.cost)}
            {" · "}saved <b className="ok" data-testid="router-saving">{formatCost(usage.saving)}</b> against asking <code>{router.candidates[router.candidates.length - 1]}</code> every time
          </p>
          <BarChart title="Calls answered per model" format={(v) => formatNumber(v)}
            bars={router.candidates.map((c) => ({ label: c, value: usage.answered[c] ?? 0 }))} />
        </div>
      )}
    </section>
  );
}
