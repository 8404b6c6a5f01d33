// What the router decided for each of a node's calls in a run (the answer's trace records it under
// metadata.routing): the candidates, the predicted acceptability against the threshold, the pick,
// the model that answered and every escalation with its reason.
import { useEffect, useState } from "react";
import { get, query } from "../api";
import type { TracePage } from "../types";
import { formatMs } from "../ui";
import type { RoutingDecision } from "./types";
import "./routing.css";

export function RoutingDecisions({ runId, nodeId, finishedAt }: { runId: string | number; nodeId: string; finishedAt: string | null | undefined }) {
  const [decisions, setDecisions] = useState<RoutingDecision[]>([]);
  useEffect(() => {
    // Asked again when the node finishes: its last call's trace is written then.
    get<TracePage>(`/api/traces${query({ run: String(runId), node: nodeId })}`).then(
      (page) => setDecisions(page.results.map((t) => t.metadata?.routing as unknown as RoutingDecision | undefined).filter((d): d is RoutingDecision => !!d).reverse()),
      () => setDecisions([]), // the inspector shows the node without it
    );
  }, [runId, nodeId, finishedAt]);
  if (decisions.length === 0) return null;
  return (
    <section className="routing-decision" data-testid="routing-decisions" data-count={decisions.length}>
      <h4>Routing</h4>
      {decisions.map((d, i) => (
        <dl key={i} className="facts" data-testid="routing-decision" data-chosen={d.chosen} data-answered={d.answered}>
          {decisions.length > 1 && <><dt>Call</dt><dd>{i + 1}</dd></>}
          <dt>Router</dt><dd>{d.router}{d.trained ? "" : " (untrained: the strong model)"}</dd>
          <dt>Candidates</dt><dd>{d.candidates.join(" → ")}</dd>
          <dt>Score</dt><dd>{d.acceptability ? d.acceptability.map((a) => a.toFixed(3)).join(", ") : "—"}{d.threshold !== null && d.threshold !== undefined ? ` against threshold ${d.threshold.toFixed(3)}` : ""}</dd>
          <dt>Chosen</dt><dd><code>{d.chosen}</code></dd>
          <dt>Answered</dt><dd><code>{d.answered}</code></dd>
          <dt>Escalations</dt><dd>{d.escalations.length === 0 ? "none" : d.escalations.map((e) => `${e.model}: ${e.why}`).join("; ")}</dd>
          <dt>Decision</dt><dd>{formatMs(d.decision_ms)}{d.embedding ? ` (${d.embedding} embedding${d.loaded_embedder ? ", loaded it first" : ""})` : ""}</dd>
        </dl>
      ))}
    </section>
  );
}
