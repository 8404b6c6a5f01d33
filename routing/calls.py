"""Routed calls: the selectors routing registers on the model-selection seams (node calls and
gateway calls), and the cascade they share.

Every process that answers calls loads the embedders beforehand (`embedders_preload`, connected in
routing/apps.py), so no routed call waits for one.

The router picks the cheapest candidate predicted to answer well (an untrained router picks the
strong model). Cascade: a cheaper answer that fails the verifier (JSON or schema, tool calls, a
refusal, low confidence) is kept under `<key>#rejected` and the next candidate is asked. Fallback:
a candidate that errors (or times out) is traced as failed and the next one is asked. The strong
model's answer, or its error, is final. The answer's trace records the decision under
`metadata.routing`.
"""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError

from orchestra.engine import ModelCall
from orchestra.routing import Router as TrainedRouter
from orchestra.routing import decide, reply_problem
from orchestra.routing.features import DEFAULT_EMBEDDING, embedder
from routing.models import Router
from routing.selectors import ROUTING_KEY, embeddings_in_use, router_for_call, verifier_of
from workflows.model_calls import MakeTrace
from workflows.models import Run, Trace, Workspace

log = logging.getLogger(__name__)


def routed_node_call(*, run: Run, call: ModelCall, make_trace: MakeTrace) -> Trace | None:
    """A node call whose model is `auto` (with a router for the node or a default one) or a router's name.
    An evaluation run's calls are never routed: the model it evaluates answers (distillation's selector)."""
    if run.trigger == "evaluation":
        return None
    router = router_for_call(
        workspace_id=run.workspace_id, workflow_id=run.workflow_id, node_id=call.node_id, model=call.model
    )
    if router is None:
        return None
    node_config = next((n.get("config", {}) for n in run.graph.get("nodes", []) if n.get("id") == call.node_id), {})
    return routed_answer(router=router, call=call, node_config=node_config, make_trace=make_trace)


def routed_gateway_call(*, workspace: Workspace, call: ModelCall, make_trace: MakeTrace) -> Trace | None:
    """A gateway call for `auto` (with a default router) or a router's name."""
    router = router_for_call(workspace_id=workspace.id, workflow_id=None, node_id="", model=call.model)
    if router is None:
        return None
    return routed_answer(router=router, call=call, node_config={}, make_trace=make_trace)


def decision_of(router: Router, call: ModelCall) -> dict:
    """Which candidate the router picks for the call, and what it saw."""
    if not router.state:
        return {
            "router": router.name,
            "router_id": str(router.id),
            "candidates": list(router.candidates),
            "trained": False,
            "acceptability": None,
            "threshold": None,
            "chosen": router.candidates[-1],
            "decision_ms": 0.0,
            "embedding": None,
            "loaded_embedder": False,
        }
    trained = TrainedRouter.from_dict(router.state)
    decision = decide(trained, call.messages)
    return {
        "router": router.name,
        "router_id": str(router.id),
        "candidates": list(router.candidates),
        "trained": True,
        "acceptability": decision.acceptability,
        "threshold": router.state.get("threshold"),
        "chosen": router.candidates[decision.chosen],
        "decision_ms": decision.latency_ms,
        "embedding": trained.embedding,
        "loaded_embedder": decision.loaded_embedder,
    }


def embedders_preload() -> None:
    """Load the static embedder (0.1 s, ~60 MB) and every other one a trained router decides with
    (the encoder: ~7 s, ~490 MB with torch), each warmed up by one prompt (the encoder's first
    forward pass costs a few hundred ms more than the next). Without the database (a worker that
    starts before it), the static one only: a router on the encoder then loads it on its first call."""
    try:
        names = {DEFAULT_EMBEDDING, *embeddings_in_use()}
    except DatabaseError as exc:
        log.warning("routing: which embedders routers use is unknown (%s); loading the static one only", exc)
        names = {DEFAULT_EMBEDDING}
    started = time.perf_counter()
    for name in sorted(names):
        embedder(name).encode(["warm up"])
    log.info("routing: embedders %s loaded in %.2f s", ", ".join(sorted(names)), time.perf_counter() - started)


def routed_answer(*, router: Router, call: ModelCall, node_config: dict, make_trace: MakeTrace) -> Trace:
    """The trace of the answer the call uses, stored under the call's own key (a resumed run replays it)."""
    decision = decision_of(router, call)
    verifier = verifier_of(router, node_config, response_format=call.response_format, tools=bool(call.tools))
    stream = not verifier.can_reject  # never stream an answer that may still be rejected
    escalations: list[dict] = []
    *cheaper, strong = router.candidates[router.candidates.index(decision["chosen"]) :]
    for model in cheaper:
        try:
            trace = make_trace(model=model, call_key=call.call_key, stream=stream)
        except DatabaseError:
            raise  # the platform's problem, not the candidate's: the run's own retries handle it
        except Exception as exc:  # an error or a timeout (its trace is saved): the next candidate answers
            escalations.append({"model": model, "why": f"error: {exc}"[:300]})
            continue
        problem = reply_problem(
            trace.output,
            verifier=verifier,
            tool_calls=trace.tool_calls,
            tools=call.tools,
            top_logprobs=trace.top_logprobs,
        )
        if problem is None:
            return _answered(trace, call, decision | {"answered": model, "escalations": escalations}, streamed=stream)
        trace.call_key += "#rejected"
        trace.save()
        escalations.append({"model": model, "why": problem})
    trace = make_trace(model=strong, call_key=call.call_key, stream=True)
    return _answered(trace, call, decision | {"answered": strong, "escalations": escalations}, streamed=True)


def _answered(trace: Trace, call: ModelCall, decision: dict, *, streamed: bool) -> Trace:
    trace.metadata = {**trace.metadata, ROUTING_KEY: decision}
    trace.save()
    if not streamed and call.on_token and trace.output:
        call.on_token(trace.output)  # the checked answer, in one piece
    return trace
