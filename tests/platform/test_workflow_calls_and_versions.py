"""In a workspace: a workflow that calls itself through others is refused at publish with the path of calls,
read from the called workflows' published versions (else their drafts); saving a draft versions new nodes."""

from itertools import pairwise

import pytest

from tests.conftest import make_workspace
from tests.engine.greet_types import GreetV1, GreetV2
from workflows import services
from workflows.errors import ValidationFailed


def graph_calling(*workflows) -> dict:
    """A graph whose sub-workflow nodes call the given workflows one after the other."""
    subs = [
        {"id": f"call{i}", "type": "subworkflow", "config": {"workflow": str(w.id)}} for i, w in enumerate(workflows)
    ]
    ids = ["start", *(s["id"] for s in subs), "end"]
    return {
        "nodes": [
            {"id": "start", "type": "input", "config": {}},
            *subs,
            {"id": "end", "type": "output", "config": {"outputs": {}}},
        ],
        "edges": [{"source": a, "target": b} for a, b in pairwise(ids)],
    }


def test_a_workflow_calling_itself_through_another_is_refused_at_publish_with_the_path(django_db):
    workspace, _, _ = make_workspace()
    main = services.workflow_create(workspace=workspace, name="Main", graph=graph_calling())
    helper = services.workflow_create(workspace=workspace, name="Helper", graph=graph_calling(main))
    main = services.workflow_update(workflow=main, graph=graph_calling(helper))

    [problem] = services.graph_problems(workspace=workspace, graph=main.graph, workflow=main)
    assert problem["path"] == "nodes[1].config.workflow"
    assert "this workflow calls itself (this workflow -> Helper -> this workflow)" in problem["message"]
    with pytest.raises(ValidationFailed) as refused:
        services.workflow_publish(workflow=main)
    assert refused.value.errors == [problem]
    # The draft lists it too, found through the stored graphs, without being told which workflow it is.
    assert "Helper -> Main -> Helper" in services.graph_problems(workspace=workspace, graph=main.graph)[0]["message"]


def test_calls_read_the_called_workflows_published_version_before_its_draft(django_db):
    workspace, _, _ = make_workspace()
    main = services.workflow_create(workspace=workspace, name="Main", graph=graph_calling())
    helper = services.workflow_create(workspace=workspace, name="Helper", graph=graph_calling())
    services.workflow_publish(workflow=helper)
    services.workflow_update(workflow=helper, graph=graph_calling(main))  # not what calls of Helper run yet
    main = services.workflow_update(workflow=main, graph=graph_calling(helper))
    assert services.graph_problems(workspace=workspace, graph=main.graph, workflow=main) == []
    version, _ = services.workflow_publish(workflow=main)
    assert version.version == 1
    with pytest.raises(ValidationFailed, match="this workflow calls itself"):  # now Helper would close the loop
        services.workflow_publish(workflow=helper)


def test_saving_a_draft_keeps_its_nodes_versions_and_gives_new_nodes_the_current_one(django_db, monkeypatch):
    from orchestra.engine.nodes import NODE_TYPES

    workspace, _, _ = make_workspace()
    monkeypatch.setitem(NODE_TYPES, "greet", GreetV1())
    old = {"id": "hello", "type": "greet", "config": {"text": "Hello"}}
    graph = graph_calling()
    graph = {
        **graph,
        "nodes": [*graph["nodes"], old],
        "edges": [*graph["edges"], {"source": "start", "target": "hello"}],
    }
    workflow = services.workflow_create(workspace=workspace, name="Greeter", graph=graph)
    services.workflow_publish(workflow=workflow)

    monkeypatch.setitem(NODE_TYPES, "greet", GreetV2())  # the type changed since: `text` is `greeting` now
    assert services.graph_problems(workspace=workspace, graph=workflow.versions.get().graph) == []
    new = {"id": "hi", "type": "greet", "config": {"greeting": "Hi"}}  # as the editor adds it: no version
    sent = {**graph, "nodes": [*graph["nodes"], new], "edges": [*graph["edges"], {"source": "start", "target": "hi"}]}
    workflow = services.workflow_update(workflow=workflow, graph=sent)
    stored = {node["id"]: node for node in workflow.graph["nodes"]}
    assert "version" not in stored["hello"] and stored["hi"]["version"] == 2
    assert services.graph_problems(workspace=workspace, graph=workflow.graph, workflow=workflow) == []

    exported = services.workflow_export(workflow=workflow)
    imported = services.workflow_import(workspace=workspace, data=exported)
    assert imported.graph == workflow.graph  # an export's nodes keep their versions, version 1 unwritten
