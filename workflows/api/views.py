"""REST API views: parse input, call one service or selector, shape the output."""

import json

from django.contrib.auth import authenticate, login, logout
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from orchestra import engine
from orchestra.inference.base import BACKEND_LIST
from workflows import events, runs, selectors, services
from workflows.api import serializers as io
from workflows.api.inputs import parse, parse_query
from workflows.api.openapi import errors, page_of
from workflows.api.parsers import StrictJSONParser
from workflows.documents import RUN_IN_LISTS
from workflows.auth import IsWorkspaceMember, OwnerManages, request_workspace
from workflows.errors import ValidationFailed

CURSOR = OpenApiParameter("cursor", str, description="From a page's next or previous link.")


class Pagination(CursorPagination):
    """Newest first in a stable order; `next`/`previous` carry an opaque cursor, so a page never
    repeats or skips rows that arrive while a client pages through. `count` is the filtered total."""

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:  # DRF's answer to a bad cursor; it is bad input, not a missing page
            raise ValidationFailed(
                "cursor is not one of this list's: take it from a page's next or previous link.", path="cursor"
            ) from None

    def get_paginated_response(self, data) -> Response:
        return Response(
            {"count": self.count, "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data}
        )


def _paginated(
    view: APIView, queryset, out: type[Serializer], *, context=None, ordering: tuple[str, ...] = ("-created_at", "-id")
) -> Response:
    paginator = Pagination()
    paginator.ordering = ordering
    paginator.count = queryset.count()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(out(page, many=True, context=context or {}).data)


class WorkspaceView(APIView):
    parser_classes = [StrictJSONParser]

    @property
    def workspace(self):
        return request_workspace(self.request)


class OwnerView(WorkspaceView):
    """Members read; owners change (models, MCP servers, secrets, members: docs/api.md#roles)."""

    permission_classes = [IsWorkspaceMember, OwnerManages]


# --- Auth (browser sessions) ------------------------------------------------------------------


def _me(request) -> dict:
    return io.MeOut({"user": request.user, "workspace": request_workspace(request)}).data


@method_decorator(ensure_csrf_cookie, name="dispatch")  # also before login: the login form needs the token
class MeView(WorkspaceView):
    @extend_schema(responses={200: io.MeOut})
    def get(self, request):
        return Response(_me(request))


class LoginThrottle(SimpleRateThrottle):
    """Password guessing is slow: 10 attempts a minute per username, 60 per client address."""

    scope = "login"

    def __init__(self, *, per: str = "username", rate: str = "10/min"):
        self.per, self.rate = per, rate
        self.num_requests, self.duration = self.parse_rate(rate)

    def get_cache_key(self, request, view):
        if self.per == "address":
            return self.cache_format % {"scope": "login-address", "ident": self.get_ident(request)}
        username = request.data.get("username") if isinstance(request.data, dict) else None
        return self.cache_format % {"scope": "login-user", "ident": str(username)[:150]}


class LoginView(APIView):
    permission_classes = [AllowAny]
    parser_classes = [StrictJSONParser]

    def get_throttles(self):
        return [LoginThrottle(per="username"), LoginThrottle(per="address", rate="60/min")]

    @extend_schema(request=io.LoginIn, responses={200: io.MeOut, **errors(400, 403, 429)})
    def post(self, request):
        # Anonymous, so DRF's session authentication does not check CSRF here; a login form on
        # another site must not sign a browser in to an account of the attacker's choosing.
        SessionAuthentication().enforce_csrf(request)
        body = parse(io.LoginIn, request)
        user = authenticate(request, username=body["username"], password=body["password"])
        if user is None:
            raise ValidationFailed("Wrong username or password.", path="password")
        login(request, user)
        get_token(request)
        return Response(_me(request))


class LogoutView(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        logout(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Node types and workflows ---------------------------------------------------------------


class NodeTypesView(WorkspaceView):
    @extend_schema(responses={200: io.NodeTypeOut(many=True)})
    def get(self, request):
        return Response(engine.node_type_catalog())


class WorkflowListView(WorkspaceView):
    @extend_schema(responses={200: io.WorkflowOut(many=True)})
    def get(self, request):
        return Response(io.WorkflowOut(selectors.workflow_list(workspace=self.workspace), many=True).data)

    @extend_schema(request=io.WorkflowIn, responses={201: io.WorkflowDetailOut, **errors(400)})
    def post(self, request):
        body = parse(io.WorkflowIn, request)
        workflow = services.workflow_create(
            workspace=self.workspace,
            name=body.get("name"),
            graph=body.get("graph"),
            description=body.get("description", ""),
        )
        return _workflow_response(self.workspace, workflow.id, status=status.HTTP_201_CREATED)


def _workflow_response(workspace, workflow_id, *, status: int = 200) -> Response:
    """The workflow with its draft's problems, and its revision as the ETag (for If-Match)."""
    workflow = selectors.workflow_get(workspace=workspace, workflow_id=workflow_id)
    problems = services.graph_problems(workspace=workspace, graph=workflow.graph, workflow=workflow)
    body = io.WorkflowDetailOut(workflow, context={"problems": problems}).data
    return Response(body, status=status, headers={"ETag": f'"{workflow.revision}"'})


class WorkflowDetailView(WorkspaceView):
    @extend_schema(responses={200: io.WorkflowDetailOut, **errors(404)})
    def get(self, request, workflow_id):
        return _workflow_response(self.workspace, workflow_id)

    @extend_schema(
        request=io.WorkflowIn,
        parameters=[OpenApiParameter("If-Match", str, OpenApiParameter.HEADER)],
        responses={200: io.WorkflowDetailOut, **errors(400, 404, 409)},
    )
    def patch(self, request, workflow_id):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        body = parse(io.WorkflowIn, request)
        revision = body.get("revision", request.headers.get("If-Match", "").strip('W/"') or None)
        services.workflow_update(
            workflow=workflow,
            name=body.get("name"),
            graph=body.get("graph"),
            description=body.get("description"),
            revision=revision,
        )
        return _workflow_response(self.workspace, workflow_id)

    @extend_schema(responses={204: None, **errors(404)})
    def delete(self, request, workflow_id):
        services.workflow_delete(workflow=selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WorkflowPublishView(WorkspaceView):
    @extend_schema(request=None, responses={200: io.VersionOut, 201: io.VersionOut, **errors(400, 404)})
    def post(self, request, workflow_id):
        """201 with a new version; 200 with the latest one when the draft has not changed since."""
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        version, created = services.workflow_publish(workflow=workflow)
        return Response(io.VersionOut(version).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class WorkflowVersionRestoreView(WorkspaceView):
    @extend_schema(request=None, responses={200: io.WorkflowDetailOut, **errors(404)})
    def post(self, request, workflow_id, version):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        services.workflow_restore(workflow=workflow, version=selectors.version_get(workflow=workflow, version=version))
        return _workflow_response(self.workspace, workflow_id)


class WorkflowVersionsView(WorkspaceView):
    @extend_schema(responses={200: io.VersionOut(many=True), **errors(404)})
    def get(self, request, workflow_id):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        versions = io.VersionOut(workflow.versions.all(), many=True, context={"leave_out": ("graph",)})
        return Response(versions.data)


class WorkflowVersionDetailView(WorkspaceView):
    @extend_schema(responses={200: io.VersionOut, **errors(404)})
    def get(self, request, workflow_id, version):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        return Response(io.VersionOut(selectors.version_get(workflow=workflow, version=version)).data)


class WorkflowExportView(WorkspaceView):
    @extend_schema(responses={200: io.WorkflowExportSerializer, **errors(404)})
    def get(self, request, workflow_id):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        response = HttpResponse(
            json.dumps(services.workflow_export(workflow=workflow), indent=2), content_type="application/json"
        )
        filename = "".join(c if c.isalnum() or c in "-_" else "-" for c in workflow.name) or "workflow"
        response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
        return response


class WorkflowImportView(WorkspaceView):
    parser_classes = [StrictJSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={"application/json": io.WorkflowExportSerializer, "multipart/form-data": io.WorkflowFileIn},
        responses={201: io.WorkflowOut, **errors(400)},
    )
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is not None:
            try:
                data = json.loads(upload.read())
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValidationFailed(f"The uploaded file is not valid JSON: {exc}", path="file") from None
        else:
            data = request.data
        workflow = services.workflow_import(workspace=self.workspace, data=parse(io.WorkflowExportSerializer, data))
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow.id)
        return Response(io.WorkflowOut(workflow).data, status=status.HTTP_201_CREATED)


# --- Runs ---------------------------------------------------------------------------------


class RunListView(WorkspaceView):
    @extend_schema(
        operation_id="api_runs_list",
        parameters=[io.RunListQuery, CURSOR],
        responses={200: page_of(io.RunOut), **errors(400)},
    )
    def get(self, request):
        filters = parse_query(io.RunListQuery, request)
        filters.pop("limit", None)  # read by the paginator
        queryset = selectors.run_list(workspace=self.workspace, **filters)
        return _paginated(self, queryset, io.RunOut, context=RUN_IN_LISTS)


class RunDetailView(WorkspaceView):
    @extend_schema(responses={200: io.RunOut, **errors(404)})
    def get(self, request, run_id):
        return Response(io.RunOut(selectors.run_get(workspace=self.workspace, run_id=run_id)).data)


class RunEventsView(WorkspaceView):
    @extend_schema(parameters=[io.EventsQuery], responses={200: io.RunEventOut(many=True), **errors(400, 404)})
    def get(self, request, run_id):
        run = selectors.run_get(workspace=self.workspace, run_id=run_id)
        return Response(events.events_after(run_id=run.id, **parse_query(io.EventsQuery, request)))


class RunCancelView(WorkspaceView):
    @extend_schema(request=None, responses={202: io.RunOut, **errors(404, 409)})
    def post(self, request, run_id):
        run = runs.run_cancel(run=selectors.run_get(workspace=self.workspace, run_id=run_id))
        return Response(io.RunOut(run).data, status=status.HTTP_202_ACCEPTED)


class RunResumeView(WorkspaceView):
    @extend_schema(request=io.RunResumeIn, responses={202: io.RunOut, **errors(400, 404, 409)})
    def post(self, request, run_id):
        run = selectors.run_get(workspace=self.workspace, run_id=run_id)
        body = parse(io.RunResumeIn, request)
        run = runs.run_resume(run=run, node_id=body["node_id"], value=body.get("value"))
        return Response(io.RunOut(run).data, status=status.HTTP_202_ACCEPTED)


class RunRetryView(WorkspaceView):
    @extend_schema(request=None, responses={202: io.RunOut, **errors(404, 409)})
    def post(self, request, run_id):
        run = runs.run_retry(run=selectors.run_get(workspace=self.workspace, run_id=run_id))
        return Response(io.RunOut(run).data, status=status.HTTP_202_ACCEPTED)


class RunRerunView(WorkspaceView):
    @extend_schema(
        request=io.RunRerunIn,
        responses={201: io.RunOut, **errors(400, 404)},
    )
    def post(self, request, run_id):
        run = selectors.run_get(workspace=self.workspace, run_id=run_id)
        rerun = runs.run_rerun(run=run, inputs=parse(io.RunRerunIn, request).get("inputs"))
        return Response(io.RunOut(rerun).data, status=status.HTTP_201_CREATED)


# --- Models and traces --------------------------------------------------------------------


def _model_fields(request) -> tuple[str | None, dict, str | None]:
    """The endpoint's name, its settings, and its API key apart (stored encrypted)."""
    fields = parse(io.ModelIn, request)
    return fields.pop("name", None), fields, fields.pop("api_key", None)


class ModelListView(OwnerView):
    @extend_schema(responses={200: io.ModelOut(many=True)})
    def get(self, request):
        return Response(io.ModelOut(selectors.model_list(workspace=self.workspace), many=True).data)

    @extend_schema(request=io.ModelIn, responses={201: io.ModelOut, **errors(400)})
    def post(self, request):
        name, fields, api_key = _model_fields(request)
        endpoint = services.model_endpoint_save(workspace=self.workspace, name=name, fields=fields, api_key=api_key)
        return Response(io.ModelOut(endpoint).data, status=status.HTTP_201_CREATED)


class ModelBackendsView(WorkspaceView):
    """The kinds of model a workspace can register, for the Models page's form."""

    @extend_schema(responses={200: io.ModelBackendOut(many=True)})
    def get(self, request):
        return Response(io.ModelBackendOut(BACKEND_LIST, many=True).data)


class ModelDetailView(OwnerView):
    @extend_schema(responses={200: io.ModelOut, **errors(404)})
    def get(self, request, name):
        return Response(io.ModelOut(selectors.model_get(workspace=self.workspace, name=name)).data)

    @extend_schema(request=io.ModelIn, responses={200: io.ModelOut, **errors(400, 404)})
    def patch(self, request, name):
        endpoint = selectors.model_get(workspace=self.workspace, name=name)
        _, fields, api_key = _model_fields(request)  # the name is the endpoint's identity: never renamed
        endpoint = services.model_endpoint_save(
            workspace=self.workspace, name=name, fields=fields, api_key=api_key, endpoint=endpoint
        )
        return Response(io.ModelOut(endpoint).data)

    @extend_schema(responses={204: None, **errors(404)})
    def delete(self, request, name):
        services.model_endpoint_delete(endpoint=selectors.model_get(workspace=self.workspace, name=name))
        return Response(status=status.HTTP_204_NO_CONTENT)


class TraceListView(WorkspaceView):
    @extend_schema(
        operation_id="api_traces_list",
        parameters=[io.TraceListQuery, CURSOR],
        responses={200: page_of(io.TraceOut), **errors(400)},
    )
    def get(self, request):
        filters = parse_query(io.TraceListQuery, request)
        filters.pop("limit", None)  # read by the paginator
        metadata = {k[len("meta.") :]: v for k, v in request.query_params.items() if k.startswith("meta.")}
        queryset = selectors.trace_list(workspace=self.workspace, metadata=metadata, **filters)
        return _paginated(self, queryset, io.TraceOut)


class TraceDetailView(WorkspaceView):
    @extend_schema(responses={200: io.TraceOut, **errors(404)})
    def get(self, request, trace_id):
        return Response(io.TraceOut(selectors.trace_get(workspace=self.workspace, trace_id=trace_id)).data)

    @extend_schema(request=io.TraceGoldenIn, responses={200: io.TraceOut, **errors(400, 404)})
    def patch(self, request, trace_id):
        trace = selectors.trace_get(workspace=self.workspace, trace_id=trace_id)
        golden_output = parse(io.TraceGoldenIn, request)["golden_output"]
        return Response(io.TraceOut(services.trace_set_golden(trace=trace, golden_output=golden_output)).data)
