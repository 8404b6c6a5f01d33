"""Who may import whom (docs/architecture.md): the core is framework-free, apps plug into each
other through seams and never in a circle, and services never reach into the API layer."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports(folder: str) -> list[tuple[str, str]]:
    """(file, imported module) for every import in the folder's Python files, lazy ones included."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(str(path.relative_to(ROOT)), alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((str(path.relative_to(ROOT)), node.module))
    return found


def offending(folder: str, forbidden: tuple[str, ...], *, skip: str | None = None) -> list[tuple[str, str]]:
    return [
        (file, module)
        for file, module in imports(folder)
        if module.split(".")[0] in forbidden or module.startswith(forbidden)
        if skip is None or not file.startswith(skip)
    ]


@pytest.mark.parametrize("core", ["orchestra/engine", "orchestra/inference", "orchestra/distill", "orchestra/routing"])
def test_the_core_imports_no_framework_and_no_app(core):
    assert (
        offending(core, ("django", "rest_framework", "channels", "celery", "workflows", "distillation", "routing"))
        == []
    )


def test_workflows_never_imports_distillation_or_routing_which_plug_in_through_the_model_selection_seams():
    assert offending("workflows", ("distillation", "routing")) == []


def test_distillation_never_imports_routing_which_builds_on_it():
    assert offending("distillation", ("routing",)) == []


def test_services_never_import_the_api_layer():
    assert offending("workflows", ("workflows.api",), skip="workflows/api/") == []
    assert offending("distillation", ("workflows.api",), skip="distillation/api.py") == []
    assert offending("routing", ("workflows.api",), skip="routing/api.py") == []
