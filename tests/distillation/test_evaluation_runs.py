"""Task success end to end: a finished agent job's student and teacher drive the agent on held-out
cases in evaluation runs (real runs on the runs queue, their workflow tool really called), counted
per model; those runs are marked, answered by the evaluated model, and never taken for production
traffic (a new job's preview, savings). Refused: unmarked tools, unfinished jobs, non-agent jobs,
another workspace's job, and API callers starting "evaluation" runs themselves."""

import pytest

from distillation.models import DistillationJob, NodeDeployment
from tests.conftest import make_workspace
from tests.distillation.helpers import SUMMARISE, TINY_JOB, student_model, wait_job
from tests.distillation.test_agent_distillation import LOOKUP_ORDER, run_agent, support_graph
from tests.platform.test_runs_api import create_published
from workflows import runs, services
from workflows.models import NodeRun, Run, Trace, Workflow, in_evaluation

QUESTIONS = [f"where is order {n}?" for n in range(5)]


@pytest.fixture
def trainer(platform):
    worker = platform.start_worker(queues="training", beat=False)
    yield
    if worker.poll() is None:
        platform.kill_worker(worker)


def evaluations(api, job_id: str):
    return api.post(f"/api/distillations/{job_id}/evaluation-runs", json={"cases": 3})


def test_a_student_drives_its_agent_in_evaluation_runs_that_never_count_as_production(api, tiny_models, trainer):
    lookup_id = create_published(api, LOOKUP_ORDER, name="Lookup order")
    graph = support_graph([{"kind": "workflow", "workflow": lookup_id, "evaluation": "call"}])
    workflow_id = create_published(api, graph, name="support")
    run_agent(api, workflow_id, QUESTIONS)
    body = {
        "workflow": workflow_id,
        "node_id": "support",
        "student": student_model(api, tiny_models["student"]),
        "method": "sft",
        "config": TINY_JOB | {"data": {"min_examples": 4, "validation_fraction": 0.2, "test_fraction": 0.3}},
    }
    job = wait_job(api, api.post("/api/distillations", json=body).json()["id"], timeout=240)
    assert job["status"] == "succeeded", job["error"]
    held_out = job["report"]["data"]["test"]

    started = evaluations(api, job["id"])
    assert started.status_code == 201, started.text
    runs = started.json()["runs"]
    cases = min(held_out, 3)
    assert sorted(r["model"] for r in runs) == ["student"] * cases + ["teacher"] * cases
    finished = {r["run"]: api.wait_run(r["run"], timeout=120) for r in runs}
    assert {run["trigger"] for run in finished.values()} == {"evaluation"}

    student = DistillationJob.objects.get(pk=job["id"]).model  # registered for the evaluation, not deployed
    assert student and not NodeDeployment.objects.filter(workflow_id=workflow_id).exists()
    for r in runs:
        answered = {t.model for t in Trace.objects.filter(run_id=r["run"], node_id="support")}
        assert answered == {r["endpoint"]} == {student if r["model"] == "student" else "tiny"}
        if r["model"] == "teacher":  # its tool really ran, as a child run of the evaluation run
            assert finished[r["run"]]["status"] == "succeeded"
            children = Run.objects.filter(parent_run_id=r["run"])
            assert {(c.trigger, c.for_evaluation) for c in children} == {("subworkflow", True)}

    report = api.get(f"/api/distillations/{job['id']}/evaluation-runs").json()
    by_model = {m["model"]: m for m in report["models"]}
    assert set(by_model) == {"student", "teacher"} and report["success_means"].startswith("The run succeeded")
    assert all((m["started"], m["finished"]) == (cases, cases) for m in by_model.values())
    teacher = by_model["teacher"]["task_success"]  # greedy decoding: the teacher gives its own answers again
    assert (teacher["count"], teacher["rate"]) == (cases, 1.0) and teacher["interval"][1] == 1.0
    student_success = by_model["student"]["task_success"]
    assert student_success["count"] == sum(r["success"] for r in report["runs"] if r["model"] == "student")
    assert by_model["student"]["endpoints"] == [student]
    assert all(r["expected_from"] == "teacher" for r in report["runs"])

    # Evaluation runs are listed, but are no traffic: a new job sees the 5 original trajectories,
    # savings count only the original runs' calls.
    listed = api.get("/api/runs", params={"workflow": workflow_id, "trigger": "evaluation"}).json()
    assert listed["count"] == 2 * cases
    assert api.post("/api/distillations/preview", json=body).json()["matched"] == len(QUESTIONS)
    (node,) = [n for n in api.get(f"/api/workflows/{workflow_id}/savings").json()["nodes"] if n["node_id"] == "support"]
    assert [(m["model"], m["calls"]) for m in node["models"]] == [("tiny", 2 * len(QUESTIONS))]
    assert node["agent"]["runs"] == len(QUESTIONS)


