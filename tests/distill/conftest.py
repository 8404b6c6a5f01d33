import os
from pathlib import Path

import pytest
import torch

from tests.support.tiny_models import build_tiny_family


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    os.environ["ORCHESTRA_TRAIN_THREADS"] = "1"  # run_job sets torch's threads from it: the machine is shared
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_family(tmp_path_factory) -> dict[str, Path]:
    return build_tiny_family(tmp_path_factory.mktemp("tiny"))
