"""Who may use the workspace: API keys (each member's own; owners see and revoke all) and members."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from workflows import selectors, services
from workflows.api import serializers as io
from workflows.api.openapi import errors
from workflows.api.output import iso
from workflows.api.inputs import parse
from workflows.api.views import OwnerView, WorkspaceView
from workflows.models import ApiKey, Membership


def api_key_out(api_key: ApiKey) -> dict:
    return {
        "id": api_key.id,
        "name": api_key.name,
        "prefix": api_key.prefix,
        "user": api_key.user.username,
        "created_at": iso(api_key.created_at),
        "last_used_at": iso(api_key.last_used_at),
        "revoked_at": iso(api_key.revoked_at),
    }


class ApiKeyListView(WorkspaceView):
    @extend_schema(responses={200: io.ApiKeyOut(many=True)})
    def get(self, request):
        keys = selectors.api_key_list(workspace=self.workspace, user=request.user)
        return Response([api_key_out(k) for k in keys])

    @extend_schema(request=io.ApiKeyIn, responses={201: io.ApiKeyCreatedOut, **errors(400)})
    def post(self, request):
        name = parse(io.ApiKeyIn, request).get("name", "")
        api_key, key = services.api_key_create(user=request.user, workspace=self.workspace, name=name)
        return Response(api_key_out(api_key) | {"key": key}, status=status.HTTP_201_CREATED)  # shown this once


class ApiKeyRevokeView(WorkspaceView):
    @extend_schema(request=None, responses={200: io.ApiKeyOut, **errors(404)})
    def post(self, request, key_id):
        api_key = selectors.api_key_get(workspace=self.workspace, user=request.user, key_id=key_id)
        return Response(api_key_out(services.api_key_revoke(api_key=api_key, by=request.user)))


def member_out(membership: Membership) -> dict:
    return {"user": membership.user.username, "role": membership.role, "joined_at": iso(membership.created_at)}


class MemberListView(WorkspaceView):
    @extend_schema(responses={200: io.MemberOut(many=True)})
    def get(self, request):
        return Response([member_out(m) for m in selectors.member_list(workspace=self.workspace)])


class MemberDetailView(OwnerView):
    @extend_schema(responses={204: None, **errors(400, 403, 404)})
    def delete(self, request, username):
        member = selectors.member_get(workspace=self.workspace, username=username)
        services.membership_remove(workspace=self.workspace, user=member.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
