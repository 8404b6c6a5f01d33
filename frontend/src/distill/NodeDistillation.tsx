// The distillation section of an LLM node's side panel: which model answers the node (teacher,
// shadow, student) with the buttons to move it and the audit trail, the node's jobs, and "Distill".
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { get, post, query } from "../api";
import type { ApiError, DeploymentState, DistillationJob, NodeDeployment } from "../types";
import { ErrorList, StatusBadge, errorsFrom, formatTime } from "../ui";
import { DistillForm } from "./DistillForm";
import { useDeploymentChanged } from "../editor/useDeployments";

const stateHelp: Record<DeploymentState, string> = {
  teacher: "The teacher answers every call.",
  shadow: "Both answer each call; the teacher's answer is used and their agreement recorded.",
  student: "The student answers; the teacher steps in when its reply fails the node's JSON schema.",
};

export function NodeDistillation({ workflowId, nodeId, maxTokens, modelNames }: {
  workflowId: string;
  nodeId: string;
  maxTokens: number;
  modelNames: string[];
}) {
  const [open, setOpen] = useState(false);
  const [deployment, setDeployment] = useState<NodeDeployment | null>(null);
  const [jobs, setJobs] = useState<DistillationJob[]>([]);
  const [student, setStudent] = useState("");
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [busy, setBusy] = useState(false);
  const [formOpen, setFormOpen] = useState(false);
  const deploymentPath = `/api/workflows/${workflowId}/nodes/${encodeURIComponent(nodeId)}/deployment`;
  const deploymentChanged = useDeploymentChanged();

  // Loaded only once opened: a node that is not in a published version yet has no deployment.
  const load = useCallback(async () => {
    try {
      const [current, nodeJobs] = await Promise.all([
        get<NodeDeployment>(deploymentPath),
        get<DistillationJob[]>(`/api/distillations${query({ workflow: workflowId, node_id: nodeId })}`),
      ]);
      setDeployment(current);
      setJobs(nodeJobs);
      setStudent((old) => old || current.model || nodeJobs.find((j) => j.model)?.model || "");
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }, [deploymentPath, workflowId, nodeId]);

  useEffect(() => {
    if (open) void load();
  }, [open, load]);

  async function move(state: DeploymentState) {
    setBusy(true);
    setErrors([]);
    try {
      const moved = await post<NodeDeployment>(deploymentPath, state === "shadow" ? { state, model: student } : { state });
      setDeployment(moved);
      deploymentChanged?.(moved); // the canvas badge follows
    } catch (error) {
      setErrors(errorsFrom(error));
    } finally {
      setBusy(false);
    }
  }

  const students = [...new Set([...jobs.flatMap((j) => (j.model ? [j.model] : [])), ...(deployment?.model ? [deployment.model] : [])])];
  const state = deployment?.state ?? "teacher";
  return (
    <details className="policy distillation" open={open} onToggle={(e) => setOpen(e.currentTarget.open)} data-testid="node-distillation">
      <summary>Distillation</summary>
      <ErrorList errors={errors} />
      {deployment && (
        <>
          <div className="deployment" data-testid="deployment" data-state={state}>
            <span className={`badge state-${state}`}>{state}</span>{" "}
            {state === "teacher" ? <code>{deployment.teacher_model ?? "the node's model"}</code> : <><code>{deployment.model}</code> <span className="muted">(teacher <code>{deployment.teacher_model}</code>)</span></>}
            <p className="hint">{stateHelp[state]}</p>
          </div>
          {students.length > 0 ? (
            <div className="field">
              <label className="field-label">Student</label>
              <select name="deployment-student" value={student} onChange={(e) => setStudent(e.target.value)}>
                {students.map((name) => <option key={name} value={name}>{name}</option>)}
              </select>
            </div>
          ) : <p className="hint">No deployed student yet: distil the node, then deploy the finished job.</p>}
          <div className="button-row">
            <button onClick={() => void move("shadow")} disabled={busy || !student || state === "shadow"} title="Run the student next to the teacher and compare">Shadow</button>
            <button className="primary" onClick={() => void move("student")} disabled={busy || state !== "shadow"} title="Let the student answer">Promote</button>
            <button className="danger" onClick={() => void move("teacher")} disabled={busy || state === "teacher"} title="Back to the teacher">Roll back</button>
          </div>
          {deployment.changes.length > 0 && (
            <ul className="changes" data-testid="deployment-changes">
              {[...deployment.changes].reverse().map((change, i) => (
                <li key={i}>{change.from_state} → <b>{change.to_state}</b>{change.model && <> · <code>{change.model}</code></>} <span className="muted">{change.user ?? "—"}, {formatTime(change.at)}</span></li>
              ))}
            </ul>
          )}
        </>
      )}
      <h4>Jobs</h4>
      {jobs.length === 0 ? <p className="hint">No distillation jobs for this node.</p> : (
        <ul className="job-list">
          {jobs.map((job) => (
            <li key={job.id}><Link to={`/distillations/${job.id}`}><code>{job.id.slice(0, 8)}</code></Link> <StatusBadge status={job.status} /> {job.method}{job.model && <> → <code>{job.model}</code></>}</li>
          ))}
        </ul>
      )}
      <div className="button-row">
        <button className="primary" onClick={() => setFormOpen(true)}>Distill…</button>
        <Link to={`/savings?workflow=${workflowId}`}>Savings</Link>
      </div>
      {formOpen && <DistillForm workflowId={workflowId} nodeId={nodeId} maxTokens={maxTokens} modelNames={modelNames} onClose={() => setFormOpen(false)} />}
    </details>
  );
}
