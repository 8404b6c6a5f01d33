"""Trigger APIs: idempotent run starts with callbacks, webhooks (and their public endpoint), schedules."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from workflows import callbacks, runs, selectors, triggers
from workflows.api import serializers as io
from workflows.api.openapi import errors
from workflows.api.inputs import parse
from workflows.api.views import OwnerView, WorkspaceView
from workflows.errors import PayloadTooLarge, RateLimited, ServiceError
from workflows.models import Run, Schedule, WebhookTrigger


# --- Runs: Idempotency-Key and callback_url ------------------------------------------------------


class WorkflowRunsView(WorkspaceView):
    @extend_schema(
        request=io.RunStartIn,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
        responses={200: io.RunOut, 202: io.RunOut, **errors(400, 404, 409)},
    )
    def post(self, request, workflow_id):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        body = parse(io.RunStartIn, request)
        wait = body.get("wait")
        run, created = runs.run_start(
            workflow=workflow,
            inputs=body.get("inputs"),
            version=body.get("version"),
            trigger=body.get("trigger", "api"),
            idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            callback_url=body.get("callback_url"),
        )
        if not created:
            return Response(io.RunOut(run).data, status=status.HTTP_200_OK, headers={"Idempotent-Replayed": "true"})
        if wait:
            run = triggers.run_wait(run=run, timeout_s=wait)
            if run.status not in ("queued", "running"):
                return Response(io.RunOut(run).data, status=status.HTTP_200_OK)
        return Response(io.RunOut(run).data, status=status.HTTP_202_ACCEPTED)


class RunCallbacksView(WorkspaceView):
    @extend_schema(responses={200: io.CallbackAttemptOut(many=True), **errors(404)})
    def get(self, request, run_id):
        run = selectors.run_get(workspace=self.workspace, run_id=run_id)
        return Response(io.CallbackAttemptOut(run.callback_attempts.all(), many=True).data)


class SigningSecretView(OwnerView):
    """The secret callbacks are signed with (owners only, reading too); POST rotates it."""

    owner_reads = True

    @extend_schema(responses={200: io.SigningSecretOut, **errors(403)})
    def get(self, request):
        return Response({"secret": callbacks.signing_secret(workspace=self.workspace)})

    @extend_schema(request=None, responses={200: io.SigningSecretOut, **errors(403)})
    def post(self, request):
        return Response({"secret": callbacks.signing_secret_rotate(workspace=self.workspace)})


# --- Webhooks ---------------------------------------------------------------------------------


def _webhook(view: WorkspaceView, workflow_id, webhook_id) -> WebhookTrigger:
    workflow = selectors.workflow_get(workspace=view.workspace, workflow_id=workflow_id)
    return selectors.get_or_404(workflow.webhooks.all(), "webhook", id=webhook_id)


class WebhookListView(WorkspaceView):
    @extend_schema(responses={200: io.WebhookOut(many=True), **errors(404)})
    def get(self, request, workflow_id):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        return Response(io.WebhookOut(workflow.webhooks.prefetch_related("calls"), many=True).data)

    @extend_schema(request=io.WebhookIn, responses={201: io.WebhookWithTokenOut, **errors(400, 404)})
    def post(self, request, workflow_id):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        webhook, token = triggers.webhook_create(workflow=workflow, fields=parse(io.WebhookIn, request))
        body = io.WebhookWithTokenOut(webhook, context={"token": token}).data
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookDetailView(WorkspaceView):
    @extend_schema(responses={200: io.WebhookOut, **errors(404)})
    def get(self, request, workflow_id, webhook_id):
        return Response(io.WebhookOut(_webhook(self, workflow_id, webhook_id)).data)

    @extend_schema(request=io.WebhookIn, responses={200: io.WebhookOut, **errors(400, 404)})
    def patch(self, request, workflow_id, webhook_id):
        webhook = _webhook(self, workflow_id, webhook_id)
        webhook = triggers.webhook_update(webhook=webhook, fields=parse(io.WebhookIn, request))
        return Response(io.WebhookOut(webhook).data)


class WebhookRotateView(WorkspaceView):
    @extend_schema(request=None, responses={200: io.WebhookWithTokenOut, **errors(404)})
    def post(self, request, workflow_id, webhook_id):
        webhook = _webhook(self, workflow_id, webhook_id)
        token = triggers.webhook_rotate(webhook=webhook)
        return Response(io.WebhookWithTokenOut(webhook, context={"token": token}).data)


class WebhookRevokeView(WorkspaceView):
    @extend_schema(request=None, responses={200: io.WebhookOut, **errors(404)})
    def post(self, request, workflow_id, webhook_id):
        webhook = _webhook(self, workflow_id, webhook_id)
        triggers.webhook_revoke(webhook=webhook)
        return Response(io.WebhookOut(webhook).data)


class WebhookReceiveView(APIView):
    """`POST /hooks/<token>`: no API key, the token is the secret. Nothing starts on any 4xx."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="hooks_fire",
        request={"application/json": OpenApiTypes.OBJECT, "application/x-www-form-urlencoded": OpenApiTypes.OBJECT},
        responses={200: io.WebhookFiredOut, 202: io.WebhookFiredOut, **errors(400, 401, 404, 413, 429)},
    )
    def post(self, request, token):
        webhook = triggers.webhook_for_token(token=token)
        try:
            run, response = self._fire(request, webhook)
        except ServiceError as exc:
            triggers.webhook_call_record(webhook=webhook, status_code=exc.status, error=str(exc))
            raise
        triggers.webhook_call_record(webhook=webhook, status_code=response.status_code, run=run)
        return response

    def _fire(self, request, webhook: WebhookTrigger) -> tuple[Run, Response]:
        limit = settings.ORCHESTRA_MAX_REQUEST_BYTES
        try:
            if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
                raise RequestDataTooBig()
            raw_body = request.body
        except RequestDataTooBig:
            raise PayloadTooLarge(f"The body is larger than {limit} bytes.", path="body") from None
        content_type = request.content_type or ""
        form = (
            {k: v[0] if len(v) == 1 else v for k, v in request.data.lists()}
            if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))
            else {}
        )
        query = {k: v[0] if len(v) == 1 else v for k, v in request.GET.lists()}
        run = triggers.webhook_fire(
            webhook=webhook,
            raw_body=raw_body,
            content_type=content_type,
            form=form,
            query=query,
            signature=request.headers.get(callbacks.SIGNATURE_HEADER, ""),
            timestamp=request.headers.get(callbacks.TIMESTAMP_HEADER, ""),
            github_signature=request.headers.get("X-Hub-Signature-256", ""),
        )
        if webhook.response_mode == "sync":
            run = triggers.run_wait(run=run, timeout_s=webhook.wait_s)
            if run.status not in ("queued", "running"):
                return run, Response(io.WebhookFiredOut(run).data)
        started = io.WebhookFiredOut(run, context={"leave_out": ("outputs", "error")}).data
        return run, Response(started, status=status.HTTP_202_ACCEPTED)

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response


