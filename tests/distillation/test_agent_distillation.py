"""Distilling an agent node, on the real servers: its runs' turns become verified trajectories in
the preview, a job trains on them and evaluates step by step, the student shadows every step
(agreement by AST match), serves the node, and savings count the agent's steps. Trajectories built
by hand (broken calls, failed tools, golden labels, refused approvals) check the records exactly."""

import json

import pytest

from distillation.models import ShadowComparison
from distillation.services import deployment_call, deployment_set, job_plan, job_preview
from distillation.services.records import selected_traces, trace_records
from orchestra.engine import ModelCall
from tests.conftest import make_workspace
from tests.distillation.helpers import TINY_JOB, student_model, wait_job
from tests.platform.test_runs_api import create_published
from workflows import runs, services
from workflows.models import NodeRun, Trace

LOOKUP_ORDER = {
    "nodes": [
        {
            "id": "start",
            "type": "input",
            "config": {"fields": [{"name": "order_id", "type": "string", "required": True}]},
        },
        {"id": "find", "type": "template", "config": {"template": "order {{ inputs.order_id }}: shipped"}},
        {"id": "end", "type": "output", "config": {"outputs": {"status": "{{ nodes.find.output }}"}}},
    ],
    "edges": [{"source": "start", "target": "find"}, {"source": "find", "target": "end"}],
}
LOOKUP_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "",
        "parameters": {"type": "object", "required": ["order_id"], "properties": {"order_id": {"type": "string"}}},
    },
}


def support_graph(tools: list[dict]) -> dict:
    agent = {
        "id": "support",
        "type": "agent",
        "config": {
            "model": "auto",
            "instructions": "You help customers.",
            "task": "{{ inputs.q }}",
            "tools": tools,
            "tool_choice": "required",
            "max_steps": 1,
            "max_tokens": 72,
        },
    }
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": [{"name": "q", "type": "string"}]}},
            agent,
            {"id": "end", "type": "output", "config": {"outputs": {"a": "{{ nodes.support.output }}"}}},
        ],
        "edges": [{"source": "start", "target": "support"}, {"source": "support", "target": "end"}],
    }


@pytest.fixture
def trainer(platform):
    worker = platform.start_worker(queues="training", beat=False)
    yield
    if worker.poll() is None:
        platform.kill_worker(worker)


def run_agent(api, workflow_id: str, questions: list[str]) -> list[dict]:
    run_ids = [
        api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"q": q}}).json()["id"] for q in questions
    ]
    finished = [api.wait_run(run_id, timeout=180) for run_id in run_ids]
    assert all(run["status"] == "succeeded" for run in finished), finished
    return finished


def test_an_agent_node_is_distilled_shadowed_and_served_like_an_llm_node(api, tiny_models, trainer):
    lookup_id = create_published(api, LOOKUP_ORDER, name="Lookup order")
    workflow_id = create_published(api, support_graph([{"kind": "workflow", "workflow": lookup_id}]), name="support")
    run_agent(api, workflow_id, [f"where is order {n}?" for n in range(5)])
    body = {
        "workflow": workflow_id,
        "node_id": "support",
        "student": student_model(api, tiny_models["student"]),
        "method": "sft",
        "config": TINY_JOB | {"data": {"min_examples": 4, "validation_fraction": 0.2, "test_fraction": 0.3}},
    }

    preview = api.post("/api/distillations/preview", json=body).json()
    assert preview["refusals"] == [] and preview["matched"] == 5  # one trajectory per run, both turns in it
    check = preview["verification"]
    assert check["checked"] == 5 and check["passed"] == 5 and check["required"] == ["format", "execution"]
    assert check["format"]["passed"] == 5 and check["execution"]["passed"] == 5  # constrained calls, a tool that ran
    assert check["semantic"]["unknown"] == 5  # no approval, no golden label, no judge
    judged = api.post(
        "/api/distillations/preview", json=body | {"filters": {"verified": ["semantic"], "judge": "tiny"}}
    )
    semantic = judged.json()["verification"]["semantic"]  # the judge answered {"accepted": ...} for each
    assert semantic["unknown"] == 0 and semantic["passed"] + semantic["failed"] == 5

    job = wait_job(api, api.post("/api/distillations", json=body).json()["id"], timeout=240)
    assert job["status"] == "succeeded", job["error"]
    steps = job["report"]["after"]["steps"]
    assert steps["steps"] == 2 * steps["trajectories"] and steps["tool_steps"] == steps["trajectories"]
    assert steps["should_stop_accuracy"] is None  # tool_choice required: stopping was never the model's choice
    assert job["report"]["verdict"].startswith("Student takes the teacher's step on")

    assert api.post(f"/api/distillations/{job['id']}/deploy", json={"name": "support-student"}).status_code == 201
    deployment = f"/api/workflows/{workflow_id}/nodes/support/deployment"
    assert api.post(deployment, json={"state": "shadow", "model": "support-student"}).json()["state"] == "shadow"
    (shadowed,) = run_agent(api, workflow_id, ["where is order 77?"])
    compared = ShadowComparison.objects.filter(workflow_id=workflow_id).order_by("created_at")
    assert [(c.call_key, c.kind) for c in compared] == [("support#a1#s1", "tool_calls"), ("support#a1#final", "reply")]
    assert all(c.student_trace.call_key == c.call_key + "#shadow" for c in compared)

    assert api.post(deployment, json={"state": "student"}).json()["state"] == "student"
    (served,) = run_agent(api, workflow_id, ["where is order 78?"])
    answered = Trace.objects.filter(run_id=served["id"], node_id="support").exclude(call_key__contains="#rejected")
    assert {t.model for t in answered} <= {"support-student", "tiny"} and any(
        t.model == "support-student" for t in answered
    )

    savings = api.get(f"/api/workflows/{workflow_id}/savings").json()
    (node,) = [n for n in savings["nodes"] if n["node_id"] == "support"]
    assert node["agent"]["runs"] == 7 and node["agent"]["steps"] == 14 and node["agent"]["tool_calls"] >= 7
    assert node["shadow"]["calls"] == 2 and set(node["shadow"]["by_kind"]) == {"tool_calls", "reply"}


