"""An approval in a workflow that a map item or an agent's workflow tool runs pauses the calling run,
which goes on from where it was once the child run is answered (on the child, or through the caller):
finished items and earlier agent steps are not run again, and no model call is made twice."""

import pytest

from tests.conftest import wait_until
from tests.platform.test_run_lifecycle import APPROVAL
from tests.platform.test_runs_api import create_published
from workflows.models import NodeRun, Run, RunEvent, Trace

ITEMS = [3, 5, 7]


def map_of_approvals(child_id: str, per_item: str) -> dict:
    """A model call, then a map running the approval workflow once per amount, concurrently: as the map's
    workflow, or through an inline sub-workflow node."""
    inputs = {"amount": "{{ item }}"}
    runs = (
        {"workflow": child_id, "inputs": inputs}
        if per_item == "workflow"
        else {"node": {"type": "subworkflow", "config": {"workflow": child_id, "inputs": inputs}}}
    )
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": []}},
            {"id": "draft", "type": "llm", "config": {"model": "auto", "prompt": "Refunds", "max_tokens": 4}},
            {"id": "each", "type": "map", "config": {"items": str(ITEMS), "concurrency": 2, **runs}},
            {"id": "end", "type": "output", "config": {"outputs": {"results": "{{ nodes.each.output }}"}}},
        ],
        "edges": [
            {"source": "start", "target": "draft"},
            {"source": "draft", "target": "each"},
            {"source": "each", "target": "end"},
        ],
    }


def waiting_on(api, run_id: str, **expected) -> dict:
    """The run's `waiting` document, once the run waits on what `expected` says."""

    seen = {}

    def matches():
        seen["run"] = run = api.get(f"/api/runs/{run_id}").json()
        waiting = run["waiting"] or {}
        return waiting if run["status"] == "waiting" and expected.items() <= waiting.items() else None

    try:
        return wait_until(matches, timeout=60, message=f"run {run_id} to wait on {expected}")
    except AssertionError as error:
        raise AssertionError(f"{error}; the run: {seen.get('run')}") from None


def child_for(waiting: dict) -> Run:
    return Run.objects.get(pk=waiting["child_run"])


@pytest.mark.parametrize("per_item", ["workflow", "inline sub-workflow"])
def test_a_map_item_whose_workflow_waits_pauses_the_map_which_goes_on_from_there(api, per_item):
    child_id = create_published(api, APPROVAL, name="Refund")
    parent_id = create_published(api, map_of_approvals(child_id, per_item), name="Refunds")

    parent = api.post(f"/api/workflows/{parent_id}/runs", json={"inputs": {}, "wait": 60}).json()
    assert parent["status"] == "waiting", parent
    first = parent["waiting"]
    assert (first["node_id"], first["item"], first["child_node"]) == ("each", 0, "ask")
    assert first["prompt"] == "Refund 3?" and child_for(first).parent_run_id is not None
    assert NodeRun.objects.get(run_id=parent["id"], node_id="each").status == "waiting"
    children = Run.objects.filter(parent_run_id=parent["id"])
    wait_until(lambda: children.filter(status="waiting").count() == len(ITEMS), timeout=60, message="all items")

    # Item 0 answered through the parent: the map goes on and waits on the next item.
    answer = api.post(f"/api/runs/{parent['id']}/resume", json={"node_id": "each", "value": {"approved": True}})
    assert answer.status_code == 202, answer.text
    second = waiting_on(api, parent["id"], item=1)
    assert second["child_run"] != first["child_run"] and second["prompt"] == "Refund 5?"

    # Item 2 answered on its own run while the parent waits on item 1: the parent keeps waiting on item 1.
    last = children.get(inputs={"amount": 7})
    answer = api.post(f"/api/runs/{last.id}/resume", json={"node_id": "ask", "value": {"approved": False}})
    assert answer.status_code == 202, answer.text
    api.wait_run(str(last.id))
    assert waiting_on(api, parent["id"], item=1)["child_run"] == second["child_run"]

    # Item 1 answered on its own run: that wakes the parent, whose map has nothing left to wait on.
    answer = api.post(f"/api/runs/{second['child_run']}/resume", json={"node_id": "ask", "value": {"approved": True}})
    assert answer.status_code == 202, answer.text

    finished = api.wait_run(parent["id"])
    assert finished["status"] == "succeeded", finished
    assert [r["result"] for r in finished["outputs"]["results"]] == ["refunded 3", "refunded 5", "declined"]
    assert children.count() == len(ITEMS)  # each item kept its one child run
    for child in children:
        assert child.status == "succeeded"
        assert RunEvent.objects.filter(run=child, type="run_resumed").count() == 1  # answered once, as asked
        assert RunEvent.objects.filter(run=child, type="node_started", node_id="ask").count() == 2  # ask, answer
    assert Trace.objects.filter(run_id=parent["id"]).count() == 1  # the model was called once
    assert RunEvent.objects.filter(run_id=parent["id"], type="node_started", node_id="draft").count() == 1


def moved_on(api, run_id: str, answered: list[str]) -> dict | None:
    """The run once it finished or waits on a child run not answered yet."""
    run = api.get(f"/api/runs/{run_id}").json()
    if run["status"] in ("succeeded", "failed", "cancelled"):
        return run
    return run if run["status"] == "waiting" and run["waiting"]["child_run"] not in answered else None


