"""Django settings. Everything comes from environment variables, with the embedded default
(SQLite, a filesystem broker, no channel layer) when they are absent."""
import os
from pathlib import Path

import dj_database_url

from orchestra.egress import Allowlist

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ORCHESTRA_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data folder."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        import secrets

        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG")
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# Production behind TLS (a proxy that sets X-Forwarded-Proto): secure cookies, HTTPS only, HSTS.
# `manage.py check --deploy --fail-level WARNING` passes with it on (tests/test_packaging.py).
ORCHESTRA_HTTPS = _env_bool("ORCHESTRA_HTTPS")
if ORCHESTRA_HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("ORCHESTRA_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("ORCHESTRA_HSTS_INCLUDE_SUBDOMAINS")
    SECURE_HSTS_PRELOAD = _env_bool("ORCHESTRA_HSTS_PRELOAD")
# HSTS for every subdomain, and the browsers' preload list, bind hosts beyond this one: an
# operator opts in (the variables above), so check --deploy does not insist on them.
SILENCED_SYSTEM_CHECKS = ["security.W005", "security.W021"]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "django_celery_beat",
    "workflows",
    "distillation",  # issue 6: distillation jobs, node deployments, savings
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # admin static files and the built browser app
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "orchestra.urls"
ASGI_APPLICATION = "orchestra.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "orchestra.sqlite3",
            # The web server, the worker and beat share the file: wait for locks, don't fail.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE",
                        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
# WhiteNoise serves static files from inside the installed packages (no collectstatic step, so the
# wheel and the image serve them as they are), and the browser app that `make frontend` builds into
# orchestra/webapp at the site root; Vite's /assets/ names carry a content hash, so cache them forever.
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
FRONTEND_DIST = Path(__file__).resolve().parent / "webapp"
WHITENOISE_USE_FINDERS = True
WHITENOISE_ROOT = FRONTEND_DIST if FRONTEND_DIST.is_dir() else None
WHITENOISE_IMMUTABLE_FILE_TEST = lambda path, url: url.startswith("/assets/")  # noqa: E731
LOGIN_URL = "/login"

# --- Queues -------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # How long a message taken by a worker that then died stays invisible; our own run lease
        # (below) makes recovery independent of it, so it only bounds redelivery delay.
        "visibility_timeout": int(os.environ.get("ORCHESTRA_VISIBILITY_TIMEOUT_S", "3600")),
        # Lets several deployments (or test sessions) share one Redis without sharing queues.
        "global_keyprefix": os.environ.get("ORCHESTRA_QUEUE_PREFIX", ""),
    }
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL],
                                                                    "prefix": os.environ.get("ORCHESTRA_QUEUE_PREFIX", "") + "asgi"}}
    }
else:
    # A real Celery broker that needs no server: kombu's filesystem transport in the data folder.
    _broker_dir = DATA_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CHANNEL_LAYERS = {}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "runs"
CELERY_TASK_ROUTES = {"workflows.tasks.distillation_*": {"queue": "training"},
                      # issue 6: the training task only; its sweeper stays on the default queue
                      "distillation.tasks.distillation_job_run_task": {"queue": "training"}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Runs ---------------------------------------------------------------------------------
# A worker holds a lease on the run it executes and renews it; a run whose lease lapses (its
# worker died) is picked up again by the sweeper and resumes from its last checkpoint.
ORCHESTRA_RUN_LEASE_S = float(os.environ.get("ORCHESTRA_RUN_LEASE_S", "30"))
ORCHESTRA_SWEEP_INTERVAL_S = float(os.environ.get("ORCHESTRA_SWEEP_INTERVAL_S", "10"))
# A queued run whose message was lost (worker killed right after taking it) is re-enqueued after this.
ORCHESTRA_REQUEUE_AFTER_S = float(os.environ.get("ORCHESTRA_REQUEUE_AFTER_S", "300"))
CELERY_BEAT_SCHEDULE = {
    "runs-sweep": {"task": "workflows.tasks.runs_sweep_task", "schedule": ORCHESTRA_SWEEP_INTERVAL_S},
    # issue 6: training jobs whose worker died resume from their last checkpoint on another one
    "distillation-jobs-sweep": {"task": "distillation.tasks.distillation_jobs_sweep_task",
                                "schedule": ORCHESTRA_SWEEP_INTERVAL_S},
}
ORCHESTRA_DEFAULT_MODEL = os.environ.get("ORCHESTRA_DEFAULT_MODEL", "")
# Folders a tenant may name as a transformers model (shared base models an operator put there);
# any other server path is refused. Students a job trains are registered by the platform itself.
ORCHESTRA_MODEL_DIRS = [Path(p).resolve() for p in
                        os.environ.get("ORCHESTRA_MODEL_DIRS", str(DATA_DIR / "models")).split(os.pathsep) if p]
# The egress guard (every outbound call: HTTP nodes and tools, model endpoints, MCP servers,
# callbacks): private, loopback and link-local targets are refused unless allowed here: all of
# them (ORCHESTRA_HTTP_ALLOW_PRIVATE=1), or named hosts and networks (ORCHESTRA_EGRESS_ALLOW=
# "vllm,10.0.0.0/8", e.g. the compose file's model server), never by turning the guard off.
ORCHESTRA_HTTP_ALLOW_PRIVATE = _env_bool("ORCHESTRA_HTTP_ALLOW_PRIVATE") or \
    Allowlist.parse(os.environ.get("ORCHESTRA_EGRESS_ALLOW", ""))
# Run completion callbacks: attempt n waits BACKOFF_S * 2**(n-1) seconds after a failed attempt n-1.
ORCHESTRA_CALLBACK_MAX_ATTEMPTS = int(os.environ.get("ORCHESTRA_CALLBACK_MAX_ATTEMPTS", "8"))
ORCHESTRA_CALLBACK_BACKOFF_S = float(os.environ.get("ORCHESTRA_CALLBACK_BACKOFF_S", "2"))
ORCHESTRA_CALLBACK_TIMEOUT_S = float(os.environ.get("ORCHESTRA_CALLBACK_TIMEOUT_S", "10"))
# How long a chat turn (without streaming) waits for the workflow's reply.
ORCHESTRA_CHAT_WAIT_S = float(os.environ.get("ORCHESTRA_CHAT_WAIT_S", "300"))
# MCP: one call to a registered server's tool; one workflow run started by a client of /mcp.
ORCHESTRA_MCP_TIMEOUT_S = float(os.environ.get("ORCHESTRA_MCP_TIMEOUT_S", "30"))
ORCHESTRA_MCP_RUN_TIMEOUT_S = float(os.environ.get("ORCHESTRA_MCP_RUN_TIMEOUT_S", "300"))
ORCHESTRA_MAX_REQUEST_BYTES = int(os.environ.get("ORCHESTRA_MAX_REQUEST_BYTES", str(2 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = ORCHESTRA_MAX_REQUEST_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "workflows.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["workflows.auth.IsWorkspaceMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "workflows.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Orchestra API",
    "DESCRIPTION": "Workflows, runs, models and traces.",
    "VERSION": "0.1.0",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {"orchestra": {"level": os.environ.get("LOG_LEVEL", "INFO")},
                "workflows": {"level": os.environ.get("LOG_LEVEL", "INFO")}},
}
