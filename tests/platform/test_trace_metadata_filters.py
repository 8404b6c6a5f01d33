"""GET /api/traces?meta.KEY=...: metadata values compare as numbers where both sides are numbers."""

import pytest

from tests.conftest import make_workspace
from workflows.models import Trace

RECORDED = {"a": 0.2, "b": 0.7, "c": "0.9", "d": 1, "e": "high", "f": None, "g": "5"}


@pytest.fixture
def scored(api):
    for name, score in RECORDED.items():
        metadata = {"name": name} if score is None else {"name": name, "score": score}
        Trace.objects.create(workspace=api.workspace, model="tiny", messages=[], output=name, metadata=metadata)
    stranger, _, _ = make_workspace()
    Trace.objects.create(workspace=stranger, model="tiny", messages=[], output="x", metadata={"score": 0.8})
    return api


def names(api, **params) -> list[str]:
    response = api.get("/api/traces", params=params)
    assert response.status_code == 200, response.text
    return sorted(t["metadata"]["name"] for t in response.json()["results"])


def test_numeric_comparisons_read_numbers_recorded_as_numbers_or_strings(scored):
    assert names(scored, **{"meta.score[gte]": "0.7"}) == ["b", "c", "d", "g"]
    assert names(scored, **{"meta.score[gt]": "0.7", "meta.score[lt]": "5"}) == ["c", "d"]
    assert names(scored, **{"meta.score[lte]": "1e0"}) == ["a", "b", "c", "d"]


def test_equality_is_numeric_for_numbers_and_exact_for_text(scored):
    assert names(scored, **{"meta.score": "1.0"}) == ["d"]
    assert names(scored, **{"meta.score": "5"}) == ["g"]
    assert names(scored, **{"meta.score": "high"}) == ["e"]


@pytest.mark.parametrize(
    "param, value",
    [("meta.score[gte]", "high"), ("meta.score[regex]", "1"), ("meta.score__gt", "1"), ("meta.sc ore", "1")],
)
def test_a_bad_metadata_filter_is_a_400_naming_it(scored, param, value):
    response = scored.get("/api/traces", params={param: value})
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == param
