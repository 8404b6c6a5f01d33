"""API-key and session authentication; every request resolves to exactly one workspace."""

from rest_framework import authentication, exceptions, permissions

from workflows import selectors, services
from workflows.models import Workspace


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <key>`; request.auth is the ApiKey, which names the workspace."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <api key>'.")
        api_key = services.api_key_authenticate(key=key.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return api_key.user, api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


def request_workspace(request) -> Workspace | None:
    """The caller's workspace: the API key's, or the session user's first membership."""
    if getattr(request, "_orchestra_workspace", None) is not None:
        return request._orchestra_workspace
    auth = getattr(request, "auth", None)
    workspace = None
    if auth is not None and hasattr(auth, "workspace_id"):
        workspace = auth.workspace
    elif request.user and request.user.is_authenticated:
        workspace = selectors.workspace_for_user(user=request.user)
    request._orchestra_workspace = workspace
    return workspace


class IsWorkspaceMember(permissions.BasePermission):
    message = "Authentication required: send 'Authorization: Bearer <api key>' or log in."

    def has_permission(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return False
        if request_workspace(request) is None:
            self.message = "This user belongs to no workspace."
            return False
        return True


class OwnerManages(permissions.BasePermission):
    """Reading is for every member; changing (models, MCP servers, secrets, members) is for owners."""

    message = "Only a workspace owner may change this."

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS and not getattr(view, "owner_reads", False):
            return True
        return services.workspace_role(user=request.user, workspace=request_workspace(request)) == "owner"
