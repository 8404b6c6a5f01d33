// One run: its graph with each node's state (live while it runs), the inspector, totals, events.
import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, useNodesState } from "@xyflow/react";
import { get, post } from "../api";
import type { ApiError, Graph, NodeType, Run, Version, Workflow } from "../types";
import { ErrorList, errorsFrom } from "../ui";
import { useRun } from "../runs/useRun";
import { EventLog, Inspector, RunTotals } from "../runs/Inspector";
import { CanvasContext } from "../editor/context";
import { nodeComponents } from "../editor/nodes";
import { toFlow } from "../editor/graph";
import { FitWhenMeasured } from "../editor/FitWhenMeasured";

export function RunPage() {
  const { runId } = useParams();
  // A retry continues the same run: follow its events afresh, from the start.
  const [followed, setFollowed] = useState(0);
  return <RunView key={`${runId}:${followed}`} runId={runId ?? null} onRetried={() => setFollowed((n) => n + 1)} />;
}

function RunView({ runId, onRetried }: { runId: string | null; onRetried: () => void }) {
  const navigate = useNavigate();
  const live = useRun(runId);
  const { run } = live;
  const [graph, setGraph] = useState<Graph | null>(null);
  const [workflowName, setWorkflowName] = useState("");
  const [nodeTypes, setNodeTypes] = useState<NodeType[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);

  useEffect(() => {
    get<NodeType[]>("/api/node-types").then(setNodeTypes, (e) => setErrors(errorsFrom(e)));
  }, []);

  const workflowId = run?.workflow;
  const version = run?.version;
  useEffect(() => {
    if (workflowId === undefined) return;
    // A draft test run has no frozen version: show the workflow's current draft instead.
    const load = async () => {
      const workflow = await get<Workflow>(`/api/workflows/${workflowId}`);
      setWorkflowName(workflow.name);
      if (typeof version === "number") setGraph((await get<Version>(`/api/workflows/${workflowId}/versions/${version}`)).graph ?? workflow.graph);
      else setGraph(workflow.graph);
    };
    load().catch((e) => setErrors(errorsFrom(e)));
  }, [workflowId, version]);

  const flow = useMemo(() => (graph ? toFlow(graph) : { nodes: [], edges: [] }), [graph]);
  // Controlled nodes so React Flow can store their measured sizes (the minimap and fit need them).
  const [nodes, setNodes, onNodesChange] = useNodesState(flow.nodes);
  useEffect(() => {
    setNodes(flow.nodes);
  }, [flow, setNodes]);
  const typesByName = useMemo(() => Object.fromEntries(nodeTypes.map((t) => [t.type, t])), [nodeTypes]);
  const components = useMemo(() => nodeComponents(nodeTypes.map((t) => t.type)), [nodeTypes]);
  const decorations = useMemo(() => ({ nodeTypes: typesByName, errors: new Map(), runNodes: live.runNodes, streamed: live.streamed }), [typesByName, live.runNodes, live.streamed]);

  async function cancel() {
    try {
      await post(`/api/runs/${runId}/cancel`);
      await live.refresh();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  async function retry() {
    try {
      await post(`/api/runs/${runId}/retry`);
      onRetried();
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  const [rerunInputs, setRerunInputs] = useState<string | null>(null);
  async function rerun() {
    let inputs: unknown;
    try {
      inputs = JSON.parse(rerunInputs ?? "{}");
    } catch {
      setErrors([{ path: "inputs", message: "Inputs must be a JSON object." }]);
      return;
    }
    try {
      const created = await post<Run>(`/api/runs/${runId}/rerun`, { inputs });
      navigate(`/runs/${created.id}`);
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }

  if (!run) return <div className="page"><ErrorList errors={errors} /><p className="muted">Loading…</p></div>;
  const selectedType = graph?.nodes.find((n) => n.id === selected)?.type;
  return (
    <div className="editor run-page">
      <div className="toolbar">
        <Link to="/runs" className="muted">Runs</Link>
        <span className="muted">/</span>
        <b>{workflowName}</b>
        <code className="muted">{String(run.id)}</code>
        <span className="muted">{typeof run.version === "number" ? `v${run.version}` : "draft"} · {run.trigger ?? ""}</span>
        {run.trigger === "rerun" && run.trigger_ref && <Link to={`/runs/${run.trigger_ref}`} data-testid="rerun-of">rerun of {run.trigger_ref.slice(0, 8)}</Link>}
        <span className="spacer" />
        <Link to={`/workflows/${run.workflow}`}>Open workflow</Link>
        {["queued", "running", "waiting"].includes(run.status) && <button className="danger" onClick={() => void cancel()}>Cancel run</button>}
        {["failed", "cancelled"].includes(run.status) && <button title="Run again from the failed node; finished nodes keep their results" onClick={() => void retry()}>Retry from failed node</button>}
        {!["queued", "running", "waiting"].includes(run.status) && <button onClick={() => setRerunInputs(rerunInputs === null ? JSON.stringify(run.inputs, null, 2) : null)}>Rerun…</button>}
      </div>
      <ErrorList errors={errors} />
      {rerunInputs !== null && (
        <div className="rerun-form" data-testid="rerun-form">
          <label>
            Inputs of the new run
            <textarea aria-label="Rerun inputs" rows={6} value={rerunInputs} onChange={(e) => setRerunInputs(e.target.value)} />
            <span className="hint">A new run of {typeof run.version === "number" ? `version ${run.version}` : "the current draft"}, as JSON; this run stays as it is.</span>
          </label>
          <div className="rerun-actions">
            <button className="primary" onClick={() => void rerun()}>Start rerun</button>
            <button onClick={() => setRerunInputs(null)}>Cancel</button>
          </div>
        </div>
      )}
      <div className="editor-body run-body">
        <div className="canvas">
          <CanvasContext.Provider value={decorations}>
            <ReactFlowProvider>
              {graph && nodeTypes.length > 0 && (
                <ReactFlow
                  nodes={nodes}
                  onNodesChange={onNodesChange}
                  edges={flow.edges}
                  nodeTypes={components}
                  nodesDraggable={false}
                  nodesConnectable={false}
                  elementsSelectable
                  onNodeClick={(_, node) => setSelected(node.id)}
                  onPaneClick={() => setSelected(null)}
                  proOptions={{ hideAttribution: true }}
                >
                  <FitWhenMeasured />
                  <Background gap={20} />
                  <MiniMap />
                  <Controls showInteractive={false} />
                </ReactFlow>
              )}
            </ReactFlowProvider>
          </CanvasContext.Provider>
        </div>
        <aside className="side-panel">
          <h2>Run</h2>
          <RunTotals run={run} />
          {selected ? (
            <>
              <h2 className="inspected">{graph?.nodes.find((n) => n.id === selected)?.name ?? selected}</h2>
              <Inspector run={run} nodeId={selected} nodeType={selectedType} node={live.runNodes.get(selected)} streamed={live.streamed.get(selected)} events={live.events} onResumed={() => void live.refresh()} />
            </>
          ) : (
            <>
              <p className="hint">Click a node to see its input, output, model, tokens and cost.</p>
              <h4>Inputs</h4>
              <pre className="json">{JSON.stringify(run.inputs, null, 2)}</pre>
              <h4>Outputs</h4>
              <div data-testid="run-outputs"><pre className="json">{JSON.stringify(run.outputs, null, 2)}</pre></div>
              {run.error !== null && run.error !== "" && <><h4>Error</h4><pre className="json error">{JSON.stringify(run.error, null, 2)}</pre></>}
            </>
          )}
          <h4>Events</h4>
          <EventLog events={live.events} />
        </aside>
      </div>
    </div>
  );
}
