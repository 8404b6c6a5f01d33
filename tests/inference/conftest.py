"""Tiny local models, built once per test session, and a loopback server that serves them."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from orchestra.inference import ModelSpec
from orchestra.inference.server import serve
from tests.support.tiny_models import build_tiny_family

torch.set_num_threads(1)  # tiny shapes: more threads only fight the other tests for 2 cores

CHAT = [{"role": "system", "content": "You answer briefly."},
        {"role": "user", "content": "write a blog post about the water"}]


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory) -> dict[str, Path]:
    return build_tiny_family(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="session")
def teacher_spec(tiny_family) -> ModelSpec:
    return ModelSpec(name="tiny-teacher", backend="transformers", model=str(tiny_family["teacher"]),
                     price_in=2.0, price_out=6.0, options={"device": "cpu"})


@pytest.fixture(scope="session")
def model_server(tiny_family):
    server, thread = serve({"teacher": str(tiny_family["teacher"]), "student": str(tiny_family["student"])},
                           options={"device": "cpu"})
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def remote_spec(model_server) -> ModelSpec:
    """The served teacher, reached through the openai backend over loopback HTTP."""
    return ModelSpec(name="remote-teacher", backend="openai", model="teacher", base_url=model_server.base_url,
                     price_in=1.0, price_out=3.0, options={"max_retries": 0, "timeout_s": 30})
