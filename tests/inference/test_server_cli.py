"""`python -m orchestra.inference.server` as a user starts it."""

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from orchestra.inference.server import main

REPO = Path(__file__).resolve().parents[2]


def first_line_matching(stream, pattern: str, *, timeout_s: float) -> re.Match:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    while True:
        line = lines.get(timeout=timeout_s)  # queue.Empty past the deadline fails the test
        if match := re.search(pattern, line):
            return match


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_command_line_serves_a_model_until_interrupted(tiny_family, tmp_path, stop):
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestra.inference.server",
            "--model",
            f"tiny={tiny_family['student']}",
            "--port",
            "0",
            "--device",
            "cpu",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        # Ctrl-C as a terminal sends it: a parent started as a script's background job ignores SIGINT,
        # and an ignored signal stays ignored in its children.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        base_url = first_line_matching(
            process.stdout, r"serving tiny at (http://127\.0\.0\.1:\d+/v1)", timeout_s=60
        ).group(1)
        assert [m["id"] for m in httpx.get(f"{base_url}/models").json()["data"]] == ["tiny"]
        process.send_signal(stop)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        log.close()


def test_model_argument_without_a_name_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--model", "/models/tiny"])
    assert exited.value.code == 2
    assert "must look like NAME=PATH" in capsys.readouterr().err


def test_missing_model_folder_exits_with_the_reason(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--model", f"ghost={tmp_path / 'nowhere'}", "--port", "0"])
    assert exited.value.code == 1
    assert "model 'ghost': folder" in capsys.readouterr().err


def test_a_taken_port_exits_with_the_reason(tiny_family, model_server, capsys):
    port = str(model_server.server_address[1])
    with pytest.raises(SystemExit) as exited:
        main(["--model", f"tiny={tiny_family['student']}", "--port", port, "--device", "cpu"])
    assert exited.value.code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
