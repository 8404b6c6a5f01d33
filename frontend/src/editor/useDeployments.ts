// Which model answers each llm and agent node of the live version (teacher, shadow or student), so
// the canvas can say so; the distillation section reports its own changes through the context.
import { createContext, useCallback, useContext, useEffect, useState } from "react";
import { get } from "../api";
import type { NodeDeployment, Version } from "../types";

const DISTILLABLE = new Set(["llm", "agent"]);

export function useDeployments(workflowId: string, liveVersion: number | null) {
  const [deployments, setDeployments] = useState<Map<string, NodeDeployment>>(new Map());

  useEffect(() => {
    // Deployments belong to the published nodes: a node only in the draft has none (and a 404).
    if (!liveVersion) return;
    let cancelled = false;
    void (async () => {
      try {
        const live = await get<Version>(`/api/workflows/${workflowId}/versions/${liveVersion}`);
        const ids = (live.graph?.nodes ?? []).filter((n) => DISTILLABLE.has(n.type)).map((n) => n.id);
        const found = await Promise.all(ids.map((id) => get<NodeDeployment>(`/api/workflows/${workflowId}/nodes/${encodeURIComponent(id)}/deployment`)));
        if (!cancelled) setDeployments(new Map(found.map((d) => [d.node_id, d])));
      } catch {
        // Only decoration: the node panel's distillation section says what went wrong.
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [workflowId, liveVersion]);

  const changed = useCallback((deployment: NodeDeployment) => {
    setDeployments((old) => new Map(old).set(deployment.node_id, deployment));
  }, []);
  return { deployments, changed };
}

/** Called with a node's new deployment after the side panel moved it (shadow, promote, roll back). */
export const DeploymentChanged = createContext<((deployment: NodeDeployment) => void) | null>(null);
export const useDeploymentChanged = () => useContext(DeploymentChanged);
