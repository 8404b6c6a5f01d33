// Shapes of the Orchestra HTTP API (see docs/api.md and DESIGN.md). The API's bodies come from the
// types generated from its OpenAPI document (src/api/schema.d.ts, `npm run gen:types`); what is
// written out here is what that document leaves open (a node's config, event data, reports).

import type { components } from "./api/schema";

type Schemas = components["schemas"];

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type ApiError = Schemas["ErrorItem"];
export type User = Schemas["UserOut"];
export type Workspace = Schemas["WorkspaceOut"];
export type Session = Schemas["MeOut"];

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  format?: string;
  enum?: JsonValue[];
  default?: JsonValue;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: boolean | JsonSchema;
  minimum?: number;
  maximum?: number;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  minItems?: number;
  minLength?: number;
  exclusiveMinimum?: number;
  const?: JsonValue;
  pattern?: string;
  discriminator?: { propertyName: string; mapping?: Record<string, string> };
}

// The schema has a node type's config_schema as a free-form dict; the config form walks it as JSON Schema.
export type NodeType = Omit<Schemas["NodeTypeOut"], "config_schema"> & { config_schema: JsonSchema };

export type OnError = "fail" | "continue" | "branch";

/** One field of an input node's config: what a run's inputs hold. */
export interface InputField {
  name: string;
  type?: string; // string (default), number, integer, boolean, object, array
  required?: boolean;
  default?: JsonValue;
  description?: string;
}


export interface GraphNode {
  id: string;
  type: string;
  name?: string;
  position?: { x: number; y: number };
  config: JsonObject;
  retry?: { attempts: number; backoff_s: number; backoff_factor?: number };
  timeout_s?: number | null;
  on_error?: OnError;
}

export interface GraphEdge {
  source: string;
  target: string;
  branch?: string;
}

export interface Graph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export type RunStatus = Schemas["RunStatusEnum"];
export type NodeStatus = "queued" | "running" | "succeeded" | "failed" | "skipped" | "waiting" | "cancelled";

// The schema's graph nodes carry `config: {[key: string]: unknown}`; the editor reads a config as JSON.
type WithGraph<T> = Omit<T, "graph"> & { graph: Graph };

export type Workflow = WithGraph<Schemas["WorkflowOut"]>;
/** One workflow as reading, creating, saving and restoring it answer: with the draft's problems. */
export type WorkflowDetail = WithGraph<Schemas["WorkflowDetailOut"]>;

export type Version = Omit<Schemas["VersionOut"], "graph"> & { graph?: Graph };

// The schema has a node run's status as a plain string and its input and output as unknown.
export type NodeRun = Omit<Schemas["NodeRunOut"], "status" | "input" | "output"> & {
  status: NodeStatus;
  input: JsonValue;
  output: JsonValue;
  // An agent node's fields (its steps, what stopped it): neither stored with the node run nor served
  // by NodeRunOut yet, so the trajectory comes from the events until they are.
  fields?: { steps?: AgentStep[]; stopped_by?: string | null };
};

// The schema has inputs, outputs and waiting as free-form dicts.
type RunShape<T> = Omit<T, "inputs" | "outputs" | "waiting" | "nodes"> & {
  inputs: JsonObject;
  outputs: JsonObject | null;
  waiting: RunWaiting | null;
};
/** A run as the list of runs answers it: without its nodes. */
export type RunSummary = RunShape<Schemas["RunOut"]>;
export type Run = RunSummary & { nodes: NodeRun[] };
export type RunPage = Omit<Schemas["RunPage"], "results"> & { results: RunSummary[] };

/** What a waiting run waits for; a node waiting on a child run (a sub-workflow, a map item, an agent's tool) names it. */
export interface RunWaiting {
  node_id: string;
  prompt?: string | null;
  child_run?: string;
  child_node?: string;
  item?: number;
  tool?: string;
  step?: number;
}

// An event's data is a free-form dict in the schema; each event type's readers narrow it.
export type RunEvent = Omit<Schemas["RunEventOut"], "data"> & { data: JsonObject };

export type ModelEndpoint = Schemas["ModelOut"];

// The schema has a trace's messages and metadata as free-form dicts.
export type Trace = Omit<Schemas["TraceOut"], "messages" | "metadata"> & {
  messages: { role: string; content: string }[];
  metadata: JsonObject;
};
export type TracePage = Omit<Schemas["TracePage"], "results"> & { results: Trace[] };

// --- Distillation: jobs, node deployments, savings -------------------------------------------

export type DistillMethod = Schemas["DistillationMethodEnum"];
export type DistillMethodInfo = Schemas["MethodOut"];
export type JobStatus = Schemas["DistillationJobStatusEnum"];
export type DeploymentState = Schemas["StateEnum"];

export type DistillRequest = Schemas["JobIn"];

// The schema has the preview's method as a plain string.
export type DistillPreview = Omit<Schemas["PreviewOut"], "method"> & { method: DistillMethod };

export interface JobProgress {
  step: number;
  total_steps: number;
  loss: number;
  learning_rate: number;
  tokens_per_s: number;
  eta_s: number | null;
}

export interface LossPoint {
  step: number;
  loss: number;
  validation_loss?: number;
}

