"""How a node's deployment routes its model calls: shadow compares, student falls back to the
teacher on output the node cannot use. The models here are replies chosen per model name (the
`make_trace` seam that execution.call_model fills with real clients), so each case is exact."""

import dataclasses

import pytest

from distillation.models import ShadowComparison
from distillation.selectors import savings
from distillation.services import deployment_call, deployment_set
from orchestra.engine import ModelCall
from tests.conftest import make_workspace
from workflows import runs, services
from workflows.models import Trace

SCHEMA = {"type": "object", "required": ["label"], "properties": {"label": {"type": "string"}}}


def json_workflow(workspace):
    graph = {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "q", "type": "string"}]}},
            {
                "id": "classify",
                "type": "llm",
                "config": {"model": "teacher", "prompt": "{{ inputs.q }}", "output": "json", "json_schema": SCHEMA},
            },
            {"id": "end", "type": "output", "config": {"outputs": {"a": "{{ nodes.classify.output }}"}}},
        ],
        "edges": [{"source": "start", "target": "classify"}, {"source": "classify", "target": "end"}],
    }
    return services.workflow_create(workspace=workspace, name="classify", graph=graph)


@pytest.fixture
def node(django_db):
    workspace, user, _ = make_workspace()
    for name in ("teacher", "student"):
        services.model_endpoint_save(
            workspace=workspace,
            name=name,
            fields={"backend": "transformers", "model": f"/models/{name}"},
            trusted_path=True,
        )
    workflow = json_workflow(workspace)
    run, _ = runs.run_start(workflow=workflow, inputs={"q": "is tea hot?"}, version="draft", enqueue=False)
    call = ModelCall(
        node_id="classify",
        call_key="classify#a1#j0",
        model="teacher",
        messages=[{"role": "user", "content": "is tea hot?"}],
        temperature=None,
        max_tokens=8,
        stop=None,
        metadata={},
    )
    return workflow, run, call, user


def replying(run, call, replies: dict[str, str]):
    """make_trace answering each model with its fixed reply (unsaved, as the real one returns it)."""

    def make_trace(*, model: str, call_key: str, stream: bool) -> Trace:
        return Trace(
            workspace_id=run.workspace_id,
            workflow_id=run.workflow_id,
            node_id=call.node_id,
            run=run,
            call_key=call_key,
            messages=call.messages,
            model=model,
            output=replies[model],
            latency_ms=10.0 if model == "teacher" else 2.0,
            cost=0.01 if model == "teacher" else 0.0,
        )

    return make_trace


def test_shadow_answers_with_the_teacher_and_records_json_equal_replies_as_agreeing(node):
    workflow, run, call, user = node
    deployment_set(workflow=workflow, node_id="classify", state="shadow", model="student", user=user)
    used = deployment_call(
        run=run,
        call=call,
        make_trace=replying(
            run, call, {"teacher": '{"label": "hot", "n": 1}', "student": '```json\n{"n": 1, "label": "hot"}\n```'}
        ),
    )

    assert (used.model, used.call_key) == ("teacher", call.call_key)
    comparison = ShadowComparison.objects.get(workflow=workflow)
    assert comparison.agreement is True
    assert comparison.student_trace.call_key == call.call_key + "#shadow"
    assert (comparison.teacher_latency_ms, comparison.student_latency_ms) == (10.0, 2.0)
    assert (comparison.teacher_cost, comparison.student_cost) == (0.01, 0.0)
    (entry,) = savings(workflow=workflow)["nodes"]  # side by side on the savings page
    sides = ("teacher_latency_ms", "student_latency_ms", "teacher_cost", "student_cost")
    assert [entry["shadow"][side] for side in sides] == [10.0, 2.0, 0.01, 0.0]


def test_shadow_records_different_replies_as_disagreeing(node):
    workflow, run, call, user = node
    deployment_set(workflow=workflow, node_id="classify", state="shadow", model="student", user=user)
    deployment_call(
        run=run,
        call=call,
        make_trace=replying(run, call, {"teacher": '{"label": "hot"}', "student": '{"label": "cold"}'}),
    )
    assert ShadowComparison.objects.get(workflow=workflow).agreement is False


def test_student_answers_when_its_reply_fits_the_schema(node):
    workflow, run, call, user = node
    deployment_set(workflow=workflow, node_id="classify", state="student", model="student", user=user)
    used = deployment_call(
        run=run,
        call=call,
        make_trace=replying(run, call, {"teacher": '{"label": "hot"}', "student": '{"label": "warm"}'}),
    )
    assert (used.model, used.call_key, used.output) == ("student", call.call_key, '{"label": "warm"}')
    assert Trace.objects.filter(run=run).count() == 1


def test_student_falls_back_to_the_teacher_when_its_reply_breaks_the_schema(node):
    workflow, run, call, user = node
    deployment_set(workflow=workflow, node_id="classify", state="student", model="student", user=user)
    used = deployment_call(
        run=run,
        call=call,
        make_trace=replying(run, call, {"teacher": '{"label": "hot"}', "student": '{"colour": "red"}'}),
    )
    assert (used.model, used.call_key) == ("teacher", call.call_key)  # what a resumed run replays
    rejected = Trace.objects.get(run=run, model="student")
    assert rejected.call_key == call.call_key + "#rejected"


def test_a_failing_shadow_student_is_a_failed_trace_counted_in_the_shadow_report(node):
    from workflows.execution import model_call_trace

    workflow, run, call, user = node
    deployment_set(workflow=workflow, node_id="classify", state="shadow", model="student", user=user)
    teacher_only = replying(run, call, {"teacher": '{"label": "hot"}'})

    def real_student(*, model, call_key, stream):  # the real call: /models/student is no model at all
        if model == "teacher":
            return teacher_only(model=model, call_key=call_key, stream=stream)
        return model_call_trace(run, call, model=model, call_key=call_key, stream=stream)

    def broken_before_calling(*, model, call_key, stream):  # fails before any call is made or traced
        if model == "teacher":
            return teacher_only(model=model, call_key=call_key, stream=stream)
        raise RuntimeError("no connection to the student")

    used = deployment_call(run=run, call=call, make_trace=real_student)
    second = dataclasses.replace(call, call_key="classify#a2#j0")
    deployment_call(run=run, call=second, make_trace=broken_before_calling)

    assert used.model == "teacher"
    failed = Trace.objects.filter(run=run, model="student").order_by("call_key")
    assert [(t.call_key, t.status) for t in failed] == [
        ("classify#a1#j0#shadow", "error"),
        ("classify#a2#j0#shadow", "error"),
    ]
    assert all(t.error for t in failed) and "no connection to the student" in failed[1].error
    comparisons = ShadowComparison.objects.filter(workflow=workflow).order_by("call_key")
    assert [(c.student_trace_id, c.agreement) for c in comparisons] == [(t.id, False) for t in failed]
    (entry,) = savings(workflow=workflow)["nodes"]
    shadow = entry["shadow"]
    assert (shadow["calls"], shadow["agreement"], shadow["student_errors"]) == (2, 0.0, 2)
    assert (shadow["teacher_latency_ms"], shadow["student_latency_ms"]) == (10.0, None)  # it answered none
