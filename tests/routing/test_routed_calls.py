"""A routed call, case by case: which candidate answers, when a cheap answer escalates, when an
error falls back, what the trace records. The models are replies chosen per model name (the
`make_trace` seam that execution fills with real clients), so each case is exact."""

import functools
import json

import pytest

from orchestra.engine import ModelCall
from orchestra.routing import Example, train
from orchestra.routing import features
from routing import services
from routing.calls import embedders_preload, routed_gateway_call, routed_node_call
from workflows.errors import ValidationFailed
from tests.conftest import make_workspace
from workflows import runs
from workflows import services as workflow_services
from workflows.models import Trace

SCHEMA = {"type": "object", "required": ["label"], "properties": {"label": {"type": "string"}}}


def graph(model: str, output: str = "json") -> dict:
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "q", "type": "string"}]}},
            {
                "id": "classify",
                "type": "llm",
                "config": {
                    "model": model,
                    "prompt": "{{ inputs.q }}",
                    "output": output,
                    "json_schema": SCHEMA if output == "json" else None,
                },
            },
            {"id": "end", "type": "output", "config": {"outputs": {"a": "{{ nodes.classify.output }}"}}},
        ],
        "edges": [{"source": "start", "target": "classify"}, {"source": "classify", "target": "end"}],
    }


@pytest.fixture
def workspace(django_db):
    workspace, _, _ = make_workspace()
    for name in ("small", "large"):
        workflow_services.model_endpoint_save(
            workspace=workspace,
            name=name,
            fields={"backend": "transformers", "model": f"/models/{name}"},
            trusted_path=True,
        )
    return workspace


def node_call(workspace, model: str = "auto", output: str = "json", q: str = "is tea hot?"):
    workflow = workflow_services.workflow_create(workspace=workspace, name="classify", graph=graph(model, output))
    run, _ = runs.run_start(workflow=workflow, inputs={"q": q}, version="draft", enqueue=False)
    call = ModelCall(
        node_id="classify",
        call_key="classify#a1#j0",
        model=model,
        messages=[{"role": "user", "content": q}],
        temperature=None,
        max_tokens=8,
        stop=None,
        metadata={},
    )
    return workflow, run, call


def replying(workspace, replies: dict, *, run=None):
    """make_trace answering each model with its reply; an exception instance is raised (and traced)."""

    def make_trace(*, model: str, call_key: str, stream: bool) -> Trace:
        trace = Trace(
            workspace=workspace,
            workflow_id=run.workflow_id if run else None,
            run=run,
            node_id="classify",
            call_key=call_key,
            messages=[],
            model=model,
            cost=1.0 if model == "small" else 10.0,
        )
        if isinstance(replies[model], Exception):
            trace.status, trace.error = "error", str(replies[model])
            trace.save()
            raise replies[model]
        trace.output = replies[model]
        return trace

    return make_trace


@functools.cache
def _trained(candidates: tuple[str, ...]) -> str:
    examples = [
        Example(text=t.format(i), scores=s, costs=[1.0, 10.0])
        for i in range(10)
        for t, s in (("say hello to guest {}", [1.0, 1.0]), ("prove the theorem number {} about primes", [0.0, 1.0]))
    ]
    router, _ = train(examples, candidates=list(candidates), target=0.95)
    return json.dumps(router.as_dict())


def trained_state(candidates: list[str]) -> dict:
    """A router trained on real features (once per session): greetings are easy, proofs are hard."""
    return json.loads(_trained(tuple(candidates)))


def test_a_node_without_a_router_is_left_to_the_next_selector(workspace):
    _, run, call = node_call(workspace)
    assert routed_node_call(run=run, call=call, make_trace=replying(workspace, {})) is None


def test_an_untrained_router_sends_auto_to_the_strong_model_and_the_trace_records_why(workspace):
    workflow, run, call = node_call(workspace)
    router = services.router_create(
        workspace=workspace, name="triage", workflow=str(workflow.id), node_id="classify", candidates=["small", "large"]
    )
    used = routed_node_call(run=run, call=call, make_trace=replying(workspace, {"large": '{"label": "hot"}'}, run=run))
    assert (used.model, used.call_key) == ("large", call.call_key)
    decision = Trace.objects.get(pk=used.pk).metadata["routing"]
    assert decision | {"decision_ms": 0} == {
        "router": "triage",
        "router_id": str(router.id),
        "candidates": ["small", "large"],
        "trained": False,
        "acceptability": None,
        "threshold": None,
        "chosen": "large",
        "answered": "large",
        "escalations": [],
        "decision_ms": 0,
        "embedding": None,
        "loaded_embedder": False,
    }


def test_a_trained_router_gives_easy_prompts_to_the_cheap_model_and_hard_ones_to_the_strong(workspace):
    workflow, run, call = node_call(workspace, output="text", q="say hello to guest 42")
    router = services.router_create(
        workspace=workspace, name="triage", workflow=str(workflow.id), node_id="classify", candidates=["small", "large"]
    )
    router.state = trained_state(router.candidates)
    router.save()
    replies = replying(workspace, {"small": "hello", "large": "HELLO"}, run=run)
    assert routed_node_call(run=run, call=call, make_trace=replies).model == "small"
    call.messages = [{"role": "user", "content": "prove the theorem number 42 about primes"}]
    used = routed_node_call(run=run, call=call, make_trace=replies)
    assert used.model == "large"
    decision = used.metadata["routing"]
    assert decision["trained"] and decision["chosen"] == "large" and decision["acceptability"][0] < 0.5
    assert decision["decision_ms"] > 0 and (decision["embedding"], decision["loaded_embedder"]) == ("static", False)