def agent_with_approval_tool(child_id: str) -> dict:
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {"fields": []}},
            {
                "id": "helper",
                "type": "agent",
                "config": {
                    "model": "auto",
                    "task": "Refund the order",
                    "tools": [{"kind": "workflow", "workflow": child_id, "name": "refund"}],
                    "tool_choice": "required",
                    "max_steps": 1,
                    "max_tokens": 60,
                },
            },
            {"id": "end", "type": "output", "config": {"outputs": {"answer": "{{ nodes.helper.output }}"}}},
        ],
        "edges": [{"source": "start", "target": "helper"}, {"source": "helper", "target": "end"}],
    }


def test_an_agent_whose_workflow_tool_waits_pauses_and_goes_on_without_repeating_a_turn(api):
    child_id = create_published(api, APPROVAL, name="Refund")
    parent_id = create_published(api, agent_with_approval_tool(child_id), name="Helper")

    parent = api.post(f"/api/workflows/{parent_id}/runs", json={"inputs": {}, "wait": 120}).json()
    assert parent["status"] == "waiting", parent
    waiting = parent["waiting"]
    assert (waiting["node_id"], waiting["tool"], waiting["step"]) == ("helper", "refund", 1)
    assert waiting["child_node"] == "ask"
    assert child_for(waiting).status == "waiting"
    [turn] = Trace.objects.filter(run_id=parent["id"])  # the turn that called the tool
    assert turn.call_key == "helper#a1#s1" and turn.tool_calls

    # Answered through the parent, one tool call at a time (the model may have made several in its turn).
    answered: list[str] = []
    while parent["status"] == "waiting":
        answered.append(parent["waiting"]["child_run"])
        answer = api.post(f"/api/runs/{parent['id']}/resume", json={"node_id": "helper", "value": {"approved": True}})
        assert answer.status_code == 202, answer.text
        parent = wait_until(lambda: moved_on(api, parent["id"], answered), timeout=120, message="the next stop")

    assert parent["status"] == "succeeded", parent
    children = Run.objects.filter(parent_run_id=parent["id"])
    assert children.count() == len(turn.tool_calls) == len(answered)
    assert all(child.status == "succeeded" and child.outputs["result"].startswith("refunded") for child in children)
    results = RunEvent.objects.filter(run_id=parent["id"], node_id="helper", type="tool_result")
    assert results.count() == len(turn.tool_calls)
    assert all(r.data["result"]["result"].startswith("refunded") for r in results)
    keys = list(Trace.objects.filter(run_id=parent["id"]).order_by("created_at").values_list("call_key", flat=True))
    assert keys == ["helper#a1#s1", "helper#a1#final"]  # the tool turn was not asked again


TWO_APPROVALS = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": []}},
        {"id": "first", "type": "approval", "config": {"prompt": "Ship it?"}},
        {"id": "second", "type": "approval", "config": {"prompt": "Bill it?"}},
        {"id": "end", "type": "output", "config": {"outputs": {"done": "both"}}},
    ],
    "edges": [
        {"source": "start", "target": "first"},
        {"source": "first", "target": "second", "branch": "approved"},
        {"source": "second", "target": "end", "branch": "approved"},
    ],
}


def test_a_child_answered_on_its_own_wakes_the_parent_without_answering_its_next_approval(api):
    child_id = create_published(api, TWO_APPROVALS, name="Ship and bill")
    parent_id = create_published(
        api,
        {
            "nodes": [
                {"id": "start", "type": "input", "config": {"fields": []}},
                {"id": "sub", "type": "subworkflow", "config": {"workflow": child_id}},
                {"id": "end", "type": "output", "config": {"outputs": {"child": "{{ nodes.sub.done }}"}}},
            ],
            "edges": [{"source": "start", "target": "sub"}, {"source": "sub", "target": "end"}],
        },
        name="Order",
    )
    parent = api.post(f"/api/workflows/{parent_id}/runs", json={"inputs": {}, "wait": 30}).json()
    first = parent["waiting"]
    assert first["child_node"] == "first", parent

    # Answered on the child: the child goes on to its second approval, and the parent, woken, waits on it.
    answer = api.post(f"/api/runs/{first['child_run']}/resume", json={"node_id": "first", "value": {"approved": True}})
    assert answer.status_code == 202, answer.text
    second = waiting_on(api, parent["id"], child_node="second")
    assert second["child_run"] == first["child_run"] and second["prompt"] == "Bill it?"
    child = api.get(f"/api/runs/{first['child_run']}").json()
    assert child["status"] == "waiting" and child["waiting"]["node_id"] == "second", child

    answer = api.post(f"/api/runs/{parent['id']}/resume", json={"node_id": "sub", "value": {"approved": True}})
    assert answer.status_code == 202, answer.text
    finished = api.wait_run(parent["id"])
    assert finished["status"] == "succeeded" and finished["outputs"]["child"] == "both", finished
    resumed = RunEvent.objects.filter(run_id=first["child_run"], type="run_resumed").order_by("seq")
    assert [(e.node_id, e.data["value"]) for e in resumed] == [
        ("first", {"approved": True}),
        ("second", {"approved": True}),
    ]


def test_cancelling_a_run_whose_map_waits_cancels_every_item_run(api):
    child_id = create_published(api, APPROVAL, name="Refund")
    parent_id = create_published(api, map_of_approvals(child_id, "workflow"), name="Refunds")
    parent = api.post(f"/api/workflows/{parent_id}/runs", json={"inputs": {}, "wait": 60}).json()
    assert parent["status"] == "waiting", parent

    assert api.post(f"/api/runs/{parent['id']}/cancel").status_code == 202

    assert api.wait_run(parent["id"])["status"] == "cancelled"
    children = Run.objects.filter(parent_run_id=parent["id"])
    assert sorted(children.values_list("status", flat=True)) == ["cancelled"] * len(ITEMS)
