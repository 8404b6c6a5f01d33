"""REST API: parse input, call one service or selector, shape the output."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from routing import jobs, selectors, services
from routing import serializers as io
from orchestra.routing.features import EMBEDDINGS
from workflows.api.inputs import parse
from workflows.api.openapi import errors
from workflows.api.views import WorkspaceView


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
    embedding = serializers.ChoiceField(
        choices=EMBEDDINGS,
        required=False,
        help_text="How prompts are embedded: static (the encoder's token rows, ~0.1 ms) or minilm (the full "
        "encoder, ~20 ms); a new one discards the trained classifier.",
    )
    is_default = serializers.BooleanField(required=False)


class RouterUpdateInput(RouterInput):
    name = serializers.CharField(max_length=200, required=False)
    workflow = node_id = None  # a router stays with the node (or workspace) it was made for


class JobInput(serializers.Serializer):
    sample = serializers.IntegerField(required=False)


class RouterListView(WorkspaceView):
    @extend_schema(responses={200: io.RouterOut(many=True)})
    def get(self, request):
        return Response(io.RouterOut(selectors.router_list(workspace=self.workspace), many=True).data)

    @extend_schema(request=RouterInput, responses={201: io.RouterOut, **errors(400, 404)})
    def post(self, request):
        data = parse(RouterInput, request)
        workflow = data.pop("workflow", None)
        router = services.router_create(workspace=self.workspace, workflow=str(workflow) if workflow else None, **data)
        return Response(io.RouterOut(router).data, status=status.HTTP_201_CREATED)


class RouterDetailView(WorkspaceView):
    @extend_schema(responses={200: io.RouterOut, **errors(404)})
    def get(self, request, router_id):
        return Response(io.RouterOut(selectors.router_get(workspace=self.workspace, router_id=router_id)).data)

    @extend_schema(request=RouterUpdateInput, responses={200: io.RouterOut, **errors(400, 404)})
    def patch(self, request, router_id):
        router = selectors.router_get(workspace=self.workspace, router_id=router_id)
        router = services.router_update(router=router, fields=parse(RouterUpdateInput, request, partial=True))
        return Response(io.RouterOut(router).data)

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
        return Response(io.RouterJobOut(job).data, status=status.HTTP_202_ACCEPTED)


class RouterJobDetailView(WorkspaceView):
    @extend_schema(responses={200: io.RouterJobOut, **errors(404)})
    def get(self, request, router_id, job_id):
        router = selectors.router_get(workspace=self.workspace, router_id=router_id)
        return Response(io.RouterJobOut(selectors.job_get(router=router, job_id=job_id)).data)


class RouterReportView(WorkspaceView):
    @extend_schema(responses={200: io.RouterReportOut, **errors(404)})
    def get(self, request, router_id):
        router = selectors.router_get(workspace=self.workspace, router_id=router_id)
        return Response(io.RouterReportOut(router).data)
