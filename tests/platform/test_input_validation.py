"""Every body the API reads goes through its input serializer: a wrong JSON type is a 400 naming
that field's path (never coerced, never a 500), every problem comes back at once, an unknown field
is refused by name, and query filters name the parameter they could not read."""

from tests.platform.test_runs_api import create_published

# (method, path, body, the paths the 400 names); {wf}, {run}, ... are filled in from real objects.
WRONG_TYPES = [
    ("POST", "/api/workflows", {"name": 5, "graph": [], "description": None}, {"name", "graph", "description"}),
    ("PATCH", "/api/workflows/{wf}", {"name": ["x"], "revision": "7"}, {"name", "revision"}),
    ("POST", "/api/workflows/import", {"orchestra": "1", "name": 5, "graph": {}}, {"orchestra", "name"}),
    (
        "POST",
        "/api/workflows/{wf}/runs",
        {"inputs": [], "wait": "5", "callback_url": 7, "trigger": "cron"},
        {"inputs", "wait", "callback_url", "trigger"},
    ),
    ("POST", "/api/runs/{run}/resume", {"node_id": 5, "colour": "red"}, {"node_id", "colour"}),
    ("POST", "/api/runs/{run}/rerun", {"inputs": "topic=tea"}, {"inputs"}),
    ("POST", "/api/models", {"name": 5, "price_in": "1", "options": []}, {"name", "price_in", "options"}),
    ("PATCH", "/api/models/tiny", {"is_default": "yes", "price_out": True}, {"is_default", "price_out"}),
    ("PATCH", "/api/traces/{trace}", {"golden_output": 5, "output": "edited"}, {"golden_output", "output"}),
    ("POST", "/api/api-keys", {"name": 5}, {"name"}),
    ("POST", "/api/credentials", {"name": 5, "value": 6}, {"name", "value"}),
    ("PUT", "/api/credentials/TOKEN", {"value": {"secret": "x"}}, {"value"}),
    (
        "POST",
        "/api/mcp-servers",
        {"name": 5, "url": 6, "headers": {"Authorization": 1}},
        {"name", "url", "headers.Authorization"},
    ),
    ("POST", "/api/workflows/{wf}/chat", {"message": 5, "stream": "yes"}, {"message", "stream"}),
    (
        "POST",
        "/api/workflows/{wf}/webhooks",
        {"enabled": "true", "input_mapping": {"topic": 1}, "rate_limit_per_minute": 1.5},
        {"enabled", "input_mapping.topic", "rate_limit_per_minute"},
    ),
    ("PATCH", "/api/workflows/{wf}/webhooks/{webhook}", {"wait_s": "10", "name": 3}, {"wait_s", "name"}),
    ("POST", "/api/workflows/{wf}/schedules", {"cron": 5, "inputs": [], "enabled": 0}, {"cron", "inputs", "enabled"}),
    ("PATCH", "/api/workflows/{wf}/schedules/{schedule}", {"timezone": 1}, {"timezone"}),
    ("POST", "/api/distillations/preview", {"student": 5, "method": "sft", "filters": []}, {"student", "filters"}),
    ("POST", "/api/distillations", {"student": "tiny", "method": "sft", "config": "fast"}, {"config"}),
    ("POST", "/api/workflows/{wf}/nodes/draft/deployment", {"state": "shadow", "model": 5}, {"model"}),
    (
        "POST",
        "/api/routers",
        {"name": 5, "candidates": "tiny", "target": "0.9", "verifier": {"refusal": "no"}},
        {"name", "candidates", "target", "verifier.refusal"},
    ),
]