/** Metric dicts are free-form (nested sections like vs_teacher, speeds): the page renders what is there. */
export interface JobReport {
  baseline: JsonObject | null;
  after: JsonObject | null;
  teacher?: JsonObject | null;
  verdict?: string;
  table?: string;
  [key: string]: JsonValue | undefined;
}

// The schema has a job's method as a plain string and its progress, losses, report and artifacts as
// unknown JSON.
export type DistillationJob = Omit<Schemas["JobOut"], "method" | "config" | "progress" | "losses" | "report" | "artifacts"> & {
  method: DistillMethod;
  config: JsonObject;
  progress: JobProgress | null;
  losses: LossPoint[];
  report: JobReport | null;
  artifacts: { adapter?: string; merged?: string };
};

// An event's data is a free-form dict in the schema; each event type's readers narrow it.
export type JobEvent = Omit<Schemas["JobEventOut"], "data"> & { data: JsonObject };

export type NodeDeployment = Schemas["DeploymentOut"];
export type Savings = Schemas["SavingsOut"];

// --- Agents, tools and MCP servers ---------------------------------------------------------

/** One entry of an agent's `tools` config (orchestra/engine/tools.py), told apart by `kind`. */
export interface WorkflowToolSpec {
  kind: "workflow";
  workflow: string; // a workflow id of the workspace
  name?: string | null;
  description?: string;
}

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface HttpToolSpec {
  kind: "http";
  name: string;
  description: string;
  method: HttpMethod;
  url: string; // a template that sees args.<name>
  headers: Record<string, string>;
  body: null | string | JsonObject | JsonValue[];
  parameters: JsonObject; // a JSON Schema of type object
  timeout_s: number;
}

export interface McpToolSpec {
  kind: "mcp";
  server: string; // an MCP server's name
  tools: string[] | null; // null: all of its tools
}

export type ToolSpec = WorkflowToolSpec | HttpToolSpec | McpToolSpec;
export type ToolKind = ToolSpec["kind"];

export type McpTool = Schemas["McpToolOut"];
export type McpServer = Schemas["McpServerOut"];

/** A tool call as the model asked for it (OpenAI's shape). */
export interface ToolCallRequest {
  id: string;
  type: "function";
  function: { name: string; arguments: string }; // arguments: JSON text
}

/** Data of run events of type agent_turn, tool_called and tool_result. */
export interface AgentTurnData {
  key: string; // "<node>#a<attempt>#s<step>" or "...#final", "...#final#j<retry>"
  model: string;
  text: string;
  tool_calls: ToolCallRequest[];
  tokens_in: number;
  tokens_out: number;
  cost: number;
  latency_ms: number;
  final: boolean;
}

export interface ToolCalledData {
  call_key: string; // the turn's key + "#t<index>"
  step: number;
  tool: string;
  kind: ToolKind;
  arguments: string; // JSON text
}

export interface ToolResultData {
  call_key: string;
  step: number;
  tool: string;
  kind: ToolKind;
  result?: JsonValue;
  error?: string;
  latency_ms: number;
}

/** One model turn of a finished agent node, as stored with the node (its `steps`). */
export interface AgentStep {
  step: number;
  model: string;
  text: string;
  final: boolean;
  tool_calls: { id: string; name: string; arguments: string; result?: JsonValue; error?: string }[];
  tokens_in: number;
  tokens_out: number;
  cost: number;
  latency_ms: number;
}

/** A kind of model client (GET /api/model-backends): the one list the Models page offers. */
export type ModelBackend = Schemas["ModelBackendOut"];

// --- Triggers: webhooks and schedules (docs/triggers.md) ------------------------------------

export type ResponseMode = Schemas["ResponseModeEnum"];

/** What a webhook is made of, as the create and update endpoints take it (the form fills every field). */
export type WebhookFields = Required<Omit<Schemas["WebhookIn"], "secret">> & Pick<Schemas["WebhookIn"], "secret">;

/** One request the webhook received: what it was answered, the run it started or why it was refused. */
export type WebhookCall = Schemas["WebhookCallOut"];
export type Webhook = Schemas["WebhookOut"];
/** The answers to create and rotate: the only time the token (and so the URL) is sent. */
export type WebhookWithToken = Schemas["WebhookWithTokenOut"];

export type OverlapPolicy = Schemas["OverlapPolicyEnum"];

// The schema has a schedule's inputs as a free-form dict; the form edits them as JSON.
export type ScheduleFields = Omit<Required<Schemas["ScheduleIn"]>, "inputs"> & { inputs: JsonObject };

export type Schedule = Omit<Schemas["ScheduleOut"], "inputs"> & { inputs: JsonObject };

// --- Chat -------------------------------------------------------------------------------------

export type Conversation = Schemas["ConversationOut"];
export type ConversationPage = Schemas["ConversationPage"];
/** One conversation with its messages (GET /api/conversations/<id>). */
export type ConversationDetail = Schemas["ConversationDetailOut"];

// --- Access: API keys, members and credentials -------------------------------------------------

export type ApiKey = Schemas["ApiKeyOut"];
/** The answer to creating a key: the only time the key itself is sent. */
export type NewApiKey = Schemas["ApiKeyCreatedOut"];
export type Role = Schemas["RoleEnum"];
export type Member = Schemas["MemberOut"];
/** A stored secret, by name: its value is never read back. */
export type Credential = Schemas["CredentialOut"];
