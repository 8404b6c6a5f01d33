// The editor's one store: nodes and edges with undo/redo. Every structural edit goes through
// `commit`, which remembers the state before it; drag positions only join history at drag start.
import { useCallback, useRef, useState } from "react";
import type { Edge } from "@xyflow/react";
import type { FlowNode } from "./graph";

export interface Snapshot {
  nodes: FlowNode[];
  edges: Edge[];
}

const LIMIT = 100;

export function useGraphHistory(initial: Snapshot) {
  const [present, setPresent] = useState<Snapshot>(initial);
  const past = useRef<Snapshot[]>([]);
  const future = useRef<Snapshot[]>([]);
  const current = useRef(present);
  current.current = present;
  const [, setVersion] = useState(0); // re-render when only the stacks change

  const checkpoint = useCallback(() => {
    past.current = [...past.current.slice(-LIMIT + 1), current.current];
    future.current = [];
    setVersion((v) => v + 1);
  }, []);

  /** Apply an edit that undo should be able to reverse. */
  const commit = useCallback((edit: (state: Snapshot) => Snapshot) => {
    checkpoint();
    setPresent((state) => edit(state));
  }, [checkpoint]);

  /** Apply a change that is not its own undo step (selection, drag in progress, measurements). */
  const update = useCallback((edit: (state: Snapshot) => Snapshot) => setPresent((state) => edit(state)), []);

  const reset = useCallback((state: Snapshot) => {
    past.current = [];
    future.current = [];
    setPresent(state);
  }, []);

  const undo = useCallback(() => {
    const previous = past.current.pop();
    if (!previous) return;
    future.current.push(current.current);
    setPresent(previous);
  }, []);

  const redo = useCallback(() => {
    const next = future.current.pop();
    if (!next) return;
    past.current.push(current.current);
    setPresent(next);
  }, []);

  return {
    ...present,
    commit,
    update,
    checkpoint,
    reset,
    undo,
    redo,
    canUndo: past.current.length > 0,
    canRedo: future.current.length > 0,
  };
}
