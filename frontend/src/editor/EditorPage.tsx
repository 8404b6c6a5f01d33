// The workflow editor: palette, canvas, side panel; autosaves the draft and test-runs it live.
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import {
  Background, Controls, MiniMap, ReactFlow, ReactFlowProvider, addEdge, applyEdgeChanges, applyNodeChanges,
  useReactFlow, type Connection, type Edge, type EdgeChange, type NodeChange,
} from "@xyflow/react";
import { ApiRequestError, get, patch, post } from "../api";
import type { ApiError, Graph, JsonObject, ModelEndpoint, NodeType, Run, Version, Workflow, WorkflowDetail } from "../types";
import { ErrorList, errorsFrom } from "../ui";
import { useRun } from "../runs/useRun";
import { Inspector } from "../runs/Inspector";
import { CanvasContext } from "./context";
import { nodeComponents } from "./nodes";
import { FitWhenMeasured } from "./FitWhenMeasured";
import { TriggersPanel } from "./triggers/TriggersPanel";
import { DeploymentChanged, useDeployments } from "./useDeployments";
import { DRAG_MIME, Palette } from "./Palette";
import { NodePanel } from "./NodePanel";
import { TestRunPanel } from "./TestRunPanel";
import { VersionsPanel } from "./VersionsPanel";
import { ancestorsOf, defaultConfig, edgeId, errorsByNode, flowType, layout, toFlow, toGraph, uniqueId, type FlowNode } from "./graph";
import { useGraphHistory, type Snapshot } from "./useGraphHistory";

const AUTOSAVE_DELAY_MS = 800;

// "problems": saved as it is, with problems listed (only publishing and running need a valid graph);
// "conflict": someone else saved a newer revision, so this editor stops saving until it is reloaded.
type SaveState = "saved" | "problems" | "unsaved" | "saving" | "conflict" | "failed";

export function EditorPage() {
  const { workflowId } = useParams();
  const [loaded, setLoaded] = useState<{ workflow: WorkflowDetail; nodeTypes: NodeType[]; models: ModelEndpoint[]; workflows: Workflow[] } | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);

  useEffect(() => {
    Promise.all([
      get<WorkflowDetail>(`/api/workflows/${workflowId}`),
      get<NodeType[]>("/api/node-types"),
      get<ModelEndpoint[]>("/api/models"),
      get<Workflow[]>("/api/workflows"),
    ]).then(([workflow, nodeTypes, models, workflows]) => setLoaded({ workflow, nodeTypes, models, workflows }), (e) => setErrors(errorsFrom(e)));
  }, [workflowId]);

  if (errors.length) return <div className="page"><ErrorList errors={errors} /></div>;
  if (!loaded) return <p className="page muted">Loading…</p>;
  return (
    <ReactFlowProvider>
      <Editor key={workflowId} {...loaded} />
    </ReactFlowProvider>
  );
}

