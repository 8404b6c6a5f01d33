import { useEffect, useRef } from "react";
import { useNodesInitialized, useReactFlow } from "@xyflow/react";

/** Zoom to fit once, after React Flow has measured the nodes (fitting before frames them wrongly). */
export function FitWhenMeasured() {
  const measured = useNodesInitialized();
  const { fitView } = useReactFlow();
  const done = useRef(false);
  useEffect(() => {
    if (measured && !done.current) {
      done.current = true;
      void fitView({ padding: 0.2, maxZoom: 1 });
    }
  }, [measured, fitView]);
  return null;
}
