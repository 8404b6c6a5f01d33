from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from workflows import services
from workflows.models import Membership, Workspace


class Command(BaseCommand):
    help = (
        "Create a workspace (or reuse one of that name) and make users members of it, creating the "
        "users that do not exist yet. Then: create_api_key --user U --workspace W."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="workspace name")
        parser.add_argument("--user", action="append", default=[], help="username to add as a member (repeatable)")
        parser.add_argument(
            "--owner",
            action="append",
            default=[],
            help="username to add as an owner (repeatable); a new workspace with no --owner "
            "makes its first --user the owner",
        )
        parser.add_argument(
            "--password",
            help="password for users this command creates (else they cannot "
            "log in to the browser app until one is set)",
        )

    def handle(self, *args, name, user, owner, password, **options):
        if not name.strip():
            raise CommandError("--name must not be empty.")
        workspace = Workspace.objects.filter(name=name).first()
        created = workspace is None
        if created:
            workspace = services.workspace_create(name=name)
        roles = {username: "member" for username in user} | {username: "owner" for username in owner}
        if created and not owner and user:
            roles[user[0]] = "owner"
        for username, role in roles.items():
            account = get_user_model().objects.filter(username=username).first()
            if account is None:
                services.user_create(username=username, password=password, workspace=workspace, role=role)
                self.stdout.write(f"created user {username!r} ({role})")
            else:
                membership, _ = Membership.objects.get_or_create(user=account, workspace=workspace)
                if role == "owner" and membership.role != "owner":
                    Membership.objects.filter(pk=membership.pk).update(role="owner")
        self.stdout.write(f"{'created' if created else 'using'} workspace {workspace.name!r} ({workspace.id})")