# --- trajectories built by hand ---------------------------------------------------------------


@pytest.fixture
def agent_node(django_db):
    workspace, user, _ = make_workspace()
    services.model_endpoint_save(
        workspace=workspace,
        name="teacher",
        trusted_path=True,
        fields={"backend": "transformers", "model": "/models/teacher"},
    )
    graph = support_graph(
        [
            {
                "kind": "http",
                "name": "lookup_order",
                "parameters": LOOKUP_TOOL["function"]["parameters"],
                "url": "https://shop.example.com/{{ args.order_id }}",
            }
        ]
    )
    graph["nodes"][1]["config"] |= {"model": "teacher", "tool_choice": "auto", "max_steps": 3, "output": "json"}
    graph["nodes"].append({"id": "ok", "type": "approval", "config": {"prompt": "Send it?"}})
    graph["edges"] = [
        graph["edges"][0],
        {"source": "support", "target": "ok"},
        {"source": "ok", "target": "end", "branch": "approved"},
    ]
    workflow = services.workflow_create(workspace=workspace, name="support", graph=graph)
    return workflow, user


def lookup(order: str, call_id: str = "c1", name: str = "lookup_order") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps({"order_id": order})}}


def record_run(
    workflow,
    order: str,
    *,
    result: str = '{"status": "shipped"}',
    call: dict | None = None,
    answers: tuple[str, ...] = ('{"status": "shipped"}',),
    golden: dict | None = None,
    approved: bool | None = None,
) -> None:
    """One agent run's turns as traces: a lookup turn, then the answer (and JSON retries)."""
    run, _ = runs.run_start(workflow=workflow, inputs={"q": order}, version="draft", enqueue=False)
    call = call or lookup(order)
    start = [{"role": "system", "content": "You help customers."}, {"role": "user", "content": order}]
    after = start + [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": result},
    ]
    answer_keys = ["support#a1#s2"] + [f"support#a1#final#j{retry}" for retry in range(len(answers) - 1)]
    turns = [("support#a1#s1", start, "", [call])]
    turns += [(key, after, text, None) for key, text in zip(answer_keys, answers)]
    for key, messages, output, calls in turns:
        Trace.objects.create(
            workspace=workflow.workspace,
            workflow=workflow,
            node_id="support",
            run=run,
            call_key=key,
            model="teacher",
            messages=messages,
            output=output,
            tools=[LOOKUP_TOOL],
            tool_calls=calls,
            golden_output=(golden or {}).get(key),
        )
    if approved is not None:
        NodeRun.objects.filter(run=run, node_id="ok").update(status="succeeded", output={"approved": approved})


