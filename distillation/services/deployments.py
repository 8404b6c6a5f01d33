"""Putting a student to work: register it as a model (deploy), and route a node's calls by its
deployment state: teacher, shadow (both answer, the teacher's reply is used) or student.

An agent node's calls are its turns, each routed on its own: shadow mode compares every step (the
same tool calls by AST match, or the same answer), the student's tool calls must name offered tools
with valid arguments or the teacher takes the turn."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from distillation.models import DeploymentChange, DistillationJob, NodeDeployment, ShadowComparison
from distillation.services.plans import distilled_node
from orchestra.distill.ast_match import calls_match
from orchestra.distill.verify import call_problem, tool_schemas
from orchestra.engine import ModelCall
from orchestra.engine.nodes.llm import InvalidReply, parse_json_reply
from workflows import services as workflow_services
from workflows.errors import Conflict, ValidationFailed
from workflows.model_calls import MakeTrace, model_resolve, node_call_trace
from workflows.models import ModelEndpoint, Trace, Workflow

log = logging.getLogger(__name__)


# --- Deploying the student -----------------------------------------------------------------


def job_deploy(*, job: DistillationJob, name: str | None = None) -> ModelEndpoint:
    """Register the trained student as a model endpoint a node can switch to."""
    if job.status != "succeeded" or not job.artifacts.get("merged"):
        raise Conflict(
            f"Only a succeeded job with an exported student can be deployed; this one is {job.status}.", path="status"
        )
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValidationFailed("name is a model name without '/'.", path="name")
    name = name or f"{job.node_id}-student-{str(job.id)[:8]}"
    student_endpoint = ModelEndpoint.objects.filter(workspace=job.workspace, name=job.student).first()
    prices = (
        {"price_in": student_endpoint.price_in, "price_out": student_endpoint.price_out}
        if student_endpoint is not None
        else {}
    )
    with transaction.atomic():
        if student_endpoint is not None and student_endpoint.backend == "openai" and job.artifacts.get("adapter"):
            endpoint = _deploy_on_vllm(job=job, name=name, server=student_endpoint, prices=prices)
        else:
            endpoint = workflow_services.model_endpoint_save(
                workspace=job.workspace,
                name=name,
                fields={"backend": "transformers", "model": job.artifacts["merged"], **prices},
                trusted_path=True,
            )
        DistillationJob.objects.filter(pk=job.pk).update(model=endpoint.name)
    return endpoint


def _deploy_on_vllm(*, job: DistillationJob, name: str, server: ModelEndpoint, prices: dict) -> ModelEndpoint:
    """Load the LoRA adapter into the vLLM server that serves the student's base model (it must
    run with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and see the adapter folder) and register the
    adapter's name there as a model."""
    from django.conf import settings

    from orchestra.egress import RequestRefused, guarded_client
    from workflows import crypto

    api_key = crypto.decrypt(server.api_key_encrypted) or None
    try:
        with guarded_client(allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE, timeout=120) as client:
            response = client.post(
                server.base_url.rstrip("/") + "/load_lora_adapter",
                json={"lora_name": name, "lora_path": job.artifacts["adapter"]},
                headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
            )
    except RequestRefused as refused:
        raise ValidationFailed(
            f"{server.name!r} cannot be reached: {refused} (operators allow private model "
            "servers with ORCHESTRA_EGRESS_ALLOW)",
            path="model",
        ) from refused
    if response.status_code >= 400:
        raise ValidationFailed(
            f"{server.name!r} refused to load the adapter: HTTP {response.status_code} {response.text[:300]}",
            path="model",
        )
    return workflow_services.model_endpoint_save(
        workspace=job.workspace,
        name=name,
        api_key=api_key,
        fields={
            "backend": "openai",
            "model": name,
            "base_url": server.base_url,
            "options": dict(server.options),
            **prices,
        },
    )


# --- Node deployments: which model answers a node ---------------------------------------------


def deployment_set(*, workflow: Workflow, node_id: str, state: Any, model: Any = None, user=None) -> NodeDeployment:
    """Move a node to teacher, shadow or student; every change is audited."""
    node = distilled_node(workflow=workflow, node_id=node_id)
    if state not in NodeDeployment.STATES:
        raise ValidationFailed(f"state is one of {', '.join(NodeDeployment.STATES)}.", path="state")
    if model is not None and (not isinstance(model, str) or not model):
        raise ValidationFailed("model is a registered model name.", path="model")
    with transaction.atomic():
        deployment, _ = NodeDeployment.objects.select_for_update().get_or_create(
            workflow=workflow, node_id=node_id, defaults={"workspace": workflow.workspace}
        )
        student = model or deployment.student_model
        if state != "teacher":
            if not student:
                raise ValidationFailed(f"state {state!r} needs a student: name a deployed model.", path="model")
            if not ModelEndpoint.objects.filter(workspace=workflow.workspace, name=student).exists():
                raise ValidationFailed(f"Unknown model {student!r}: deploy a finished job first.", path="model")
        try:
            teacher = model_resolve(workspace=workflow.workspace, name=node["config"].get("model", "auto")).name
        except LookupError:
            teacher = node["config"].get("model", "auto")
        DeploymentChange.objects.create(
            deployment=deployment,
            user=user if user and user.is_authenticated else None,
            from_state=deployment.state,
            to_state=state,
            model=student or "",
        )
        deployment.state, deployment.student_model, deployment.teacher_model = state, student or "", teacher
        deployment.save()
    return deployment


