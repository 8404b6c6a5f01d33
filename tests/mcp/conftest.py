import uuid

import pytest

from tests.conftest import Api
from tests.mcp.support import McpTestServer


def new_workspace():
    """A workspace with an API key. Its user has no password: hashing one costs a second per test."""
    from workflows import services

    workspace = services.workspace_create(name=f"ws-{uuid.uuid4().hex[:8]}")
    user = services.user_create(username=f"user-{uuid.uuid4().hex[:8]}", workspace=workspace, role="owner")
    _, key = services.api_key_create(user=user, workspace=workspace, name="tests")
    return workspace, key


@pytest.fixture(scope="session")
def tool_server():
    server = McpTestServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def other_tool_server():
    """A second host: what a server's URL is changed to."""
    server = McpTestServer()
    yield server
    server.close()


@pytest.fixture
def client(platform):
    """A fresh workspace's API client; these tests need no model."""
    workspace, key = new_workspace()
    api = Api(platform.url, key, workspace)
    yield api
    api.http.close()