def test_agent_runs_become_trajectories_cut_at_golden_turns_and_verified(agent_node):
    workflow, _ = agent_node
    record_run(workflow, "A1")
    record_run(workflow, "A2", answers=("It shipped.", '{"status": "shipped"}'))  # a JSON retry
    record_run(workflow, "A3", call=lookup("A3", name="track_parcel"))  # a tool that is not offered
    record_run(workflow, "A4", result="Error: HTTPStatusError: 503")  # the tool failed
    record_run(
        workflow,
        "A5",
        golden={
            "support#a1#s1": '<tool_call>\n{"name": "lookup_order", "arguments": {"order_id": "A-5"}}\n</tool_call>'
        },
    )
    record_run(workflow, "A6", approved=False)
    record_run(workflow, "A7", approved=True)

    node = workflow.graph["nodes"][1]
    traces = selected_traces(workspace=workflow.workspace, workflow=workflow, node=node, models=["teacher"])
    made = trace_records(traces=traces, node=node, teacher="teacher")
    records = {r["messages"][1]["content"]: r for r in made}
    assert len(records) == 7 and all(r["trajectory"] for r in records.values())
    assert records["A2"]["output"] == '{"status": "shipped"}' and len(records["A2"]["messages"]) == 4
    assert records["A1"]["turns"] == [{"tool_choice": "auto"}, {"tool_choice": "auto"}]
    cut = records["A5"]  # the person corrected the call: the record ends at that turn
    assert len(cut["messages"]) == 2 and "A-5" in cut["golden_output"] and cut["turns"] == [{"tool_choice": "auto"}]
    assert (records["A6"]["outcome"], records["A7"]["outcome"], records["A1"]["outcome"]) == (
        {"approved": False},
        {"approved": True},
        {},
    )

    def preview(**filters) -> dict:
        body = {
            "workflow": str(workflow.id),
            "node_id": "support",
            "student": "Qwen/Qwen2-0.5B-Instruct",
            "method": "sft",
            "filters": filters,
            "config": {"data": {"min_examples": 1}},
        }
        return job_preview(plan=job_plan(workspace=workflow.workspace, body=body))["verification"]

    check = preview()
    assert check["format"] == {"passed": 6, "failed": 1} and check["execution"] == {"passed": 6, "failed": 1}
    assert check["semantic"] == {"passed": 2, "failed": 1, "unknown": 4}  # A5 labelled, A7 approved; A6 refused
    assert check["passed"] == 5
    assert preview(verified=[])["passed"] == 7 and preview(verified=["semantic"])["passed"] == 2


def test_shadow_compares_an_agent_step_by_its_tool_calls_and_a_student_call_must_fit_the_tools(agent_node):
    workflow, user = agent_node
    services.model_endpoint_save(
        workspace=workflow.workspace,
        name="student",
        trusted_path=True,
        fields={"backend": "transformers", "model": "/models/student"},
    )
    run, _ = runs.run_start(workflow=workflow, inputs={"q": "A1"}, version="draft", enqueue=False)
    call = ModelCall(
        node_id="support",
        call_key="support#a1#s1",
        model="teacher",
        messages=[{"role": "user", "content": "Where is A1?"}],
        temperature=None,
        max_tokens=40,
        stop=None,
        metadata={},
        tools=[LOOKUP_TOOL],
        tool_choice="auto",
    )

    def make_trace(calls: dict[str, dict]):
        def make(*, model: str, call_key: str, stream: bool) -> Trace:
            return Trace(
                workspace_id=run.workspace_id,
                workflow_id=run.workflow_id,
                node_id="support",
                run=run,
                call_key=call_key,
                messages=call.messages,
                model=model,
                output="",
                tools=call.tools,
                tool_calls=[calls[model]],
            )

        return make

    deployment_set(workflow=workflow, node_id="support", state="shadow", model="student", user=user)
    reordered = {"id": "c9", "type": "function", "function": {"name": "lookup_order", "arguments": '{"order_id":"A1"}'}}
    used = deployment_call(run=run, call=call, make_trace=make_trace({"teacher": lookup("A1"), "student": reordered}))
    assert used.model == "teacher"
    comparison = ShadowComparison.objects.get(workflow=workflow)
    assert (comparison.agreement, comparison.kind, comparison.call_key) == (True, "tool_calls", "support#a1#s1")

    deployment_set(workflow=workflow, node_id="support", state="student", user=user)
    used = deployment_call(
        run=run,
        call=call,
        make_trace=make_trace({"teacher": lookup("A1"), "student": lookup("A1", name="delete_order")}),
    )
    assert used.model == "teacher"  # the student named a tool nobody offered
    assert Trace.objects.filter(run=run, model="student", call_key="support#a1#s1#rejected").exists()
