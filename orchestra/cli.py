"""`orchestra`: the command line. Workflow commands talk to a running server over its HTTP API.

    orchestra workflows list | import FILE | export ID [-o FILE]
    orchestra run WORKFLOW_ID -i topic=tea [-i n=3] [--version N|draft]
    orchestra runs list [--workflow ID] [--status S]
    orchestra distill run|preview|score-teacher|eval JOB.yaml
    orchestra serve-model --model NAME=PATH [--port 8001]
    orchestra manage migrate | check --deploy | ...   (Django's manage.py, for the installed package)

The server and key come from --url/--api-key or ORCHESTRA_URL/ORCHESTRA_API_KEY.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import httpx

TERMINAL = {"succeeded", "failed", "cancelled"}


class ApiError(Exception):
    pass


class Client:
    def __init__(self, url: str, api_key: str):
        if not api_key:
            raise ApiError(
                "No API key: pass --api-key or set ORCHESTRA_API_KEY "
                "(create one with `python manage.py create_api_key`)."
            )
        self.http = httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, timeout=60)

    def request(self, method: str, path: str, **kwargs):
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"Cannot reach {self.http.base_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                errors = response.json()["errors"]
                detail = "\n".join(f"  {e['path'] or '-'}: {e['message']}" for e in errors)
            except (ValueError, KeyError, TypeError):
                detail = "  " + response.text[:500]
            raise ApiError(f"{method} {path} -> {response.status_code}\n{detail}")
        return response


def _parse_inputs(pairs: list[str], inputs_json: str | None) -> dict:
    inputs = json.loads(inputs_json) if inputs_json else {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ApiError(f"-i {pair!r} must look like name=value")
        try:
            inputs[key] = json.loads(value)  # numbers, booleans, lists and objects as JSON
        except ValueError:
            inputs[key] = value
    return inputs


def progress_text(event: dict, mid_line: bool) -> tuple[str, bool]:
    """What `orchestra run` prints for an event, and whether it leaves the line open: streamed tokens
    run on, each node or run event is a line of its own (a newline first only after tokens)."""
    if event["type"] == "token":
        text = event["data"].get("text", "")
        return text, (mid_line or bool(text)) and not text.endswith("\n")
    if not event["type"].startswith(("node_", "run_")):
        return "", mid_line
    node = f" {event['node_id']}" if event["node_id"] else ""
    error = f": {event['data'].get('error')}" if event["data"].get("error") else ""
    return ("\n" if mid_line else "") + f"[{event['type']}{node}]{error}\n", False


def _run(client: Client, args) -> int:
    version = args.version if args.version in (None, "draft") else int(args.version)
    run = client.request(
        "POST",
        f"/api/workflows/{args.workflow}/runs",
        json={"inputs": _parse_inputs(args.input, args.inputs_json), "version": version, "trigger": "api"},
    ).json()
    print(f"run {run['id']} queued", file=sys.stderr)
    after, status, mid_line = 0, run["status"], False
    while status not in TERMINAL and status != "waiting":
        for event in client.request("GET", f"/api/runs/{run['id']}/events", params={"after": after}).json():
            after = event["seq"]
            text, mid_line = progress_text(event, mid_line)
            print(text, end="", file=sys.stderr, flush=True)
            if event["type"] in ("run_succeeded", "run_failed", "run_cancelled", "run_waiting"):
                status = event["type"][4:]
        time.sleep(0.2)
    run = client.request("GET", f"/api/runs/{run['id']}").json()
    if run["status"] == "succeeded":
        print(json.dumps(run["outputs"], indent=2))
        return 0
    print(f"run {run['status']}: {run.get('error') or run.get('waiting')}", file=sys.stderr)
    return 1


def _workflows(client: Client, args) -> int:
    if args.action == "list":
        for w in client.request("GET", "/api/workflows").json():
            last = (w["last_run"] or {}).get("status", "-")
            print(f"{w['id']}  v{w['published_version'] or '-':<3} {last:<10} {w['name']}")
    elif args.action == "import":
        data = json.loads(Path(args.target).read_text())
        workflow = client.request("POST", "/api/workflows/import", json=data).json()
        print(workflow["id"])
    elif args.action == "export":
        text = client.request("GET", f"/api/workflows/{args.target}/export").text
        if args.output:
            Path(args.output).write_text(text)
        else:
            print(text)
    return 0


def _runs(client: Client, args) -> int:
    params = {k: v for k, v in {"workflow": args.workflow, "status": args.status, "limit": args.limit}.items() if v}
    for run in client.request("GET", "/api/runs", params=params).json()["results"]:
        print(f"{run['id']}  {run['status']:<10} {run['trigger']:<9} {run['created_at']}  workflow {run['workflow']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orchestra", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("ORCHESTRA_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--api-key", default=os.environ.get("ORCHESTRA_API_KEY", ""))
    commands = parser.add_subparsers(dest="command", required=True)

    workflows = commands.add_parser("workflows", help="list, import or export workflows")
    workflows.add_argument("action", choices=["list", "import", "export"])
    workflows.add_argument("target", nargs="?", help="a file to import, or a workflow id to export")
    workflows.add_argument("-o", "--output", help="export to this file")
    workflows.set_defaults(handler=_workflows)

    run = commands.add_parser("run", help="run a workflow, show its progress and print its outputs")
    run.add_argument("workflow", help="workflow id")
    run.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--inputs-json", help="all inputs as one JSON object")
    run.add_argument("--version", help="a published version number, or draft (default: latest published)")
    run.set_defaults(handler=_run)

    runs = commands.add_parser("runs", help="list runs")
    runs.add_argument("action", choices=["list"])
    runs.add_argument("--workflow")
    runs.add_argument("--status")
    runs.add_argument("--limit", type=int, default=20)
    runs.set_defaults(handler=_runs)

    commands.add_parser("distill", help="distil a node into a student model (orchestra distill -h)", add_help=False)
    commands.add_parser("serve-model", help="serve local models over an OpenAI-compatible API", add_help=False)
    commands.add_parser("manage", help="Django's manage.py (migrate, createsuperuser, ...)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # These two own their argument parsing.
    if argv[:1] == ["distill"]:
        from orchestra.distill.cli import main as distill_main

        return distill_main(argv[1:])
    if argv[:1] == ["manage"]:  # an installed package has no manage.py: this is it
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestra.settings")
        from django.core.management import execute_from_command_line

        execute_from_command_line(["orchestra manage", *argv[1:]])
        return 0
    if argv[:1] == ["serve-model"]:
        from orchestra.inference.server import main as serve_main

        serve_main(argv[1:])
        return 0
    args = build_parser().parse_args(argv)
    if args.command == "workflows" and args.action != "list" and not args.target:
        print(
            f"orchestra workflows {args.action} needs a {'file' if args.action == 'import' else 'workflow id'}",
            file=sys.stderr,
        )
        return 2
    try:
        return args.handler(Client(args.url, args.api_key), args)
    except (ApiError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
