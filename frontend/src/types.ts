// Shapes of the Orchestra HTTP API (see docs/api.md and DESIGN.md); only what the app reads.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface ApiError {
  path: string;
  message: string;
}

export interface User {
  id: number;
  username: string;
}

export interface Workspace {
  id: number | string;
  name: string;
}

export interface Session {
  user: User;
  workspace: Workspace;
}

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
}

export interface NodeType {
  type: string;
  title: string;
  description: string;
  category: string;
  config_schema: JsonSchema;
  outlets: string[];
  dynamic?: boolean; // outlets also come from config.branches[].name
  dynamic_outlets?: boolean;
}

export type OnError = "fail" | "continue" | "branch";


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

export type RunStatus = "queued" | "running" | "waiting" | "succeeded" | "failed" | "cancelled";
export type NodeStatus = "queued" | "running" | "succeeded" | "failed" | "skipped" | "waiting" | "cancelled";

export interface Workflow {
  id: number | string;
  name: string;
  description?: string;
  graph: Graph;
  published_version: number | null;
  last_run: { id: string | number; status: RunStatus; finished_at: string | null } | null;
  created_at: string;
  updated_at: string;
}

export interface Version {
  version: number;
  created_at: string;
  graph?: Graph;
}

export interface NodeRun {
  node_id: string;
  status: NodeStatus;
  input: JsonValue;
  output: JsonValue;
  error: JsonValue;
  attempts: number;
  started_at: string | null;
  finished_at: string | null;
  model: string | null;
  tokens_in: number | null;
  tokens_out: number | null;
  cost: number | string | null;
  latency_ms: number | null;
}

export interface Run {
  id: string | number;
  workflow: string | number;
  version: number | string | null;
  status: RunStatus;
  trigger?: string;
  inputs: JsonObject;
  outputs: JsonValue;
  error: JsonValue;
  started_at: string | null;
  finished_at: string | null;
  created_at: string;
  tokens_in?: number | null;
  tokens_out?: number | null;
  cost?: number | string | null;
  nodes: NodeRun[];
}

export interface RunEvent {
  seq: number;
  type: string;
  node_id: string | null;
  data: JsonObject | null;
  at: string;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

export interface ModelEndpoint {
  name: string;
  backend: "openai" | "transformers";
  model: string;
  base_url: string | null;
  has_api_key: boolean;
  price_in: number | string | null;
  price_out: number | string | null;
  is_default: boolean;
}

export interface Trace {
  id: string | number;
  workflow: string | number | null;
  version: number | string | null;
  node_id: string;
  run: string | number | null;
  model: string;
  messages: { role: string; content: string }[];
  output: string;
  tokens_in: number;
  tokens_out: number;
  latency_ms: number;
  cost: number | string | null;
  status: string;
  error: JsonValue;
  metadata: JsonObject;
  golden_output: string | null;
  created_at: string;
}