function isTyping(target: EventTarget | null): boolean {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

function Editor({ workflow: initialWorkflow, nodeTypes, models, workflows }: { workflow: WorkflowDetail; nodeTypes: NodeType[]; models: ModelEndpoint[]; workflows: Workflow[] }) {
  const workflowId = String(initialWorkflow.id);
  const [workflow, setWorkflow] = useState(initialWorkflow);
  const initialFlow = useMemo(() => toFlow(initialWorkflow.graph), [initialWorkflow]);
  const history = useGraphHistory(initialFlow);
  const { nodes, edges, commit, update, reset } = history;
  const { screenToFlowPosition } = useReactFlow();
  const [fitRequest, setFitRequest] = useState(0);
  const typesByName = useMemo(() => Object.fromEntries(nodeTypes.map((t) => [t.type, t])), [nodeTypes]);
  const components = useMemo(() => nodeComponents(nodeTypes.map((t) => t.type)), [nodeTypes]);

  // --- Autosave -----------------------------------------------------------------------------
  const graph = useMemo(() => toGraph(nodes, edges), [nodes, edges]);
  const graphJson = JSON.stringify(graph);
  const [savedJson, setSavedJson] = useState(() => JSON.stringify(toGraph(initialFlow.nodes, initialFlow.edges)));
  const [saving, setSaving] = useState(false);
  const [apiErrors, setApiErrors] = useState<{ errors: ApiError[]; graph: Graph }>({ errors: workflow.problems ?? [], graph });
  const [saveFailure, setSaveFailure] = useState("");
  const [conflict, setConflict] = useState(false);
  const revision = useRef(workflow.revision);

  const save = useCallback(async (): Promise<boolean> => {
    const json = JSON.stringify(toGraph(nodes, edges));
    if (json === savedJson) return true;
    if (conflict) return false;
    setSaving(true);
    try {
      const saved = await patch<WorkflowDetail>(`/api/workflows/${workflowId}`, { graph: JSON.parse(json), revision: revision.current });
      revision.current = saved.revision;
      setWorkflow((old) => ({ ...old, ...saved }));
      setSavedJson(json);
      setSaveFailure("");
      setApiErrors({ errors: saved.problems ?? [], graph: JSON.parse(json) });
      return true;
    } catch (error) {
      if (error instanceof ApiRequestError && error.status === 409) setConflict(true);
      else setSaveFailure(String(error instanceof Error ? error.message : error));
      return false;
    } finally {
      setSaving(false);
    }
  }, [nodes, edges, savedJson, workflowId, conflict]);

  useEffect(() => {
    if (graphJson === savedJson || conflict) return;
    const timer = window.setTimeout(() => void save(), AUTOSAVE_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [graphJson, savedJson, conflict, save]);

  // Leaving the editor through the app's own links saves what the autosave had not sent yet.
  const latestSave = useRef(save);
  latestSave.current = save;
  useEffect(() => () => void latestSave.current(), []);

  const problemCount = apiErrors.errors.length;
  const saveState: SaveState = saving ? "saving" : conflict ? "conflict" : graphJson === savedJson ? (problemCount ? "problems" : "saved") : saveFailure ? "failed" : "unsaved";
  const { byNode: nodeErrors, general: graphErrors } = useMemo(() => errorsByNode(apiErrors.errors, apiErrors.graph), [apiErrors]);

  useEffect(() => {
    const warn = (event: BeforeUnloadEvent) => {
      // A draft with problems is saved too: only work the server does not hold yet is worth a warning.
      if (saveState !== "saved" && saveState !== "problems") event.preventDefault();
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [saveState]);

  // --- Canvas edits -------------------------------------------------------------------------
  const onNodesChange = useCallback((changes: NodeChange<FlowNode>[]) => {
    const apply = (s: Snapshot) => ({ ...s, nodes: applyNodeChanges(changes, s.nodes) });
    if (changes.some((c) => c.type === "remove")) {
      const removed = new Set(changes.flatMap((c) => (c.type === "remove" ? [c.id] : [])));
      commit((s) => ({ nodes: apply(s).nodes, edges: s.edges.filter((e) => !removed.has(e.source) && !removed.has(e.target)) }));
    } else update(apply);
  }, [commit, update]);

  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    const apply = (s: Snapshot) => ({ ...s, edges: applyEdgeChanges(changes, s.edges) });
    if (changes.some((c) => c.type === "remove")) commit(apply);
    else update(apply);
  }, [commit, update]);

  const onConnect = useCallback((connection: Connection) => {
    if (connection.source === connection.target) return;
    const branch = connection.sourceHandle && connection.sourceHandle !== "__main__" ? connection.sourceHandle : undefined;
    const edge: Edge = { ...connection, id: edgeId({ source: connection.source, target: connection.target, branch }) };
    commit((s) => ({ ...s, edges: addEdge(edge, s.edges) }));
  }, [commit]);

  const addNode = useCallback((type: string, position?: { x: number; y: number }) => {
    const nodeType = typesByName[type];
    if (!nodeType) return;
    commit((s) => {
      const id = uniqueId(type, s.nodes.map((n) => n.id));
      const at = position ?? screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 });
      const node: FlowNode = { id, type: flowType(type), position: at, selected: true, data: { node: { type, name: nodeType.title, config: defaultConfig(nodeType) } } };
      return { ...s, nodes: [...s.nodes.map((n) => ({ ...n, selected: false })), node] };
    });
  }, [commit, typesByName, screenToFlowPosition]);

  function onDrop(event: DragEvent) {
    event.preventDefault();
    const type = event.dataTransfer.getData(DRAG_MIME);
    if (type) addNode(type, screenToFlowPosition({ x: event.clientX - 110, y: event.clientY - 30 }));
  }

  // Typing into one node's form is one undo step, not one per keystroke.
  const lastFormEdit = useRef<{ id: string; at: number } | null>(null);
  const updateNode = useCallback((id: string, node: FlowNode["data"]["node"]) => {
    const now = Date.now();
    const sameBurst = lastFormEdit.current?.id === id && now - lastFormEdit.current.at < 1000;
    lastFormEdit.current = { id, at: now };
    (sameBurst ? update : commit)((s) => ({ ...s, nodes: s.nodes.map((n) => (n.id === id ? { ...n, data: { node } } : n)) }));
  }, [commit, update]);

  // After an undo or redo the next form edit is a step of its own, never part of the burst before.
  const undo = useCallback(() => {
    lastFormEdit.current = null;
    history.undo();
  }, [history]);
  const redo = useCallback(() => {
    lastFormEdit.current = null;
    history.redo();
  }, [history]);

  const deleteNode = useCallback((id: string) => {
    commit((s) => ({ nodes: s.nodes.filter((n) => n.id !== id), edges: s.edges.filter((e) => e.source !== id && e.target !== id) }));
  }, [commit]);

  const tidy = useCallback(() => {
    commit((s) => ({ ...s, nodes: layout(s.nodes, s.edges) }));
    setFitRequest((n) => n + 1);
  }, [commit]);

  /** Take the server's draft as it is (a restored version, a newer revision saved elsewhere). */
  const loadDraft = useCallback((fresh: WorkflowDetail, { undoable }: { undoable: boolean }) => {
    const flow = toFlow(fresh.graph);
    revision.current = fresh.revision;
    setWorkflow(fresh);
    if (undoable) commit(() => flow);
    else reset(flow);
    setSavedJson(JSON.stringify(toGraph(flow.nodes, flow.edges)));
    setApiErrors({ errors: fresh.problems ?? [], graph: fresh.graph });
    setSaveFailure("");
    setConflict(false);
    setFitRequest((n) => n + 1);
  }, [commit, reset]);

  async function reloadDraft() {
    try {
      loadDraft(await get<WorkflowDetail>(`/api/workflows/${workflowId}`), { undoable: false });
      setNotice("Loaded the draft as it was saved elsewhere.");
    } catch (error) {
      setActionErrors(errorsFrom(error));
    }
  }

  // --- Keyboard: undo/redo, copy/paste (Delete/Backspace is React Flow's own) --------------
  const clipboard = useRef<Snapshot | null>(null);
  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      if (isTyping(event.target) || !(event.ctrlKey || event.metaKey)) return;
      const key = event.key.toLowerCase();
      if (key === "z" && !event.shiftKey) undo();
      else if ((key === "z" && event.shiftKey) || key === "y") redo();
      else if (key === "c") {
        const picked = nodes.filter((n) => n.selected);
        const ids = new Set(picked.map((n) => n.id));
        clipboard.current = { nodes: picked, edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
        return;
      } else if (key === "v" && clipboard.current?.nodes.length) {
        const copied = clipboard.current;
        commit((s) => {
          const taken = s.nodes.map((n) => n.id);
          const rename = new Map<string, string>();
          for (const n of copied.nodes) {
            const id = uniqueId(n.data.node.type, taken);
            taken.push(id);
            rename.set(n.id, id);
          }
          const pasted = copied.nodes.map((n) => ({ ...structuredClone(n), id: rename.get(n.id)!, selected: true, position: { x: n.position.x + 40, y: n.position.y + 40 } }));
          const pastedEdges = copied.edges.map((e) => {
            const source = rename.get(e.source)!;
            const target = rename.get(e.target)!;
            const branch = e.sourceHandle && e.sourceHandle !== "__main__" ? e.sourceHandle : undefined;
            return { ...e, source, target, id: edgeId({ source, target, branch }), selected: false };
          });
          return { nodes: [...s.nodes.map((n) => ({ ...n, selected: false })), ...pasted], edges: [...s.edges, ...pastedEdges] };
        });
      } else return;
      event.preventDefault();
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [undo, redo, nodes, edges, commit]);

  // --- Publish, test run --------------------------------------------------------------------
  const [notice, setNotice] = useState("");
  const [actionErrors, setActionErrors] = useState<ApiError[]>([]);
  const [searchParams, setSearchParams] = useSearchParams();
  const runId = searchParams.get("run");
  const live = useRun(runId);
  const [starting, setStarting] = useState(false);
  const [tab, setTab] = useState<"node" | "run" | "triggers" | "versions">(runId ? "run" : "node");
  const { deployments, changed: deploymentChanged } = useDeployments(workflowId, workflow.published_version);
  const draftDiffers = workflow.unpublished_changes || graphJson !== savedJson;

  async function publish() {
    setActionErrors([]);
    if (!(await save())) return setActionErrors([{ path: "", message: "The draft could not be saved, so it was not published." }]);
    try {
      const { version } = await post<Version>(`/api/workflows/${workflowId}/publish`);
      const unchanged = version === workflow.published_version;
      setWorkflow((old) => ({ ...old, published_version: version, unpublished_changes: false }));
      setNotice(unchanged ? `Nothing changed since version ${version}.` : `Published version ${version}.`);
    } catch (error) {
      setActionErrors(errorsFrom(error));
    }
  }

  async function startRun(inputs: JsonObject) {
    setActionErrors([]);
    setStarting(true);
    try {
      if (!(await save())) return setActionErrors([{ path: "", message: "The draft could not be saved, so it was not run." }]);
      const run = await post<Run>(`/api/workflows/${workflowId}/runs`, { inputs, version: "draft", trigger: "editor" });
      setSearchParams({ run: String(run.id) });
    } catch (error) {
      setActionErrors(errorsFrom(error));
    } finally {
      setStarting(false);
    }
  }

  // --- Side panel ---------------------------------------------------------------------------
  const selected = nodes.filter((n) => n.selected);
  const single = selected.length === 1 ? selected[0] : null;
  const singleId = single?.id;
  useEffect(() => {
    if (singleId) setTab("node");
  }, [singleId]);

  const inputNode = graph.nodes.find((n) => n.type === "input");
  const suggestions = useMemo(() => {
    if (!single) return [];
    const fields = ((inputNode?.config.fields as JsonObject[] | undefined) ?? []).map((f) => `inputs.${String(f.name)}`);
    const upstream = ancestorsOf(single.id, edges).filter((id) => id !== inputNode?.id).flatMap((id) => [`nodes.${id}.output`]);
    return [...fields, ...upstream];
  }, [single, edges, inputNode]);

  const workflowNames = useMemo(() => new Map(workflows.map((w) => [String(w.id), w.name])), [workflows]);
  const decorations = useMemo(
    () => ({ nodeTypes: typesByName, errors: nodeErrors, runNodes: live.runNodes, streamed: live.streamed, workflowNames, deployments }),
    [typesByName, nodeErrors, live.runNodes, live.streamed, workflowNames, deployments],
  );
  return (
    <div className="editor">
      <div className="toolbar">
        <Link to="/workflows" className="muted">Workflows</Link>
        <span className="muted">/</span>
        <b>{workflow.name}</b>
        <span className={`save-state save-${saveState}`} data-testid="save-state" data-state={saveState}>
          {saveState === "saved" ? "Saved" : saveState === "saving" ? "Saving…" : saveState === "problems" ? `Saved · ${problemCount} problem${problemCount === 1 ? "" : "s"}` : saveState === "conflict" ? "Not saved: changed elsewhere" : saveState === "failed" ? `Not saved: ${saveFailure}` : "Unsaved changes"}
        </span>
        {conflict && <button onClick={() => void reloadDraft()} title="Load the draft someone else saved; your last change is not kept">Reload</button>}
        <span className="spacer" />
        <button onClick={undo} disabled={!history.canUndo} title="Undo (Ctrl+Z)">Undo</button>
        <button onClick={redo} disabled={!history.canRedo} title="Redo (Ctrl+Shift+Z)">Redo</button>
        <button onClick={tidy} title="Arrange the nodes in layers">Tidy</button>
        <span className="muted" data-testid="live-version">{workflow.published_version ? `live: v${workflow.published_version}${workflow.unpublished_changes ? " · draft differs" : ""}` : "not published"}</span>
        <button onClick={() => void publish()}>Publish</button>
        <button className="primary" onClick={() => setTab("run")}>Test run</button>
      </div>
      {(graphErrors.length > 0 || actionErrors.length > 0 || notice) && (
        <div className="banner">
          <ErrorList errors={[...graphErrors, ...actionErrors]} />
          {notice && <p className="notice" onClick={() => setNotice("")}>{notice}</p>}
        </div>
      )}
      <div className="editor-body">
        <Palette nodeTypes={nodeTypes} onAdd={(type) => addNode(type)} />
        <div className="canvas" onDrop={onDrop} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }}>
          <CanvasContext.Provider value={decorations}>
            <ReactFlow
              nodes={nodes}
              edges={edges}
              nodeTypes={components}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onNodeDragStart={history.checkpoint}
              deleteKeyCode={["Backspace", "Delete"]}
              proOptions={{ hideAttribution: true }}
            >
              <FitWhenMeasured request={fitRequest} />
              <Background gap={20} />
              <MiniMap pannable zoomable />
              <Controls />
            </ReactFlow>
          </CanvasContext.Provider>
        </div>
        <aside className="side-panel">
          <div className="tabs">
            <button className={tab === "node" ? "active" : ""} onClick={() => setTab("node")}>Node</button>
            <button className={tab === "run" ? "active" : ""} onClick={() => setTab("run")}>Test run</button>
            <button className={tab === "triggers" ? "active" : ""} onClick={() => setTab("triggers")}>Triggers</button>
            <button className={tab === "versions" ? "active" : ""} onClick={() => setTab("versions")}>Versions</button>
          </div>
          {tab === "node" && (single ? (
            <>
              {live.run && (
                <details className="last-run" open>
                  <summary>In the test run</summary>
                  <Inspector run={live.run} nodeId={single.id} nodeType={single.data.node.type} node={live.runNodes.get(single.id)} streamed={live.streamed.get(single.id)} events={live.events} onResumed={() => void live.refresh()} />
                </details>
              )}
              <DeploymentChanged.Provider value={deploymentChanged}>
                <NodePanel
                  key={single.id}
                  id={single.id}
                  node={single.data.node}
                  nodeType={typesByName[single.data.node.type]}
                  errors={nodeErrors.get(single.id) ?? []}
                  suggestions={suggestions}
                  modelNames={models.map((m) => m.name)}
                  workflows={workflows.filter((w) => String(w.id) !== workflowId)}
                  onChange={(node) => updateNode(single.id, node)}
                  onDelete={() => deleteNode(single.id)}
                />
              </DeploymentChanged.Provider>
            </>
          ) : (
            <p className="muted panel-hint">
              {selected.length > 1 ? `${selected.length} nodes selected. Ctrl+C / Ctrl+V copies them; Delete removes them.` : "Select a node to edit it. Drag node types from the left onto the canvas; connect a node's outlet on its right to the left side of another."}
            </p>
          ))}
          {tab === "run" && <TestRunPanel inputNode={inputNode} agentNodes={graph.nodes.filter((n) => n.type === "agent")} live={live} onStart={(inputs) => void startRun(inputs)} starting={starting} errors={[]} />}
          {tab === "triggers" && (
            <TriggersPanel workflowId={workflowId} liveVersion={workflow.published_version} draftDiffers={draftDiffers} inputNode={inputNode} />
          )}
          {tab === "versions" && (
            <VersionsPanel
              workflowId={workflowId}
              liveVersion={workflow.published_version}
              draftDiffers={draftDiffers}
              onRestored={(restored, version) => {
                loadDraft(restored, { undoable: true });
                setNotice(`The draft is now a copy of version ${version}. Undo brings back what it held.`);
              }}
            />
          )}
        </aside>
      </div>
    </div>
  );
}