# --- Schedules --------------------------------------------------------------------------------


def _schedule(view: WorkspaceView, workflow_id, schedule_id) -> Schedule:
    workflow = selectors.workflow_get(workspace=view.workspace, workflow_id=workflow_id)
    return selectors.get_or_404(workflow.schedules.all(), "schedule", id=schedule_id)


class ScheduleListView(WorkspaceView):
    @extend_schema(responses={200: io.ScheduleOut(many=True), **errors(404)})
    def get(self, request, workflow_id):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        return Response(io.ScheduleOut(workflow.schedules.all(), many=True).data)

    @extend_schema(request=io.ScheduleIn, responses={201: io.ScheduleOut, **errors(400, 404)})
    def post(self, request, workflow_id):
        workflow = selectors.workflow_get(workspace=self.workspace, workflow_id=workflow_id)
        schedule = triggers.schedule_save(workflow=workflow, fields=parse(io.ScheduleIn, request))
        return Response(io.ScheduleOut(schedule).data, status=status.HTTP_201_CREATED)


class ScheduleDetailView(WorkspaceView):
    @extend_schema(responses={200: io.ScheduleOut, **errors(404)})
    def get(self, request, workflow_id, schedule_id):
        return Response(io.ScheduleOut(_schedule(self, workflow_id, schedule_id)).data)

    @extend_schema(request=io.ScheduleIn, responses={200: io.ScheduleOut, **errors(400, 404)})
    def patch(self, request, workflow_id, schedule_id):
        schedule = _schedule(self, workflow_id, schedule_id)
        fields = parse(io.ScheduleIn, request)
        schedule = triggers.schedule_save(workflow=schedule.workflow, fields=fields, schedule=schedule)
        return Response(io.ScheduleOut(schedule).data)

    @extend_schema(responses={204: None, **errors(404)})
    def delete(self, request, workflow_id, schedule_id):
        triggers.schedule_delete(schedule=_schedule(self, workflow_id, schedule_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