def test_a_cheap_answer_that_breaks_the_nodes_schema_escalates_and_is_kept_as_rejected(workspace):
    workflow, run, call = node_call(workspace)
    router = services.router_create(
        workspace=workspace, name="triage", workflow=str(workflow.id), node_id="classify", candidates=["small", "large"]
    )
    router.state = {**trained_state(router.candidates), "threshold": 0.0}  # always the cheapest first
    router.save()
    used = routed_node_call(
        run=run,
        call=call,
        make_trace=replying(workspace, {"small": '{"colour": "red"}', "large": '{"label": "hot"}'}, run=run),
    )
    assert (used.model, used.call_key) == ("large", call.call_key)  # what a resumed run replays
    assert Trace.objects.get(run=run, model="small").call_key == call.call_key + "#rejected"
    [escalation] = used.metadata["routing"]["escalations"]
    assert escalation["model"] == "small" and "schema" in escalation["why"]


def test_a_cheap_refusal_escalates_and_streams_only_the_answer_used(workspace):
    workflow, run, call = node_call(workspace, output="text")
    tokens = []
    call.on_token = tokens.append
    router = services.router_create(
        workspace=workspace, name="triage", workflow=str(workflow.id), node_id="classify", candidates=["small", "large"]
    )
    router.state = {**trained_state(router.candidates), "threshold": 0.0}
    router.save()
    used = routed_node_call(
        run=run,
        call=call,
        make_trace=replying(workspace, {"small": "I'm sorry, I can't help with that.", "large": "It is hot."}, run=run),
    )
    assert used.model == "large" and used.metadata["routing"]["escalations"][0]["why"].startswith("refusal")
    assert tokens == []  # the strong model streams through make_trace itself; the refusal never reached the user


def test_a_candidate_that_errors_falls_back_to_the_next(workspace):
    workflow, run, call = node_call(workspace, output="text")
    router = services.router_create(
        workspace=workspace, name="triage", workflow=str(workflow.id), node_id="classify", candidates=["small", "large"]
    )
    router.state = {**trained_state(router.candidates), "threshold": 0.0}
    router.save()
    used = routed_node_call(
        run=run,
        call=call,
        make_trace=replying(workspace, {"small": TimeoutError("small timed out"), "large": "It is hot."}, run=run),
    )
    assert used.model == "large"
    assert used.metadata["routing"]["escalations"] == [{"model": "small", "why": "error: small timed out"}]
    assert Trace.objects.get(run=run, model="small").status == "error"


def test_a_node_may_name_a_router_and_a_default_router_answers_auto_for_nodes_without_one(workspace):
    services.router_create(workspace=workspace, name="cheap-first", candidates=["small", "large"])
    services.router_create(workspace=workspace, name="everyone", candidates=["small", "large"], is_default=True)
    _, run, call = node_call(workspace, model="cheap-first", output="text")
    replies = replying(workspace, {"large": "ok"}, run=run)
    assert routed_node_call(run=run, call=call, make_trace=replies).metadata["routing"]["router"] == "cheap-first"
    _, run, call = node_call(workspace, output="text")
    assert (
        routed_node_call(run=run, call=call, make_trace=replying(workspace, {"large": "ok"}, run=run)).metadata[
            "routing"
        ]["router"]
        == "everyone"
    )


def test_the_gateway_routes_auto_through_the_default_router_only(workspace):
    call = ModelCall(
        node_id="",
        call_key="",
        model="auto",
        messages=[{"role": "user", "content": "hi"}],
        temperature=None,
        max_tokens=8,
        stop=None,
        metadata={},
    )
    assert routed_gateway_call(workspace=workspace, call=call, make_trace=replying(workspace, {})) is None
    services.router_create(workspace=workspace, name="everyone", candidates=["small", "large"], is_default=True)
    used = routed_gateway_call(workspace=workspace, call=call, make_trace=replying(workspace, {"large": "hello"}))
    assert used.metadata["routing"]["answered"] == "large"


def test_a_router_trains_with_its_embedding_and_a_new_embedding_discards_the_classifier(workspace):
    with pytest.raises(ValidationFailed) as refused:
        services.router_create(workspace=workspace, name="triage", candidates=["small", "large"], embedding="bert")
    assert refused.value.errors == [{"path": "embedding", "message": "The embedding is one of static, minilm."}]
    router = services.router_create(workspace=workspace, name="triage", candidates=["small", "large"])
    assert router.embedding == "static"
    router.state = trained_state(router.candidates)
    router.save()
    services.router_update(router=router, fields={"embedding": "static"})
    assert router.state is not None  # unchanged: still trained
    services.router_update(router=router, fields={"embedding": "minilm"})
    router.refresh_from_db()
    assert (router.embedding, router.state, router.report) == ("minilm", None, None)


def test_preloading_loads_the_static_embedder_and_those_trained_routers_use(workspace):
    router = services.router_create(workspace=workspace, name="triage", candidates=["small", "large"])
    router.state = {**trained_state(router.candidates), "embedding": "minilm"}
    router.save()
    features.embedder.cache_clear()  # as in a process that just started
    assert not features.embedder("static").loaded and not features.embedder("minilm").loaded
    embedders_preload()
    assert features.embedder("static").loaded and features.embedder("minilm").loaded
