"""First-run set-up for the embedded default: a demo workspace, user, API key, model and examples.

Safe to run again: what exists is kept, and secrets are only ever printed when first created.
"""

import json
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from workflows import services
from workflows.models import ModelEndpoint, Workspace

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEMO_USER = "demo"
DEMO_WORKSPACE = "Demo"


class Command(BaseCommand):
    help = "Create the demo workspace, user, API key, default model and example workflows (idempotent)."

    def handle(self, *args, **options):
        workspace = Workspace.objects.filter(name=DEMO_WORKSPACE).first()
        if workspace is not None:
            self.stdout.write(
                f"Demo workspace exists; log in as {DEMO_USER!r} (reset the password with "
                f"`python manage.py changepassword {DEMO_USER}`)."
            )
            return
        password = secrets.token_urlsafe(9)
        user = get_user_model().objects.create_user(username=DEMO_USER, password=password)
        workspace = services.workspace_create(name=DEMO_WORKSPACE, owner=user)
        _, key = services.api_key_create(user=user, workspace=workspace, name="demo")
        model = self._default_model(workspace)
        for path in sorted(EXAMPLES.glob("*.json")):
            workflow = services.workflow_import(workspace=workspace, data=json.loads(path.read_text()))
            services.workflow_publish(workflow=workflow)  # (version, created): a new version either way here
        self.stdout.write(self.style.SUCCESS("Demo workspace ready (shown once; keep them):"))
        self.stdout.write(f"  login:    {DEMO_USER} / {password}")
        self.stdout.write(f"  API key:  {key}")
        self.stdout.write(f"  model:    {model.name} ({model.backend}: {model.model})")

    def _default_model(self, workspace) -> ModelEndpoint:
        """ORCHESTRA_DEMO_MODEL (a HF id or local folder) if set; else a tiny offline model."""
        name = os.environ.get("ORCHESTRA_DEMO_MODEL")
        if name:
            return services.model_endpoint_save(
                workspace=workspace,
                name="default",
                fields={"backend": "transformers", "model": name, "is_default": True},
                trusted_path=True,
            )
        from orchestra.inference.tiny import build_model, train_tokenizer

        folder = settings.DATA_DIR / "models" / "tiny-demo"
        if not (folder / "config.json").exists():
            self.stdout.write(
                "Building a tiny offline demo model (random weights: it answers gibberish; "
                "set ORCHESTRA_DEMO_MODEL or register a real model on the Models page)..."
            )
            tokenizer = train_tokenizer(settings.DATA_DIR / "models" / "tiny-tokenizer")
            build_model(folder, tokenizer, hidden_size=128, layers=4, intermediate_size=256)
        return services.model_endpoint_save(
            workspace=workspace,
            name="tiny-demo",
            fields={"backend": "transformers", "model": str(folder), "is_default": True},
            trusted_path=True,
        )
