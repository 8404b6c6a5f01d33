"""The embedded default in one process tree: the web server (daphne) and a Celery worker with beat.

Ctrl-C (or SIGTERM) stops both.
"""

import os
import signal
import subprocess
import sys
import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and a Celery worker (with beat) together; Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--concurrency", type=int, default=4, help="worker threads running workflow runs")
        parser.add_argument("--no-worker", action="store_true", help="web server only")

    def handle(self, *args, host, port, concurrency, no_worker, **options):
        python = sys.executable
        commands = [[python, "-m", "daphne", "-b", host, "-p", str(port), "orchestra.asgi:application"]]
        if not no_worker:
            commands.append(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "orchestra.celery",
                    "worker",
                    "-B",
                    "-Q",
                    "runs,training,celery",
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(concurrency),
                    "--loglevel",
                    "WARNING",
                    "--schedule-filename",
                    os.path.join(os.environ.get("ORCHESTRA_DATA_DIR", "var"), "celerybeat-schedule"),
                ]
            )
        children = [subprocess.Popen(c) for c in commands]
        shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        self.stdout.write(
            self.style.SUCCESS(f"Orchestra is running: open http://{shown_host}:{port}/  (Ctrl-C stops it)")
        )

        def stop(*_):
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
            sys.exit(0)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        while all(c.poll() is None for c in children):
            time.sleep(0.5)
        self.stderr.write("A child process exited; stopping.")
        stop()
