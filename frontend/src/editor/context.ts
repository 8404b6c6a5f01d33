// What node components need besides their own data: type info, validation errors, live run state.
import { createContext, useContext } from "react";
import type { ApiError, NodeDeployment, NodeRun, NodeType } from "../types";

export interface CanvasDecorations {
  nodeTypes: Record<string, NodeType>;
  errors: Map<string, ApiError[]>;
  runNodes: Map<string, Partial<NodeRun>>;
  streamed: Map<string, string>;
  workflowNames?: Map<string, string>; // by id: what an agent's workflow tools are called
  deployments?: Map<string, NodeDeployment>; // by node id: which model answers an llm or agent node
}

export const CanvasContext = createContext<CanvasDecorations>({
  nodeTypes: {},
  errors: new Map(),
  runNodes: new Map(),
  streamed: new Map(),
});

export const useCanvas = () => useContext(CanvasContext);
