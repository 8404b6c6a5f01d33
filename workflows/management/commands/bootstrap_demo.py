"""First-run set-up for the embedded default: a demo workspace, user, API key, model and examples.

Safe to run again: what exists is kept, and secrets are only ever printed when first created.
"""

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from orchestra.egress import guarded_client
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
        """ORCHESTRA_DEMO_MODEL (a HF id or local folder) if set; else the demo's instruct model."""
        name = os.environ.get("ORCHESTRA_DEMO_MODEL")
        if name:
            return services.model_endpoint_save(
                workspace=workspace,
                name="default",
                fields={"backend": "transformers", "model": name, "is_default": True, **DEMO_PRICES},
                trusted_path=True,
            )
        return demo_model(workspace=workspace, models_dir=settings.DATA_DIR / "models", say=self.stdout.write)


# Nominal prices (per million tokens) so the demo's runs, nodes and savings show costs.
DEMO_PRICES = {"price_in": 0.1, "price_out": 0.4}
HUB_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def demo_model(
    *, workspace: Workspace, models_dir: Path, say: Callable[[str], None], hub_endpoint: str | None = None
) -> ModelEndpoint:
    """The demo's default model: a small instruct model from the Hugging Face hub, downloaded once into
    the data folder; offline (or if the download fails), a tiny model with random weights, said in a line."""
    folder = models_dir / HUB_MODEL.split("/")[-1].lower()
    if not (folder / "config.json").exists():
        try:
            download_hub_model(HUB_MODEL, folder, endpoint=hub_endpoint, say=say)
        except Exception as exc:  # noqa: BLE001 (offline, a proxy, a full disk: the demo still starts)
            say(
                f"{HUB_MODEL} not downloaded ({type(exc).__name__}: {str(exc)[:120]}); using a tiny offline model "
                "with random weights (it answers gibberish): set ORCHESTRA_DEMO_MODEL or add one on the Models page."
            )
            return _tiny_model(workspace=workspace, models_dir=models_dir)
    return services.model_endpoint_save(
        workspace=workspace,
        name=folder.name,
        fields={"backend": "transformers", "model": str(folder), "is_default": True, **DEMO_PRICES},
        trusted_path=True,
    )


def download_hub_model(repo_id: str, folder: Path, *, endpoint: str | None, say: Callable[[str], None]) -> None:
    """Download a model's files, with huggingface_hub's progress bar, into `folder` (renamed into place
    once complete, so an interrupted download is resumed, never loaded half-written)."""
    import huggingface_hub
    from huggingface_hub import constants

    endpoint = endpoint or constants.ENDPOINT
    if constants.HF_HUB_OFFLINE:
        raise ConnectionError("HF_HUB_OFFLINE is set")
    # A quick look first: where the hub is unreachable, say so in seconds rather than after retries.
    with guarded_client(allow_private=settings.ORCHESTRA_HTTP_ALLOW_PRIVATE, timeout=5) as client:
        client.head(f"{endpoint}/api/models/{repo_id}").raise_for_status()
    say(f"Downloading {repo_id} (about 1 GB, once) into {folder} ...")
    partial = folder.with_name(folder.name + ".partial")
    huggingface_hub.snapshot_download(
        repo_id,
        local_dir=partial,
        endpoint=endpoint,
        allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model", "merges.txt", "vocab.*"],
    )
    partial.rename(folder)


def _tiny_model(*, workspace: Workspace, models_dir: Path) -> ModelEndpoint:
    from orchestra.inference.tiny import build_model, train_tokenizer

    folder = models_dir / "tiny-demo"
    if not (folder / "config.json").exists():
        tokenizer = train_tokenizer(models_dir / "tiny-tokenizer")
        build_model(folder, tokenizer, hidden_size=128, layers=4, intermediate_size=256)
    return services.model_endpoint_save(
        workspace=workspace,
        name="tiny-demo",
        fields={"backend": "transformers", "model": str(folder), "is_default": True, **DEMO_PRICES},
        trusted_path=True,
    )
