"""REST API: parse input, call one service or selector, shape the output."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from distillation import events, selectors, services
from distillation import serializers as io
from distillation.models import NodeDeployment
from distillation.services.plans import METHODS
from workflows import selectors as workflow_selectors
from workflows.api.openapi import errors
from workflows.api import serializers as workflow_io
from workflows.api.inputs import parse, parse_query
from workflows.api.views import WorkspaceView


def _deployment(workflow, node_id: str) -> dict:
    deployment = selectors.deployment_of(workflow=workflow, node_id=node_id)
    return io.DeploymentOut(deployment or NodeDeployment(workflow=workflow, node_id=node_id)).data


class MethodListView(WorkspaceView):
    """The distillation methods a job may name, for the editor's Distill form."""

    @extend_schema(responses={200: io.MethodOut(many=True)})
    def get(self, request):
        return Response(io.MethodOut(METHODS, many=True).data)


class PreviewView(WorkspaceView):
    @extend_schema(request=io.JobIn, responses={200: io.PreviewOut, **errors(400, 404)})
    def post(self, request):
        plan = services.job_plan(workspace=self.workspace, body=parse(io.JobIn, request))
        return Response(io.PreviewOut(services.job_preview(plan=plan)).data)


class JobListView(WorkspaceView):
    @extend_schema(
        parameters=[io.JobListQuery],
        responses={200: io.JobOut(many=True), **errors(400)},
    )
    def get(self, request):
        jobs = selectors.job_list(workspace=self.workspace, **parse_query(io.JobListQuery, request))
        return Response(io.JobOut(jobs, many=True).data)

    @extend_schema(request=io.JobIn, responses={201: io.JobOut, **errors(400, 404)})
    def post(self, request):
        job = services.job_create(workspace=self.workspace, body=parse(io.JobIn, request))
        return Response(io.JobOut(job).data, status=status.HTTP_201_CREATED)


class JobDetailView(WorkspaceView):
    @extend_schema(responses={200: io.JobOut, **errors(404)})
    def get(self, request, job_id):
        return Response(io.JobOut(selectors.job_get(workspace=self.workspace, job_id=job_id)).data)


class JobCancelView(WorkspaceView):
    @extend_schema(request=None, responses={202: io.JobOut, **errors(404, 409)})
    def post(self, request, job_id):
        job = services.job_cancel(job=selectors.job_get(workspace=self.workspace, job_id=job_id))
        return Response(io.JobOut(job).data, status=status.HTTP_202_ACCEPTED)


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
        return Response(io.JobDeployOut(endpoint).data, status=status.HTTP_201_CREATED)


class JobEvaluationRunsView(WorkspaceView):
    """Task success end to end: the job's models drive its agent node on held-out cases."""

    @extend_schema(responses={200: io.EvaluationOut, **errors(404)})
    def get(self, request, job_id):
        job = selectors.job_get(workspace=self.workspace, job_id=job_id)
        return Response(io.EvaluationOut(services.evaluation_report(job=job)).data)

    @extend_schema(request=io.EvaluationRunsIn, responses={201: io.EvaluationOut, **errors(400, 404, 409)})
    def post(self, request, job_id):
        job = selectors.job_get(workspace=self.workspace, job_id=job_id)
        report = services.evaluation_start(job=job, **parse(io.EvaluationRunsIn, request))
        return Response(io.EvaluationOut(report).data, status=status.HTTP_201_CREATED)


class NodeDeploymentView(WorkspaceView):
    @extend_schema(responses={200: io.DeploymentOut, **errors(404)})
    def get(self, request, workflow_id, node_id):
        workflow = workflow_selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        services.distilled_node(workflow=workflow, node_id=node_id)
        return Response(_deployment(workflow, node_id))

    @extend_schema(request=io.DeploymentIn, responses={200: io.DeploymentOut, **errors(400, 404)})
    def post(self, request, workflow_id, node_id):
        workflow = workflow_selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        body = parse(io.DeploymentIn, request)
        services.deployment_set(
            workflow=workflow, node_id=node_id, state=body.get("state"), model=body.get("model"), user=request.user
        )
        return Response(_deployment(workflow, node_id))


class SavingsView(WorkspaceView):
    @extend_schema(
        parameters=[io.SavingsQuery],
        responses={200: io.SavingsOut, **errors(400, 404)},
    )
    def get(self, request, workflow_id):
        workflow = workflow_selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        period = parse_query(io.SavingsQuery, request)
        return Response(io.SavingsOut(selectors.savings(workflow=workflow, **period)).data)
