"""The production compose file is valid and describes every service the deployment needs."""

import os
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


def test_compose_file_passes_compose_config_and_keeps_gpu_services_behind_a_profile():
    env = os.environ | {"SECRET_KEY": "x" * 40}
    result = subprocess.run(
        [*compose_command(), "--profile", "gpu", "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat", "vllm", "trainer"}
    assert {name for name, service in services.items() if service.get("profiles") == ["gpu"]} == {"vllm", "trainer"}


def test_compose_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [*compose_command(), "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_trainer_consumes_only_the_training_queue_with_concurrency_one():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["trainer"]["command"]
    assert command[command.index("-Q") + 1] == "training" and command[command.index("--concurrency") + 1] == "1"
