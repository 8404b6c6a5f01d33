import { useCallback, useEffect, useRef } from "react";
import { getNodesBounds, getViewportForBounds, useNodesInitialized, useReactFlow, useStoreApi } from "@xyflow/react";

// Below this zoom the nodes' 12 px text is too small to read (0.5 drew 6 px text): a graph that
// would need less is shown from its start, at this zoom, and the rest is a pan away.
export const READABLE_ZOOM = 0.8;
const PADDING_PX = 40;

/** Fit the graph into the canvas, never smaller than READABLE_ZOOM and never larger than 1:1.
 * Answers false, fitting nothing, while a node is not measured yet. */
export function useFitReadable(): () => boolean {
  const { setViewport } = useReactFlow();
  const store = useStoreApi();
  return useCallback(() => {
    const { width, height, nodeLookup } = store.getState();
    const nodes = [...nodeLookup.values()];
    if (!nodes.length || !width || !height || nodes.some((n) => !n.measured.width || !n.measured.height)) return false;
    const bounds = getNodesBounds(nodes);
    const fit = getViewportForBounds(bounds, width, height, 0.1, 1, `${PADDING_PX}px`);
    if (fit.zoom >= READABLE_ZOOM) {
      void setViewport(fit);
      return true;
    }
    const zoom = READABLE_ZOOM;
    // The flow runs left to right: start at its left edge; centre it vertically when it fits.
    const tall = bounds.height * zoom > height - 2 * PADDING_PX;
    const y = tall ? PADDING_PX - bounds.y * zoom : height / 2 - (bounds.y + bounds.height / 2) * zoom;
    void setViewport({ x: PADDING_PX - bounds.x * zoom, y, zoom });
    return true;
  }, [setViewport, store]);
}

/**
 * Fit once the nodes are measured (fitting before frames them wrongly), and again whenever
 * `request` changes (after Tidy, after a restored version replaced the graph).
 */
export function FitWhenMeasured({ request = 0 }: { request?: number }) {
  const measured = useNodesInitialized();
  const fit = useFitReadable();
  const done = useRef<number | null>(null);
  useEffect(() => {
    if (!measured || done.current === request) return;
    // Next frame: React Flow takes new positions into its store after this effect has run.
    const frame = window.requestAnimationFrame(() => {
      if (fit()) done.current = request;
    });
    return () => window.cancelAnimationFrame(frame);
  }, [measured, request, fit]);
  return null;
}
