// The workspace's routers (docs/router.md): which model answers `auto` (or a router's name), per
// node or for the whole workspace. A list, a form for a new one, and the chosen router's detail
// (?router=<id>): settings, compare and train, the cost–quality curve and its routed calls.
import { useCallback, useEffect, useMemo, useState } from "react";
import { useSearchParams } from "react-router";
import { get, post } from "../api";
import type { ApiError, ModelEndpoint, Workflow } from "../types";
import { ErrorList, errorsFrom } from "../ui";
import { RouterDetail } from "../routing/RouterDetail";
import { RouterForm, blankDraft, bodyOf } from "../routing/RouterForm";
import type { Router } from "../routing/types";
import "../routing/routing.css";

const ROUTED_NODE_TYPES = ["llm", "agent"];

export function RoutersPage() {
  const [params, setParams] = useSearchParams();
  const [routers, setRouters] = useState<Router[] | null>(null);
  const [models, setModels] = useState<ModelEndpoint[]>([]);
  const [workflows, setWorkflows] = useState<Workflow[]>([]);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const [creating, setCreating] = useState(false);
  const [formErrors, setFormErrors] = useState<ApiError[]>([]);
  const [scope, setScope] = useState({ workflow: "", nodeId: "" });
  const selected = params.get("router");
  const modelNames = useMemo(() => models.map((m) => m.name), [models]);

  const reload = useCallback(() => get<Router[]>("/api/routers").then(setRouters, (e) => setErrors(errorsFrom(e))), []);
  useEffect(() => {
    void reload();
    get<ModelEndpoint[]>("/api/models").then(setModels, (e) => setErrors(errorsFrom(e)));
    get<Workflow[]>("/api/workflows").then(setWorkflows, (e) => setErrors(errorsFrom(e)));
  }, [reload]);

  const workflowName = (id: string | null) => workflows.find((w) => String(w.id) === id)?.name ?? "a workflow";
  const scopeOf = (router: Router) => (router.workflow ? `node ${router.node_id} of ${workflowName(router.workflow)}` : router.is_default ? "the workspace: auto everywhere else, and the gateway" : "the workspace: calls that name it");
  const nodes = workflows.find((w) => String(w.id) === scope.workflow)?.graph.nodes.filter((n) => ROUTED_NODE_TYPES.includes(n.type)) ?? [];
  const chosen = routers?.find((r) => r.id === selected);

  return (
    <div className="page routers-page">
      <div className="page-head">
        <h1>Routers</h1>
        <span className="spacer" />
        <button className="primary" onClick={() => { setCreating(true); setFormErrors([]); }}>New router</button>
      </div>
      <p className="hint">
        A router answers each call with the cheapest candidate predicted to answer it as well as the strong model, learned from this workspace's own traces.
        A node routes when its model is <code>auto</code> (its own router, else the default one) or a router's name.
      </p>
      <ErrorList errors={errors} />
      {creating && (
        <section className="card">
          <h2>New router</h2>
          <RouterForm initial={blankDraft("", modelNames)} modelNames={modelNames} workspaceRouter={!scope.workflow} submitLabel="Create" errors={formErrors}
            onCancel={() => setCreating(false)}
            onSubmit={async (draft) => {
              setFormErrors([]);
              try {
                const body = { ...bodyOf(draft, { workspaceRouter: !scope.workflow }), ...(scope.workflow ? { workflow: scope.workflow, node_id: scope.nodeId } : {}) };
                const router = await post<Router>("/api/routers", body);
                setCreating(false);
                await reload();
                setParams({ router: router.id });
              } catch (error) {
                setFormErrors(errorsFrom(error));
              }
            }}>
            <div className="grid-2">
              <label>Serves
                <select name="scope_workflow" value={scope.workflow} onChange={(e) => setScope({ workflow: e.target.value, nodeId: "" })}>
                  <option value="">the workspace</option>
                  {workflows.map((w) => <option key={w.id} value={String(w.id)}>a node of {w.name}</option>)}
                </select>
              </label>
              {scope.workflow && (
                <label>Node
                  <select name="scope_node" value={scope.nodeId} onChange={(e) => setScope({ ...scope, nodeId: e.target.value })}>
                    <option value="">choose an llm or agent node</option>
                    {nodes.map((n) => <option key={n.id} value={n.id}>{n.name ?? n.id} ({n.type})</option>)}
                  </select>
                </label>
              )}
            </div>
          </RouterForm>
        </section>
      )}
      {routers === null ? <p className="muted">Loading…</p> : routers.length === 0 ? <div className="empty">No routers yet: <code>auto</code> is the default model.</div> : (
        <table className="table routers" data-testid="routers">
          <thead><tr><th>Name</th><th>Serves</th><th>Candidates, cheapest first</th><th>Target</th><th>Trained</th><th>Cost saved at the threshold</th></tr></thead>
          <tbody>
            {routers.map((r) => (
              <tr key={r.id} className={r.id === selected ? "selected-row" : ""} data-router={r.name}>
                <td><button className="link" onClick={() => setParams({ router: r.id })}>{r.name}</button></td>
                <td>{scopeOf(r)}</td>
                <td>{r.candidates.map((c) => <code key={c}>{c} </code>)}</td>
                <td>{Math.round(r.target * 1000) / 10}%</td>
                <td>{r.trained ? "yes" : <span className="muted">no</span>}</td>
                <td>{r.summary?.cost_saved == null ? "—" : `${(r.summary.cost_saved * 100).toFixed(1)}%`}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {chosen && (
        <RouterDetail key={chosen.id} routerId={chosen.id} modelNames={modelNames} scope={scopeOf(chosen)} onChanged={() => void reload()}
          onDeleted={() => { setParams({}); void reload(); }} />
      )}
    </div>
  );
}
