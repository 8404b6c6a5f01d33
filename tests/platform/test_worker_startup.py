"""What a worker sets up as it starts."""

import os
import subprocess
import sys

from tests.support.servers import ROOT


def test_a_starting_worker_turns_hugging_face_progress_bars_off():
    script = (
        "import django, os; django.setup()\n"
        "from workflows.tasks import quiet_model_progress\n"
        "from huggingface_hub.utils import are_progress_bars_disabled\n"
        "from transformers.utils import logging\n"
        "assert not are_progress_bars_disabled() and logging.is_progress_bar_enabled()\n"
        "quiet_model_progress()\n"
        "assert are_progress_bars_disabled() and not logging.is_progress_bar_enabled()\n"
        "assert os.environ['HF_HUB_DISABLE_PROGRESS_BARS'] == '1'\n"
        "assert logging.get_verbosity() == logging.ERROR\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY")}
    env["DJANGO_SETTINGS_MODULE"] = "orchestra.settings"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