BAD_QUERIES = [
    ("/api/runs", {"workflow": "not-a-uuid"}, "workflow"),
    ("/api/runs", {"status": "done"}, "status"),
    ("/api/runs", {"limit": "many"}, "limit"),
    ("/api/runs", {"cursor": "!!not-base64!!"}, "cursor"),
    ("/api/traces", {"run": "42"}, "run"),
    ("/api/traces", {"limit": "0"}, "limit"),
    ("/api/traces", {"since": "yesterday"}, "since"),
    ("/api/runs/{run}/events", {"after": "-1"}, "after"),
    ("/api/conversations", {"workflow": "nope"}, "workflow"),
    ("/api/distillations", {"workflow": "nope"}, "workflow"),
]


def _objects(api) -> dict:
    workflow = create_published(api)
    run = api.post(f"/api/workflows/{workflow}/runs", json={"inputs": {"topic": "tea"}, "wait": 60}).json()
    trace = api.get("/api/traces", params={"run": run["id"]}).json()["results"][0]["id"]
    webhook = api.post(f"/api/workflows/{workflow}/webhooks", json={}).json()["id"]
    schedule = api.post(f"/api/workflows/{workflow}/schedules", json={"cron": "0 9 * * *", "inputs": {"topic": "t"}})
    return {"wf": workflow, "run": run["id"], "trace": trace, "webhook": webhook, "schedule": schedule.json()["id"]}


def test_a_wrong_typed_field_is_a_400_naming_its_path_with_every_problem_at_once(api):
    ids = _objects(api)
    wrong = {}
    for method, path, body, expected in WRONG_TYPES:
        url = path.format(**ids)
        response = api.request(method, url, json=body)
        named = {e["path"] for e in response.json()["errors"]} if response.status_code == 400 else None
        if response.status_code != 400 or named != expected:
            wrong[f"{method} {url}"] = (response.status_code, response.text[:400])
    assert wrong == {}

    # Text is kept as written, never trimmed: whitespace in a golden label is part of what is learnt.
    label = api.patch(f"/api/traces/{ids['trace']}", json={"golden_output": "  tea, twice \n"})
    assert label.status_code == 200 and label.json()["golden_output"] == "  tea, twice \n"


def test_a_body_that_is_not_an_object_is_refused_whole_and_an_unknown_field_by_name(api):
    workflow = create_published(api)

    listed = api.post("/api/workflows", json=[{"name": "x"}])
    typo = api.post(f"/api/workflows/{workflow}/runs", json={"input": {"topic": "tea"}})

    assert listed.status_code == 400
    assert listed.json()["errors"] == [{"path": "", "message": "The request body must be a JSON object."}]
    assert typo.status_code == 400 and [e["path"] for e in typo.json()["errors"]] == ["input"]
    assert "inputs" in typo.json()["errors"][0]["message"]  # the fields it could have meant


def test_nested_problems_have_dotted_paths_and_drafts_with_graph_problems_are_still_saved(api):
    bad_retry = api.post(
        "/api/workflows",
        json={"name": "Draft", "graph": {"nodes": [{"id": "a", "type": "nope", "retry": "x"}], "edges": []}},
    )
    assert bad_retry.status_code == 201, bad_retry.text  # a draft keeps its problems: they are listed
    assert bad_retry.json()["problems"]

    mcp = api.post("/api/mcp-servers", json={"name": "m", "url": "http://x", "headers": {"A": "1", "B": 2}})
    assert mcp.status_code == 400 and [e["path"] for e in mcp.json()["errors"]] == ["headers.B"]


def test_a_query_parameter_that_cannot_be_read_is_a_400_naming_it(api):
    ids = _objects(api)
    wrong = {}
    for path, params, name in BAD_QUERIES:
        response = api.get(path.format(**ids), params=params)
        named = [e["path"] for e in response.json()["errors"]] if response.status_code == 400 else None
        if named != [name]:
            wrong[f"{path} {params}"] = (response.status_code, response.text[:300])
    assert wrong == {}
    everything = api.get("/api/runs", params={"status": "", "workflow": ""})  # empty: not given
    assert everything.status_code == 200 and everything.json()["count"] == 1
