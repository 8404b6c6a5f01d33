"""REST API: parse input, call one service or selector, shape the output."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from distillation import events, selectors, services
from distillation import serializers as io
from distillation.models import DistillationJob, NodeDeployment
from distillation.services.plans import METHODS
from orchestra.distill.config import LOGIT_METHODS
from workflows import selectors as workflow_selectors
from workflows.api.openapi import errors
from workflows.api.output import iso
from workflows.api import serializers as workflow_io
from workflows.api.inputs import parse, parse_query
from workflows.api.views import WorkspaceView


def job_out(job: DistillationJob) -> dict:
    return {
        "id": str(job.id),
        "workflow": str(job.workflow_id) if job.workflow_id else None,
        "node_id": job.node_id or None,
        "status": job.status,
        "method": job.method,
        "teacher": job.teacher,
        "student": job.student,
        "filters": job.filters,
        "config": job.config,
        "progress": job.progress,
        "losses": job.losses,
        "report": job.report,
        "artifacts": job.artifacts,
        "model": job.model or None,
        "error": job.error or None,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def deployment_out(node_id: str, deployment: NodeDeployment | None) -> dict:
    if deployment is None:
        return {"node_id": node_id, "state": "teacher", "model": None, "teacher_model": None, "changes": []}
    return {
        "node_id": node_id,
        "state": deployment.state,
        "model": deployment.student_model or None,
        "teacher_model": deployment.teacher_model or None,
        "changes": [
            {
                "from_state": c.from_state,
                "to_state": c.to_state,
                "model": c.model or None,
                "user": c.user.username if c.user else None,
                "at": iso(c.at),
            }
            for c in deployment.changes.all()
        ],
    }


# What the Distill form says of each method; a test keeps it in step with services.plans.METHODS.
METHOD_DESCRIPTIONS = {
    "sft": "learn the teacher's replies (any teacher)",
    "forward_kl": "match the teacher's token distribution",
    "reverse_kl": "mode-seeking, for short exact answers",
    "adaptive_kl": "forward/reverse mixed per token",
    "jsd": "symmetric, bounded",
    "skew_kl": "forward KL against a mix of teacher and student, stabler early on",
    "skew_reverse_kl": "reverse KL against a mix of teacher and student",
}


class MethodListView(WorkspaceView):
    """The distillation methods a job may name, for the editor's Distill form."""

    @extend_schema(responses={200: io.MethodOut(many=True)})
    def get(self, request):
        return Response(
            [{"name": m, "logit": m in LOGIT_METHODS, "description": METHOD_DESCRIPTIONS[m]} for m in METHODS]
        )


class PreviewView(WorkspaceView):
    @extend_schema(request=io.JobIn, responses={200: io.PreviewOut, **errors(400, 404)})
    def post(self, request):
        plan = services.job_plan(workspace=self.workspace, body=parse(io.JobIn, request))
        return Response(services.job_preview(plan=plan))


class JobListView(WorkspaceView):
    @extend_schema(
        parameters=[io.JobListQuery],
        responses={200: io.JobOut(many=True), **errors(400)},
    )
    def get(self, request):
        jobs = selectors.job_list(workspace=self.workspace, **parse_query(io.JobListQuery, request))
        return Response([job_out(j) for j in jobs])

    @extend_schema(request=io.JobIn, responses={201: io.JobOut, **errors(400, 404)})
    def post(self, request):
        job = services.job_create(workspace=self.workspace, body=parse(io.JobIn, request))
        return Response(job_out(job), status=status.HTTP_201_CREATED)


class JobDetailView(WorkspaceView):
    @extend_schema(responses={200: io.JobOut, **errors(404)})
    def get(self, request, job_id):
        return Response(job_out(selectors.job_get(workspace=self.workspace, job_id=job_id)))


class JobCancelView(WorkspaceView):
    @extend_schema(request=None, responses={202: io.JobOut, **errors(404, 409)})
    def post(self, request, job_id):
        job = services.job_cancel(job=selectors.job_get(workspace=self.workspace, job_id=job_id))
        return Response(job_out(job), status=status.HTTP_202_ACCEPTED)


class JobEventsView(WorkspaceView):
    @extend_schema(parameters=[workflow_io.EventsQuery], responses={200: io.JobEventOut(many=True), **errors(400, 404)})
    def get(self, request, job_id):
        job = selectors.job_get(workspace=self.workspace, job_id=job_id)
        return Response(events.events_after(job_id=job.id, **parse_query(workflow_io.EventsQuery, request)))


class JobDeployView(WorkspaceView):
    @extend_schema(request=io.JobDeployIn, responses={201: io.JobDeployOut, **errors(400, 404, 409)})
    def post(self, request, job_id):
        job = selectors.job_get(workspace=self.workspace, job_id=job_id)
        endpoint = services.job_deploy(job=job, name=parse(io.JobDeployIn, request).get("name"))
        return Response({"model": endpoint.name}, status=status.HTTP_201_CREATED)


class NodeDeploymentView(WorkspaceView):
    @extend_schema(responses={200: io.DeploymentOut, **errors(404)})
    def get(self, request, workflow_id, node_id):
        workflow = workflow_selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        services.distilled_node(workflow=workflow, node_id=node_id)
        return Response(deployment_out(node_id, selectors.deployment_of(workflow=workflow, node_id=node_id)))

    @extend_schema(request=io.DeploymentIn, responses={200: io.DeploymentOut, **errors(400, 404)})
    def post(self, request, workflow_id, node_id):
        workflow = workflow_selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        body = parse(io.DeploymentIn, request)
        services.deployment_set(
            workflow=workflow, node_id=node_id, state=body.get("state"), model=body.get("model"), user=request.user
        )
        return Response(deployment_out(node_id, selectors.deployment_of(workflow=workflow, node_id=node_id)))


class SavingsView(WorkspaceView):
    @extend_schema(
        parameters=[OpenApiParameter(n, str) for n in ("since", "until")],
        responses={200: io.SavingsOut, **errors(400, 404)},
    )
    def get(self, request, workflow_id):
        workflow = workflow_selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        return Response(
            selectors.savings(
                workflow=workflow, since=request.query_params.get("since"), until=request.query_params.get("until")
            )
        )
