"""Who may use the workspace: API keys (each member's own; owners see and revoke all) and members."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from workflows import selectors, services
from workflows.api import serializers as io
from workflows.api.openapi import errors
from workflows.api.inputs import parse
from workflows.api.views import OwnerView, WorkspaceView


class ApiKeyListView(WorkspaceView):
    @extend_schema(responses={200: io.ApiKeyOut(many=True)})
    def get(self, request):
        keys = selectors.api_key_list(workspace=self.workspace, user=request.user)
        return Response(io.ApiKeyOut(keys, many=True).data)

    @extend_schema(request=io.ApiKeyIn, responses={201: io.ApiKeyCreatedOut, **errors(400)})
    def post(self, request):
        name = parse(io.ApiKeyIn, request).get("name", "")
        api_key, key = services.api_key_create(user=request.user, workspace=self.workspace, name=name)
        return Response(io.ApiKeyCreatedOut(api_key, context={"key": key}).data, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(WorkspaceView):
    @extend_schema(request=None, responses={200: io.ApiKeyOut, **errors(404)})
    def post(self, request, key_id):
        api_key = selectors.api_key_get(workspace=self.workspace, user=request.user, key_id=key_id)
        return Response(io.ApiKeyOut(services.api_key_revoke(api_key=api_key, by=request.user)).data)


class MemberListView(WorkspaceView):
    @extend_schema(responses={200: io.MemberOut(many=True)})
    def get(self, request):
        return Response(io.MemberOut(selectors.member_list(workspace=self.workspace), many=True).data)


class MemberDetailView(OwnerView):
    @extend_schema(responses={204: None, **errors(400, 403, 404)})
    def delete(self, request, username):
        member = selectors.member_get(workspace=self.workspace, username=username)
        services.membership_remove(workspace=self.workspace, user=member.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