def deployment_call(*, run, call: ModelCall, make_trace: MakeTrace) -> Trace | None:
    """The model-selection seam's distillation selector: answer a node call as the node's deployment
    says and return the trace whose answer the node uses (stored under the call's own key, so a
    resumed run replays it); None for a node without a student (its own model answers).

    Shadow: the teacher answers, the student is asked the same (its trace under `<key>#shadow`) and
    the comparison is stored. Student: the student answers; a reply the node cannot use (JSON that
    fails the node's output, a tool call that does not fit the offered tools) is kept under
    `<key>#rejected` and the teacher answers.
    """
    if run.trigger == "evaluation":  # no traffic to shadow or serve: the evaluated model answers (evaluation.py)
        return None
    deployment = NodeDeployment.objects.filter(workflow_id=run.workflow_id, node_id=call.node_id).first()
    if deployment is None or deployment.state == "teacher":
        return None
    state = deployment.state
    node_config = _node_config(run.graph, call.node_id)
    if state == "shadow":
        # Both at once: shadowing should not make the node wait for the student as well.
        with ThreadPoolExecutor(max_workers=1) as pool:
            asked = pool.submit(_shadow_reply, make_trace, run, call, deployment.student_model)
            teacher = _saved(make_trace(model=call.model, call_key=call.call_key, stream=True))
            student = asked.result()
        agreement = student.status == "ok" and _agree(teacher, student, node_config)
        ShadowComparison.objects.create(
            workspace_id=run.workspace_id,
            workflow_id=run.workflow_id,
            node_id=call.node_id,
            call_key=call.call_key,
            kind="tool_calls" if teacher.tool_calls else "reply",
            teacher_trace=teacher,
            student_trace=student,
            agreement=agreement,
            teacher_latency_ms=teacher.latency_ms,
            teacher_cost=teacher.cost,
            student_latency_ms=student.latency_ms,
            student_cost=student.cost,
        )
        return teacher
    try:  # a JSON reply may still be rejected, so only a text node streams the student's tokens
        student = make_trace(
            model=deployment.student_model, call_key=call.call_key, stream=node_config.get("output") != "json"
        )
    except Exception:
        log.warning("node %s: student %s failed; the teacher answers", call.node_id, deployment.student_model)
    else:
        if _acceptable(student, node_config, call):
            return _saved(student)
        student.call_key += "#rejected"
        _saved(student)
    return _saved(make_trace(model=call.model, call_key=call.call_key, stream=True))


def _shadow_reply(make_trace: MakeTrace, run, call: ModelCall, model: str) -> Trace:
    """The student's shadow answer. A failing student is a disagreement, never the run's failure,
    and never silent: its failed trace (status error, with the error) is what the comparison keeps."""
    call_key, started = call.call_key + "#shadow", timezone.now()
    try:
        return _saved(make_trace(model=model, call_key=call_key, stream=False))
    except Exception as exc:
        log.warning("node %s: shadow student %s failed: %s", call.node_id, model, exc)
        # A failed call's trace is normally saved by the call itself; one that failed before that is recorded here.
        failed = Trace.objects.filter(
            run=run, call_key=call_key, status__in=("error", "abandoned"), created_at__gte=started
        ).first()
        if failed is None:
            failed = node_call_trace(run, call, model=model, call_key=call_key)
            failed.status, failed.error = "error", f"{type(exc).__name__}: {exc}"
            failed.save()
        return failed
    finally:
        connection.close()  # this runs on a pool thread with its own database connection


def _saved(trace: Trace) -> Trace:
    trace.save()
    return trace


def _node_config(graph: dict, node_id: str) -> dict:
    return next((n.get("config", {}) for n in graph.get("nodes", []) if n.get("id") == node_id), {})


def _acceptable(student: Trace, node_config: dict, call: ModelCall) -> bool:
    """A student reply is usable unless it calls tools that were not offered or with arguments that
    break their schema, answers a turn that had to call a tool, or is not the JSON the node (or the
    turn) asked for."""
    if student.tool_calls:
        schemas = tool_schemas(call.tools)
        return all(call_problem(c, schemas) is None for c in student.tool_calls)
    if call.tool_choice == "required":
        return False
    if (call.response_format or {}).get("type", "text") != "text":
        schema = (call.response_format.get("json_schema") or {}).get("schema")
    elif node_config.get("output") == "json" and not call.tools:  # an llm node's answer, an agent's JSON retry
        schema = node_config.get("json_schema")
    else:  # free text, or an agent's own answer between tool turns (the agent asks again for JSON)
        return True
    try:
        parse_json_reply(student.output, schema)
    except InvalidReply:
        return False
    return True


def _agree(teacher: Trace, student: Trace, node_config: dict) -> bool:
    """The same tool calls (AST match: same names, keys and values, numbers by value, any order);
    else the same text (ignoring surrounding whitespace), or equal JSON values for a JSON node."""
    if teacher.tool_calls or student.tool_calls:
        return calls_match(student.tool_calls, teacher.tool_calls)
    if teacher.output.strip() == student.output.strip():
        return True
    if node_config.get("output") != "json":
        return False
    try:
        return parse_json_reply(teacher.output, None) == parse_json_reply(student.output, None)
    except InvalidReply:
        return False
