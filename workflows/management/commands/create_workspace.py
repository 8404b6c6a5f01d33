from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from workflows import services
from workflows.models import Membership, Workspace


class Command(BaseCommand):
    help = ("Create a workspace (or reuse one of that name) and make users members of it, creating the "
            "users that do not exist yet. Then: create_api_key --user U --workspace W.")

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="workspace name")
        parser.add_argument("--user", action="append", default=[], help="username to add (repeatable)")
        parser.add_argument("--password", help="password for users this command creates (else they cannot "
                                               "log in to the browser app until one is set)")

    def handle(self, *args, name, user, password, **options):
        if not name.strip():
            raise CommandError("--name must not be empty.")
        workspace = Workspace.objects.filter(name=name).first()
        created = workspace is None
        if created:
            workspace = services.workspace_create(name=name)
        for username in user:
            account = get_user_model().objects.filter(username=username).first()
            if account is None:
                services.user_create(username=username, password=password, workspace=workspace)
                self.stdout.write(f"created user {username!r}")
            else:
                Membership.objects.get_or_create(user=account, workspace=workspace)
        self.stdout.write(f"{'created' if created else 'using'} workspace {workspace.name!r} ({workspace.id})")
