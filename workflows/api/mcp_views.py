"""MCP servers of the caller's workspace: register, change, refresh the tool list, delete.

Header values are write-only: responses name the headers a server has, never their values."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from workflows import mcp
from workflows.api import serializers as io
from workflows.api.openapi import errors
from workflows.api.inputs import parse
from workflows.api.views import OwnerView


class McpServerListView(OwnerView):
    @extend_schema(responses={200: io.McpServerOut(many=True)})
    def get(self, request):
        return Response(io.McpServerOut(mcp.mcp_server_list(workspace=self.workspace), many=True).data)

    @extend_schema(request=io.McpServerIn, responses={201: io.McpServerOut, **errors(400)})
    def post(self, request):
        body = parse(io.McpServerIn, request)
        server = mcp.mcp_server_save(
            workspace=self.workspace, name=body.get("name"), url=body.get("url"), headers=body.get("headers")
        )
        return Response(io.McpServerOut(server).data, status=status.HTTP_201_CREATED)


class McpServerDetailView(OwnerView):
    @extend_schema(responses={200: io.McpServerOut, **errors(404)})
    def get(self, request, server_id):
        return Response(io.McpServerOut(mcp.mcp_server_get(workspace=self.workspace, server_id=server_id)).data)

    @extend_schema(request=io.McpServerIn, responses={200: io.McpServerOut, **errors(400, 404)})
    def patch(self, request, server_id):
        server = mcp.mcp_server_get(workspace=self.workspace, server_id=server_id)
        body = parse(io.McpServerIn, request, partial=True)
        server = mcp.mcp_server_save(
            workspace=self.workspace,
            name=body.get("name"),
            url=body.get("url"),
            headers=body.get("headers"),
            server=server,
        )
        return Response(io.McpServerOut(server).data)

    @extend_schema(responses={204: None, **errors(404)})
    def delete(self, request, server_id):
        mcp.mcp_server_delete(server=mcp.mcp_server_get(workspace=self.workspace, server_id=server_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class McpServerRefreshView(OwnerView):
    @extend_schema(request=None, responses={200: io.McpServerOut, **errors(400, 404)})
    def post(self, request, server_id):
        server = mcp.mcp_server_get(workspace=self.workspace, server_id=server_id)
        return Response(io.McpServerOut(mcp.mcp_server_refresh(server=server)).data)
