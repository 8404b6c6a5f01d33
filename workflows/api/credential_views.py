"""Credentials of the caller's workspace: members list them (names, never values); owners create,
rotate and delete. A value goes in once and never comes back out."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from workflows import credentials
from workflows.api.inputs import parse
from workflows.api.openapi import errors
from workflows.api.views import OwnerView


class CredentialIn(serializers.Serializer):
    name = serializers.CharField(max_length=64, help_text="As templates write it: {{ credentials.NAME }}")
    value = serializers.CharField(write_only=True, trim_whitespace=False, help_text="The secret; never shown again.")


class CredentialRotateIn(serializers.Serializer):
    value = serializers.CharField(write_only=True, trim_whitespace=False)


class CredentialOut(serializers.Serializer):
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    rotated_at = serializers.DateTimeField(allow_null=True)


class CredentialListView(OwnerView):
    @extend_schema(responses={200: CredentialOut(many=True)})
    def get(self, request):
        return Response(CredentialOut(credentials.credential_list(workspace=self.workspace), many=True).data)

    @extend_schema(request=CredentialIn, responses={201: CredentialOut, **errors(400, 403)})
    def post(self, request):
        body = parse(CredentialIn, request)
        credential = credentials.credential_create(workspace=self.workspace, name=body["name"], value=body["value"])
        return Response(CredentialOut(credential).data, status=status.HTTP_201_CREATED)


class CredentialDetailView(OwnerView):
    @extend_schema(request=CredentialRotateIn, responses={200: CredentialOut, **errors(400, 403, 404)})
    def put(self, request, name):
        value = parse(CredentialRotateIn, request)["value"]
        credential = credentials.credential_get(workspace=self.workspace, name=name)
        return Response(CredentialOut(credentials.credential_rotate(credential=credential, value=value)).data)

    @extend_schema(responses={204: None, **errors(403, 404)})
    def delete(self, request, name):
        credentials.credential_delete(credential=credentials.credential_get(workspace=self.workspace, name=name))
        return Response(status=status.HTTP_204_NO_CONTENT)
