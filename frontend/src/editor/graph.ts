// Conversion between the stored graph JSON and React Flow's nodes/edges, plus outlets and layout.
import dagre from "@dagrejs/dagre";
import type { Edge, Node } from "@xyflow/react";
import type { ApiError, Graph, GraphEdge, GraphNode, JsonObject, JsonValue, NodeType } from "../types";

// The unnamed outlet of ordinary nodes: its edges carry no `branch`.
export const MAIN_OUTLET = "__main__";

// React Flow styles its own built-in "input"/"output"/"default" node types; prefixing ours avoids that.
export const flowType = (type: string) => `orchestra-${type}`;

export type FlowNodeData = { node: Omit<GraphNode, "id" | "position"> };
export type FlowNode = Node<FlowNodeData>;

/**
 * Outlets a node offers, in display order. A node has the unlabelled main outlet (edges with no
 * `branch`) plus the type's named outlets; a condition's outlets are its branches and `else` only,
 * and an output node ends the flow. A type with named outlets of its own (an approval's approved and
 * rejected) shows the main one only while an edge uses it (`mainInUse`), since they already cover it.
 * `error` exists while on_error is "branch".
 */
export function outletsOf(node: Pick<GraphNode, "type" | "config" | "on_error">, nodeType: NodeType | undefined, mainInUse = false): string[] {
  const outlets: string[] = [];
  if (nodeType?.dynamic) {
    const branches = Array.isArray(node.config.branches) ? (node.config.branches as JsonObject[]) : [];
    outlets.push(...branches.map((b) => String(b?.name ?? "")).filter(Boolean));
  } else if (node.type !== "output" && (!nodeType?.outlets.length || mainInUse)) {
    outlets.push(MAIN_OUTLET);
  }
  for (const name of nodeType?.outlets ?? []) if (!outlets.includes(name)) outlets.push(name);
  if (node.on_error === "branch" && !outlets.includes("error")) outlets.push("error");
  return outlets;
}

export function edgeId(edge: GraphEdge): string {
  return `${edge.source}-[${edge.branch ?? ""}]->${edge.target}`;
}

export function toFlow(graph: Graph): { nodes: FlowNode[]; edges: Edge[] } {
  let nodes = graph.nodes.map((graphNode): FlowNode => {
    const { id, position, ...node } = graphNode;
    return { id, type: flowType(node.type), position: position ?? { x: 0, y: 0 }, data: { node } };
  });
  const edges = graph.edges.map((edge): Edge => ({
    id: edgeId(edge),
    source: edge.source,
    target: edge.target,
    sourceHandle: edge.branch ?? MAIN_OUTLET,
  }));
  // Graphs written by hand or by the API have no positions: lay them out once.
  if (graph.nodes.some((node) => !node.position)) nodes = layout(nodes, edges);
  return { nodes, edges };
}

export function toGraph(nodes: FlowNode[], edges: Edge[]): Graph {
  return {
    nodes: nodes.map((flowNode) => ({
      id: flowNode.id,
      ...flowNode.data.node,
      position: { x: Math.round(flowNode.position.x), y: Math.round(flowNode.position.y) },
    })),
    edges: edges.map((edge) => {
      const branch = edge.sourceHandle && edge.sourceHandle !== MAIN_OUTLET ? edge.sourceHandle : undefined;
      return branch ? { source: edge.source, target: edge.target, branch } : { source: edge.source, target: edge.target };
    }),
  };
}

/** Default config for a new node: each property's schema `default`, so the form starts filled in. */
export function defaultConfig(nodeType: NodeType): JsonObject {
  const config: JsonObject = {};
  for (const [key, schema] of Object.entries(nodeType.config_schema.properties ?? {})) {
    if (schema.default !== undefined && schema.default !== null) config[key] = structuredClone(schema.default) as JsonValue;
  }
  return config;
}

export function uniqueId(base: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const stem = base.replace(/[^a-zA-Z0-9_]/g, "_");
  for (let n = 1; ; n++) {
    const candidate = `${stem}_${n}`;
    if (!used.has(candidate)) return candidate;
  }
}

/** Ids of every node upstream of `nodeId` (what its templates may reference). */
export function ancestorsOf(nodeId: string, edges: Pick<Edge, "source" | "target">[]): string[] {
  const parents = new Map<string, string[]>();
  for (const edge of edges) parents.set(edge.target, [...(parents.get(edge.target) ?? []), edge.source]);
  const seen = new Set<string>();
  const stack = [...(parents.get(nodeId) ?? [])];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id) || id === nodeId) continue;
    seen.add(id);
    stack.push(...(parents.get(id) ?? []));
  }
  return [...seen];
}

// Nodes are 220 px wide (styles.css); layers 60 px apart keep a 4–6 node flow readable when fitted.
const NODE_WIDTH = 220;

/** Tidy left-to-right layered layout. */
export function layout(nodes: FlowNode[], edges: Edge[]): FlowNode[] {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 36, ranksep: 60 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) g.setNode(node.id, { width: node.measured?.width ?? NODE_WIDTH, height: node.measured?.height ?? 90 });
  for (const edge of edges) g.setEdge(edge.source, edge.target);
  dagre.layout(g);
  return nodes.map((node) => {
    const placed = g.node(node.id);
    const width = node.measured?.width ?? NODE_WIDTH;
    const height = node.measured?.height ?? 90;
    return { ...node, position: { x: placed.x - width / 2, y: placed.y - height / 2 } };
  });
}

/** API errors keyed by node id, with paths made relative to the node (`config.prompt`). */
export function errorsByNode(errors: ApiError[], graph: Graph): { byNode: Map<string, ApiError[]>; general: ApiError[] } {
  const byNode = new Map<string, ApiError[]>();
  const general: ApiError[] = [];
  for (const error of errors) {
    const nodeMatch = error.path.match(/^nodes\[(\d+)\]\.?(.*)$/);
    const edgeMatch = error.path.match(/^edges\[(\d+)\]/);
    const node = nodeMatch ? graph.nodes[Number(nodeMatch[1])] : undefined;
    if (node && nodeMatch) {
      byNode.set(node.id, [...(byNode.get(node.id) ?? []), { path: nodeMatch[2], message: error.message }]);
    } else if (edgeMatch && graph.edges[Number(edgeMatch[1])]) {
      const edge = graph.edges[Number(edgeMatch[1])];
      general.push({ path: `${edge.source} → ${edge.target}${edge.branch ? ` (${edge.branch})` : ""}`, message: error.message });
    } else {
      general.push(error);
    }
  }
  return { byNode, general };
}
