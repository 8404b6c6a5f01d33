from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from workflows import services
from workflows.errors import ServiceError
from workflows.models import Workspace


class Command(BaseCommand):
    help = "Create an API key for a user in a workspace. The key is printed once and stored hashed."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username")
        parser.add_argument("--workspace", required=True, help="workspace name or id")
        parser.add_argument("--name", default="", help="a label for the key")

    def handle(self, *args, user, workspace, name, **options):
        account = get_user_model().objects.filter(username=user).first()
        if account is None:
            raise CommandError(f"No user named {user!r}.")
        found = Workspace.objects.filter(name=workspace).first()
        if found is None:
            try:
                found = Workspace.objects.filter(id=workspace).first()
            except Exception:
                found = None
        if found is None:
            raise CommandError(f"No workspace named (or with id) {workspace!r}.")
        try:
            _, key = services.api_key_create(user=account, workspace=found, name=name)
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(key)
