"""A workflow with one LLM node on the tiny teacher, traces made through the API, and a trainer."""

import hashlib
from tests.conftest import wait_until
from tests.platform.test_runs_api import create_published

SUMMARISE = {
    "nodes": [
        {"id": "start", "type": "input", "config": {"fields": [{"name": "topic", "type": "string"}]}},
        {
            "id": "draft",
            "type": "llm",
            "config": {"model": "auto", "prompt": "Say {{ inputs.topic }}", "max_tokens": 4},
        },
        {"id": "end", "type": "output", "config": {"outputs": {"post": "{{ nodes.draft.output }}"}}},
    ],
    "edges": [{"source": "start", "target": "draft"}, {"source": "draft", "target": "end"}],
}
TOPICS = [
    "tea",
    "coffee",
    "rain",
    "snow",
    "maps",
    "boats",
    "bread",
    "clocks",
    "stars",
    "rivers",
    "salt",
    "wool",
    "glass",
    "paper",
    "bells",
    "kites",
    "honey",
    "stone",
    "lamps",
    "ferns",
]
# Small enough for 2 CPU cores: a few optimizer steps on a handful of examples.
TINY_JOB = {
    "data": {"min_examples": 8, "validation_fraction": 0.2, "test_fraction": 0.2},
    "lora": {"enabled": True, "r": 4, "alpha": 8},  # the tiny student is random-init: auto would pick full FT
    "train": {"max_steps": 6, "batch_size": 4, "checkpoint_every": 2, "eval_every": 3},
    "eval": {"max_new_tokens": 4, "batch_size": 4},
}


def workflow_with_traces(api, runs: int) -> str:
    """Publish the workflow and run it once per topic until it has `runs` traces on `draft`."""
    workflow_id = create_published(api, SUMMARISE, name="summarise")
    run_many(api, workflow_id, TOPICS[:runs])
    return workflow_id


def run_many(api, workflow_id: str, topics: list[str]) -> list[dict]:
    run_ids = [
        api.post(f"/api/workflows/{workflow_id}/runs", json={"inputs": {"topic": t}}).json()["id"] for t in topics
    ]
    finished = [api.wait_run(run_id, timeout=120) for run_id in run_ids]
    assert all(run["status"] == "succeeded" for run in finished), finished
    return finished


def wait_job(api, job_id: str, *, statuses=("succeeded", "failed", "cancelled"), timeout: float = 150) -> dict:
    def done():
        job = api.get(f"/api/distillations/{job_id}").json()
        return job if job["status"] in statuses else None

    return wait_until(done, timeout=timeout, interval=0.2, message=f"job {job_id} to reach {statuses}")


def student_model(api, folder) -> str:
    """A student base is a registered model: register `folder` once (as an operator would) and name it."""
    from workflows import services
    from workflows.models import ModelEndpoint

    name = "student-" + hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    if not ModelEndpoint.objects.filter(workspace=api.workspace, name=name).exists():
        services.model_endpoint_save(
            workspace=api.workspace,
            name=name,
            trusted_path=True,
            fields={"backend": "transformers", "model": str(folder)},
        )
    return name
