import { useEffect, useRef, useState, type ChangeEvent } from "react";
import { Link, useNavigate } from "react-router";
import { del, download, get, patch, post } from "../api";
import type { ApiError, Graph, Workflow } from "../types";
import { ErrorList, StatusBadge, errorsFrom, formatTime } from "../ui";
import { useDialogs } from "../dialogs";

// A new workflow starts runnable: one input field passed straight to one output.
const starterGraph: Graph = {
  nodes: [
    { id: "input", type: "input", name: "Input", position: { x: 0, y: 0 }, config: { fields: [{ name: "message", type: "string", required: true }] } },
    { id: "output", type: "output", name: "Output", position: { x: 340, y: 0 }, config: { outputs: { result: "{{ inputs.message }}" } } },
  ],
  edges: [{ source: "input", target: "output" }],
};

export function WorkflowsPage() {
  const navigate = useNavigate();
  const dialogs = useDialogs();
  const [workflows, setWorkflows] = useState<Workflow[] | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const fileInput = useRef<HTMLInputElement>(null);

  async function reload() {
    try {
      setWorkflows(await get<Workflow[]>("/api/workflows"));
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  useEffect(() => {
    void reload();
  }, []);

  async function act(action: () => Promise<unknown>) {
    setErrors([]);
    try {
      await action();
      await reload();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function create() {
    const name = await dialogs.prompt({ title: "New workflow", label: "Name", initial: "Untitled workflow", confirmLabel: "Create" });
    if (!name) return;
    try {
      const workflow = await post<Workflow>("/api/workflows", { name, graph: starterGraph });
      navigate(`/workflows/${workflow.id}`);
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function rename(workflow: Workflow) {
    const name = await dialogs.prompt({ title: `Rename “${workflow.name}”`, label: "New name", initial: workflow.name, confirmLabel: "Rename" });
    if (name && name !== workflow.name) void act(() => patch(`/api/workflows/${workflow.id}`, { name }));
  }

  function duplicate(workflow: Workflow) {
    void act(() => post("/api/workflows", { name: `${workflow.name} (copy)`, graph: workflow.graph }));
  }

  async function remove(workflow: Workflow) {
    const message = "Its versions, runs, webhooks and schedules go with it. This cannot be undone.";
    if (await dialogs.confirm({ title: `Delete “${workflow.name}”?`, message, confirmLabel: "Delete", danger: true })) {
      void act(() => del(`/api/workflows/${workflow.id}`));
    }
  }

  async function exportFile(workflow: Workflow) {
    try {
      const file = await get<unknown>(`/api/workflows/${workflow.id}/export`);
      download(`${workflow.name.replace(/[^\w.-]+/g, "_")}.orchestra.json`, file);
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function importFile(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = "";
    if (!file) return;
    let body: unknown;
    try {
      body = JSON.parse(await file.text());
    } catch {
      setErrors([{ path: file.name, message: "is not a JSON file; expected an Orchestra export {orchestra: 1, name, graph}" }]);
      return;
    }
    void act(() => post("/api/workflows/import", body));
  }

  return (
    <div className="page">
      <div className="page-head">
        <h1>Workflows</h1>
        <span className="spacer" />
        <input ref={fileInput} type="file" accept=".json,application/json" hidden onChange={importFile} data-testid="import-file" />
        <button onClick={() => fileInput.current?.click()}>Import…</button>
        <button className="primary" onClick={() => void create()}>New workflow</button>
      </div>
      <ErrorList errors={errors} />
      {workflows === null ? (
        <p className="muted">Loading…</p>
      ) : workflows.length === 0 ? (
        <div className="empty">No workflows yet. Create one, or import an exported file.</div>
      ) : (
        <table className="table">
          <thead>
            <tr><th>Name</th><th>Published</th><th>Last run</th><th>Updated</th><th /></tr>
          </thead>
          <tbody>
            {workflows.map((workflow) => (
              <tr key={workflow.id}>
                <td><Link to={`/workflows/${workflow.id}`}>{workflow.name}</Link></td>
                <td>{workflow.published_version ? `v${workflow.published_version}` : <span className="muted">draft only</span>}</td>
                <td>
                  {workflow.last_run ? (
                    <Link to={`/runs/${workflow.last_run.id}`}><StatusBadge status={workflow.last_run.status} /> {formatTime(workflow.last_run.finished_at)}</Link>
                  ) : <span className="muted">never run</span>}
                </td>
                <td>{formatTime(workflow.updated_at)}</td>
                <td className="row-actions">
                  <button className="link" onClick={() => void rename(workflow)}>Rename</button>
                  <button className="link" onClick={() => duplicate(workflow)}>Duplicate</button>
                  <button className="link" onClick={() => void exportFile(workflow)}>Export</button>
                  <button className="link danger" onClick={() => void remove(workflow)}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
