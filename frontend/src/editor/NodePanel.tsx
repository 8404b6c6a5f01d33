// Side panel for the selected node: name, config form from its schema, run policy and, for LLM and agent nodes, distillation.
import { useParams } from "react-router";
import type { ApiError, GraphNode, JsonObject, NodeType, OnError } from "../types";
import { ErrorList } from "../ui";
import { ConfigForm, type FormContext } from "./ConfigForm";
import { FIELD_GROUPS } from "./fieldGroups";
import { ToolPicker } from "./tools/ToolPicker";
import { NodeDistillation } from "../distill/NodeDistillation";
import { NodeRouting } from "../routing/NodeRouting";

// Fields drawn by a widget of their own, by the `format` in their schema.
const WIDGETS: FormContext["widgets"] = { tools: ToolPicker };

type EditableNode = Omit<GraphNode, "id" | "position">;

export function NodePanel({ id, node, nodeType, errors, suggestions, modelNames, workflows, onChange, onDelete }: {
  id: string;
  node: EditableNode;
  nodeType: NodeType | undefined;
  errors: ApiError[];
  suggestions: string[];
  modelNames: string[];
  workflows: { id: string | number; name: string }[];
  onChange: (node: EditableNode) => void;
  onDelete: () => void;
}) {
  const { workflowId } = useParams();
  const retry = node.retry ?? { attempts: 1, backoff_s: 0 };
  const setRetry = (patch: Partial<typeof retry>) => onChange({ ...node, retry: { ...retry, ...patch } });
  return (
    <div className="node-panel" data-testid="node-panel" data-node-id={id}>
      <div className="panel-head">
        <h2>{nodeType?.title ?? node.type}</h2>
        <code className="muted">{id}</code>
      </div>
      {nodeType?.description && <p className="hint">{nodeType.description}</p>}
      <ErrorList errors={errors.map((e) => ({ path: e.path, message: e.message }))} />
      <div className="field">
        <label className="field-label">Name</label>
        <input name="name" value={node.name ?? ""} placeholder={id} onChange={(e) => onChange({ ...node, name: e.target.value || undefined })} />
      </div>
      {nodeType ? (
        <ConfigForm
          schema={nodeType.config_schema}
          config={node.config}
          onChange={(config: JsonObject) => onChange({ ...node, config })}
          form={{ root: nodeType.config_schema, errors, suggestions, modelNames, workflows, widgets: WIDGETS }}
          groups={FIELD_GROUPS[node.type]}
        />
      ) : (
        <p className="error">Unknown node type “{node.type}”.</p>
      )}
      {node.type !== "input" && node.type !== "output" && (
        <details className="policy">
          <summary>When it fails</summary>
          <div className="field">
            <label className="field-label">Attempts</label>
            <input name="retry.attempts" type="number" min={1} value={retry.attempts} onChange={(e) => setRetry({ attempts: Number(e.target.value) })} />
          </div>
          <div className="field">
            <label className="field-label">Backoff (s)</label>
            <input name="retry.backoff_s" type="number" min={0} step="any" value={retry.backoff_s} onChange={(e) => setRetry({ backoff_s: Number(e.target.value) })} />
          </div>
          <div className="field">
            <label className="field-label">Timeout (s)</label>
            <input name="timeout_s" type="number" min={0} step="any" value={node.timeout_s ?? ""} onChange={(e) => onChange({ ...node, timeout_s: e.target.value === "" ? undefined : Number(e.target.value) })} />
          </div>
          <div className="field">
            <label className="field-label">On error</label>
            <select name="on_error" value={node.on_error ?? "fail"} onChange={(e) => onChange({ ...node, on_error: e.target.value as OnError })}>
              <option value="fail">fail the run</option>
              <option value="continue">continue with no output</option>
              <option value="branch">follow the error outlet</option>
            </select>
          </div>
        </details>
      )}
      {(node.type === "llm" || node.type === "agent") && workflowId && (
        <NodeDistillation workflowId={workflowId} nodeId={id} maxTokens={Number(node.config.max_tokens ?? 256)} modelNames={modelNames} />
      )}
      {(node.type === "llm" || node.type === "agent") && workflowId && (
        <NodeRouting workflowId={workflowId} nodeId={id} model={String(node.config.model ?? "auto")} modelNames={modelNames} />
      )}
      <button className="danger" onClick={onDelete}>Delete node</button>
    </div>
  );
}