# --- refusals ----------------------------------------------------------------------------------


def agent_job(workspace, tools: list[dict], *, status: str = "succeeded", graph: dict | None = None):
    workflow = services.workflow_create(workspace=workspace, name="support", graph=graph or support_graph(tools))
    node_id = "support" if graph is None else "draft"
    return DistillationJob.objects.create(
        workspace=workspace,
        workflow=workflow,
        node_id=node_id,
        teacher="tiny",
        student="Qwen/Qwen2-0.5B-Instruct",
        method="sft",
        status=status,
        artifacts={"merged": "/nonexistent"},
    )


def http_tool(name: str, **more) -> dict:
    return {"kind": "http", "name": name, "url": "https://shop.example.com/{{ args.order_id }}", **more}


def test_every_tool_the_agent_offers_must_be_marked_safe_to_call_in_evaluation_runs(api):
    job = agent_job(api.workspace, [http_tool("lookup_order", evaluation="call"), http_tool("refund_order")])
    refused = evaluations(api, job.id)
    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert error["path"] == "tools[1].evaluation" and "'refund_order'" in error["message"]
    assert not Run.objects.filter(workflow=job.workflow).exists()


def test_only_a_succeeded_agent_job_of_this_workspace_is_evaluated(api):
    marked = [http_tool("lookup_order", evaluation="call")]
    running = agent_job(api.workspace, marked, status="running")
    assert evaluations(api, running.id).status_code == 409
    llm = agent_job(api.workspace, [], graph=SUMMARISE)
    not_agent = evaluations(api, llm.id)
    assert not_agent.status_code == 400 and not_agent.json()["errors"][0]["path"] == "node_id"
    other_workspace, _, _ = make_workspace()
    theirs = agent_job(other_workspace, marked)
    assert evaluations(api, theirs.id).status_code == 404
    assert api.get(f"/api/distillations/{theirs.id}/evaluation-runs").status_code == 404

    ours = agent_job(api.workspace, marked)
    no_cases = evaluations(api, ours.id)  # the node never ran: nothing held out to run again
    assert no_cases.status_code == 409 and no_cases.json()["errors"][0]["path"] == "cases"
    untrained = api.post(f"/api/distillations/{ours.id}/evaluation-runs", json={"models": ["untrained"]})
    assert untrained.status_code == 400 and untrained.json()["errors"][0]["path"] == "models"
    bad = api.post(f"/api/distillations/{ours.id}/evaluation-runs", json={"cases": 0, "models": ["boss"]})
    assert bad.status_code == 400 and {e["path"] for e in bad.json()["errors"]} == {"cases", "models.0"}


def test_api_callers_cannot_start_evaluation_runs_themselves(api):
    workflow_id = create_published(api, SUMMARISE, name="summarise")
    refused = api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": "tea"}, "trigger": "evaluation"})
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "trigger"


def test_runs_started_below_an_evaluation_run_are_evaluation_traffic_however_deep(api):
    workflow = Workflow.objects.get(pk=create_published(api, SUMMARISE, name="summarise"))
    chain = [runs.run_start(workflow=workflow, inputs={"topic": "tea"}, trigger="evaluation", enqueue=False)[0]]
    for _ in range(6):  # an evaluated agent's tool, its sub-workflows, theirs...
        child, _ = runs.run_start(
            workflow=workflow, inputs={"topic": "tea"}, trigger="subworkflow", parent_run=chain[-1], enqueue=False
        )
        chain.append(child)
    production, _ = runs.run_start(workflow=workflow, inputs={"topic": "tea"}, trigger="api", enqueue=False)
    runs.run_start(
        workflow=workflow, inputs={"topic": "tea"}, trigger="subworkflow", parent_run=production, enqueue=False
    )

    evaluated = set(NodeRun.objects.filter(in_evaluation(), run__workflow=workflow).values_list("run_id", flat=True))
    assert evaluated == {run.id for run in chain}
