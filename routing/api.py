"""REST API: parse input, call one service or selector, shape the output."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from routing import jobs, selectors, services
from routing import serializers as io
from routing.models import Router, RouterJob
from workflows.api.inputs import parse
from workflows.api.openapi import errors
from workflows.api.output import iso
from workflows.api.views import WorkspaceView

REPORT_JOBS = 5  # the latest jobs a report lists (a page that reloads finds its running job there)


class VerifierInput(serializers.Serializer):
    refusal = serializers.BooleanField(required=False)
    min_confidence = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)


class RouterInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    workflow = serializers.UUIDField(required=False, allow_null=True, format="hex_verbose")
    node_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
    candidates = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=8)
    target = serializers.FloatField(required=False)
    verifier = VerifierInput(required=False)
    is_default = serializers.BooleanField(required=False)


class RouterUpdateInput(RouterInput):
    name = serializers.CharField(max_length=200, required=False)
    workflow = node_id = None  # a router stays with the node (or workspace) it was made for


class JobInput(serializers.Serializer):
    sample = serializers.IntegerField(required=False)


def router_out(router: Router) -> dict:
    report = router.report or {}
    return {
        "id": str(router.id),
        "name": router.name,
        "workflow": str(router.workflow_id) if router.workflow_id else None,
        "node_id": router.node_id or None,
        "is_default": router.is_default,
        "candidates": router.candidates,
        "target": router.target,
        "verifier": router.verifier,
        "trained": router.state is not None,
        "trained_at": iso(router.trained_at),
        "summary": {k: v for k, v in report.items() if k != "curve"} or None,
        "created_at": iso(router.created_at),
        "updated_at": iso(router.updated_at),
    }


def job_out(job: RouterJob) -> dict:
    return {
        "id": str(job.id),
        "router": str(job.router_id),
        "kind": job.kind,
        "sample": job.sample or None,
        "status": job.status,
        "progress": job.progress,
        "report": job.report,
        "error": job.error or None,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


class RouterListView(WorkspaceView):
    @extend_schema(responses={200: io.RouterOut(many=True)})
    def get(self, request):
        return Response([router_out(r) for r in selectors.router_list(workspace=self.workspace)])

    @extend_schema(request=RouterInput, responses={201: io.RouterOut, **errors(400, 404)})
    def post(self, request):
        data = parse(RouterInput, request)
        workflow = data.pop("workflow", None)
        router = services.router_create(workspace=self.workspace, workflow=str(workflow) if workflow else None, **data)
        return Response(router_out(router), status=status.HTTP_201_CREATED)


class RouterDetailView(WorkspaceView):
    @extend_schema(responses={200: io.RouterOut, **errors(404)})
    def get(self, request, router_id):
        return Response(router_out(selectors.router_get(workspace=self.workspace, router_id=router_id)))

    @extend_schema(request=RouterUpdateInput, responses={200: io.RouterOut, **errors(400, 404)})
    def patch(self, request, router_id):
        router = selectors.router_get(workspace=self.workspace, router_id=router_id)
        router = services.router_update(router=router, fields=parse(RouterUpdateInput, request, partial=True))
        return Response(router_out(router))

    @extend_schema(responses={204: None, **errors(404)})
    def delete(self, request, router_id):
        services.router_delete(router=selectors.router_get(workspace=self.workspace, router_id=router_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RouterJobCreateView(WorkspaceView):
    kind = ""

    @extend_schema(request=JobInput, responses={202: io.RouterJobOut, **errors(400, 404, 409)})
    def post(self, request, router_id):
        router = selectors.router_get(workspace=self.workspace, router_id=router_id)
        job = jobs.job_create(router=router, kind=self.kind, sample=parse(JobInput, request).get("sample"))
        return Response(job_out(job), status=status.HTTP_202_ACCEPTED)


class RouterJobDetailView(WorkspaceView):
    @extend_schema(responses={200: io.RouterJobOut, **errors(404)})
    def get(self, request, router_id, job_id):
        router = selectors.router_get(workspace=self.workspace, router_id=router_id)
        return Response(job_out(selectors.job_get(router=router, job_id=job_id)))


class RouterReportView(WorkspaceView):
    @extend_schema(responses={200: io.RouterReportOut, **errors(404)})
    def get(self, request, router_id):
        router = selectors.router_get(workspace=self.workspace, router_id=router_id)
        return Response(
            {
                "router": router_out(router),
                "training": router.report,
                "usage": selectors.router_usage(router=router),
                "jobs": [job_out(job) for job in selectors.job_list(router=router)[:REPORT_JOBS]],
            }
        )
