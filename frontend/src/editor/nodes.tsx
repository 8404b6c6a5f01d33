// Canvas node components: one per node type, all drawn inside the same NodeFrame.
import { memo, useEffect, type ReactNode } from "react";
import { Handle, Position, useStore, useUpdateNodeInternals, type NodeProps, type NodeTypes } from "@xyflow/react";
import type { JsonObject, JsonValue } from "../types";
import { useCanvas } from "./context";
import { MAIN_OUTLET, flowType, outletsOf, type FlowNode } from "./graph";
import { entryChip } from "./tools/toolEntries";

function excerpt(value: JsonValue | undefined, length = 80): string {
  const text = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

// How a node in shadow or student mode says so on the canvas (distillation deployments).
const deploymentHelp = {
  shadow: "Shadow mode: the student answers too, the teacher's answer is used, their agreement recorded",
  student: "Student mode: the distilled student answers this node",
} as const;

function NodeFrame({ id, data, selected, children }: NodeProps<FlowNode> & { children?: ReactNode }) {
  const { nodeTypes, errors, runNodes, streamed, deployments } = useCanvas();
  const nodeType = nodeTypes[data.node.type];
  const mainInUse = useStore((s) => s.edges.some((e) => e.source === id && (e.sourceHandle ?? MAIN_OUTLET) === MAIN_OUTLET));
  const outlets = outletsOf(data.node, nodeType, mainInUse);
  const deployment = deployments?.get(id);
  const nodeErrors = errors.get(id) ?? [];
  const status = runNodes.get(id)?.status;
  const tokens = streamed.get(id);
  const updateNodeInternals = useUpdateNodeInternals();
  const outletKey = outlets.join("|");
  // Handles change with the config (condition branches, on_error): React Flow must re-measure them.
  useEffect(() => {
    updateNodeInternals(id);
  }, [id, outletKey, updateNodeInternals]);

  // The main outlet is named only beside named outlets of the type's own (an approval's "any" answer).
  const mainLabel = nodeType?.outlets.length && !nodeType.dynamic ? "any" : null;
  const labelled = outlets.filter((name) => name !== MAIN_OUTLET || mainLabel);
  // The flow runs left to right: outlets spread evenly down the right edge, each labelled beside
  // its handle; the node grows to keep labels apart.
  const handleTop = (name: string) => `${(100 * (outlets.indexOf(name) + 1)) / (outlets.length + 1)}%`;
  const classes = ["flow-node", selected && "selected", nodeErrors.length && "invalid", status && `run-${status}`];
  return (
    <div className={classes.filter(Boolean).join(" ")} data-node-id={id} data-status={status ?? ""}
      style={{ minHeight: 36 + 20 * labelled.length }}>
      {data.node.type !== "input" && <Handle type="target" position={Position.Left} className="handle-in" />}
      <div className="flow-node-head">
        <span className={`type-chip type-${nodeType?.category ?? "other"}`}>{nodeType?.title ?? data.node.type}</span>
        <span className="flow-node-name">{data.node.name || id}</span>
        {status && <span className={`badge status-${status}`}>{status}</span>}
      </div>
      {deployment && deployment.state !== "teacher" && (
        <div className={`flow-node-deploy deploy-${deployment.state}`} title={deploymentHelp[deployment.state]} data-testid="deployment-badge" data-state={deployment.state}>
          <span className="deploy-chip">{deployment.state}</span> <code>{deployment.model ?? "student"}</code>
        </div>
      )}
      {children && <div className="flow-node-body" style={{ paddingRight: labelled.length ? 64 : undefined }}>{children}</div>}
      {tokens && status === "running" && <div className="flow-node-stream">{excerpt(tokens, 160)}</div>}
      {nodeErrors.length > 0 && (
        <div className="flow-node-errors" title={nodeErrors.map((e) => `${e.path}: ${e.message}`).join("\n")}>
          {nodeErrors.length === 1 ? nodeErrors[0].message : `${nodeErrors.length} problems`}
        </div>
      )}
      {labelled.length > 0 && (
        <div className="outlet-labels">
          {labelled.map((name) => (
            <span key={name} className={`outlet-label outlet-${name}`} style={{ top: handleTop(name) }}>{name === MAIN_OUTLET ? mainLabel : name}</span>
          ))}
        </div>
      )}
      {outlets.map((name) => (
        <Handle
          key={name}
          id={name}
          type="source"
          position={Position.Right}
          className={`handle-out ${name === "error" ? "handle-error" : ""}`}
          data-outlet={name}
          style={{ top: handleTop(name) }}
        />
      ))}
    </div>
  );
}

function InputNode(props: NodeProps<FlowNode>) {
  const fields = (props.data.node.config.fields as JsonObject[] | undefined) ?? [];
  return (
    <NodeFrame {...props}>
      {fields.length ? fields.map((f) => <code key={String(f.name)}>{String(f.name)}: {String(f.type ?? "string")}</code>) : <span className="muted">no fields</span>}
    </NodeFrame>
  );
}

function LlmNode(props: NodeProps<FlowNode>) {
  const config = props.data.node.config;
  return (
    <NodeFrame {...props}>
      <div className="muted">model: {String(config.model ?? "auto")}</div>
      <div className="prompt-excerpt">{excerpt(config.prompt) || <span className="muted">no prompt yet</span>}</div>
    </NodeFrame>
  );
}

const MAX_TOOL_CHIPS = 4;

function AgentNode(props: NodeProps<FlowNode>) {
  const { workflowNames } = useCanvas();
  const config = props.data.node.config;
  const tools = Array.isArray(config.tools) ? config.tools : [];
  const chips = tools.map((tool) => entryChip(tool, workflowNames ?? new Map()));
  return (
    <NodeFrame {...props}>
      <div className="muted">model: {String(config.model ?? "auto")} · {tools.length} tool{tools.length === 1 ? "" : "s"} · ≤{String(config.max_steps ?? 8)} steps</div>
      <div className="prompt-excerpt">{excerpt(config.task, 70) || <span className="muted">no task yet</span>}</div>
      {chips.length > 0 && (
        <div className="tool-chips">
          {chips.slice(0, MAX_TOOL_CHIPS).map((chip, i) => <code key={i}>{chip}</code>)}
          {chips.length > MAX_TOOL_CHIPS && <span className="muted">+{chips.length - MAX_TOOL_CHIPS}</span>}
        </div>
      )}
    </NodeFrame>
  );
}

function ConditionNode(props: NodeProps<FlowNode>) {
  const branches = (props.data.node.config.branches as JsonObject[] | undefined) ?? [];
  return (
    <NodeFrame {...props}>
      {branches.length === 0 && <span className="muted">no branches: always else</span>}
      {branches.map((b, i) => (
        <div key={i} className="branch-line">
          {b?.name ? <b>{String(b.name)}</b> : <span className="muted">unnamed</span>}{" "}
          {b?.when ? <code>{excerpt(b.when, 40)}</code> : <span className="muted">no condition yet</span>}
        </div>
      ))}
    </NodeFrame>
  );
}

function OutputNode(props: NodeProps<FlowNode>) {
  const outputs = (props.data.node.config.outputs as JsonObject | undefined) ?? {};
  return (
    <NodeFrame {...props}>
      {Object.keys(outputs).map((key) => <code key={key}>{key}</code>)}
    </NodeFrame>
  );
}

function HttpNode(props: NodeProps<FlowNode>) {
  const config = props.data.node.config;
  return (
    <NodeFrame {...props}>
      <code>{String(config.method ?? "GET")} {excerpt(config.url, 40)}</code>
    </NodeFrame>
  );
}

function ApprovalNode(props: NodeProps<FlowNode>) {
  return (
    <NodeFrame {...props}>
      <div className="prompt-excerpt">{excerpt(props.data.node.config.prompt, 70) || <span className="muted">no question yet</span>}</div>
    </NodeFrame>
  );
}

function GenericNode(props: NodeProps<FlowNode>) {
  const { nodeTypes } = useCanvas();
  return (
    <NodeFrame {...props}>
      <span className="muted">{excerpt(nodeTypes[props.data.node.type]?.description, 70)}</span>
    </NodeFrame>
  );
}

// memo: React Flow re-renders a node only when its own props change (as in its custom node examples).
const specific: NodeTypes = Object.fromEntries(Object.entries({
  input: InputNode, llm: LlmNode, agent: AgentNode, condition: ConditionNode, output: OutputNode, http: HttpNode, approval: ApprovalNode,
}).map(([type, component]) => [type, memo(component)]));
const Generic = memo(GenericNode);

/** React Flow's node component table for the given type names (unknown types get the generic frame). */
export function nodeComponents(typeNames: string[]): NodeTypes {
  return Object.fromEntries(typeNames.map((name) => [flowType(name), specific[name] ?? Generic]));
}
