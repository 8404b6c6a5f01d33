// The routing section of an llm or agent node's side panel: the node's own router (what it was
// trained to, a link to its page for compare, train and the curve), or a form to make one.
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { get, post } from "../api";
import type { ApiError } from "../types";
import { ErrorList, errorsFrom } from "../ui";
import { RouterForm, blankDraft, bodyOf } from "./RouterForm";
import type { Router } from "./types";
import "./routing.css";

export function NodeRouting({ workflowId, nodeId, model, modelNames }: {
  workflowId: string;
  nodeId: string;
  model: string; // the node's model setting: routing applies when it is auto or the router's name
  modelNames: string[];
}) {
  const [open, setOpen] = useState(false);
  const [router, setRouter] = useState<Router | null | undefined>(undefined); // undefined: not loaded
  const [errors, setErrors] = useState<ApiError[]>([]);

  const load = useCallback(async () => {
    try {
      const routers = await get<Router[]>("/api/routers");
      setRouter(routers.find((r) => r.workflow === workflowId && r.node_id === nodeId) ?? null);
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }, [workflowId, nodeId]);

  useEffect(() => {
    if (open) void load();
  }, [open, load]);

  const routes = router && (model === "auto" || model === router.name);
  return (
    <details className="policy node-routing" open={open} data-testid="node-routing" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Routing</summary>
      <ErrorList errors={router === undefined ? errors : []} />
      {router === undefined ? <p className="muted">Loading…</p> : router ? (
        <div data-testid="node-router" data-router={router.name} data-trained={router.trained}>
          <p>
            Router <Link to={`/routers?router=${router.id}`}>{router.name}</Link>: {router.candidates.map((c, i) => <span key={c}>{i > 0 && " → "}<code>{c}</code></span>)}
          </p>
          <p className="hint">
            {router.trained && router.summary
              ? <>Trained: at its threshold the strong model answers {Math.round((router.summary.shares.at(-1) ?? 1) * 100)}% of calls, PGR {router.summary.pgr === null ? "—" : `${Math.round(router.summary.pgr * 100)}%`}, cost saved {router.summary.cost_saved === null ? "—" : `${Math.round(router.summary.cost_saved * 100)}%`}.</>
              : <>Not trained yet: every call goes to the strong model. Compare and train it on its page.</>}
          </p>
          {!routes && <p className="hint warn">The node's model is <code>{model}</code>: set it to <code>auto</code> or <code>{router.name}</code> for the router to answer its calls.</p>}
        </div>
      ) : (
        <>
          <p className="hint">No router of its own: with model <code>auto</code> the node uses the workspace's default router, if there is one.</p>
          <RouterForm initial={blankDraft(`${nodeId}-router`, modelNames)} modelNames={modelNames} workspaceRouter={false} submitLabel="Create router" errors={errors}
            onSubmit={async (draft) => {
              setErrors([]);
              try {
                setRouter(await post<Router>("/api/routers", { ...bodyOf(draft, { workspaceRouter: false }), workflow: workflowId, node_id: nodeId }));
              } catch (error) {
                setErrors(errorsFrom(error));
              }
            }} />
        </>
      )}
    </details>
  );
}
