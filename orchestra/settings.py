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
    # The model router before distillation: a routed call is the router's (its seam comes first).
    "routing",
    "distillation",
]

MIDDLEWARE = [
    "workflows.connections.release_database_connections",  # first: it wraps all the others
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


class _ProcessName:
    """`orchestra:<pid>`, read when a connection opens (after a worker forks, its own pid)."""

    def __str__(self) -> str:
        return f"orchestra:{os.getpid()}"


DATABASE_URL = os.environ.get("DATABASE_URL")
ORCHESTRA_DB_POOL_MIN = int(os.environ.get("ORCHESTRA_DB_POOL_MIN", "1"))
ORCHESTRA_DB_POOL_MAX = int(os.environ.get("ORCHESTRA_DB_POOL_MAX", "10"))
ORCHESTRA_DB_POOL_TIMEOUT_S = float(os.environ.get("ORCHESTRA_DB_POOL_TIMEOUT_S", "20"))
if DATABASE_URL:
    # Bounded connections: each process (a web server, a worker child) holds at most
    # ORCHESTRA_DB_POOL_MAX connections from Django's psycopg pool, however many threads or clients it
    # serves; a thread that finds the pool empty waits up to ORCHESTRA_DB_POOL_TIMEOUT_S for one. A
    # pooled connection is checked before it is handed out (CONN_HEALTH_CHECKS), so connections the
    # database dropped (a restart, pg_terminate_backend) are replaced instead of failing a request.
    # The LangGraph checkpointer has its own pool (ORCHESTRA_CHECKPOINT_POOL_MAX, workers only).
    # docs/deployment.md: "Connection pools".
    _default_db = dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
    _default_db.setdefault("OPTIONS", {})["pool"] = {
        "min_size": ORCHESTRA_DB_POOL_MIN,
        "max_size": max(ORCHESTRA_DB_POOL_MIN, ORCHESTRA_DB_POOL_MAX),
        "timeout": ORCHESTRA_DB_POOL_TIMEOUT_S,
        "max_idle": 300,
        "name": "django",
    }
    # Each process's connections carry its pid, so pg_stat_activity shows who holds what.
    _default_db["OPTIONS"].setdefault("application_name", _ProcessName())
    DATABASES = {"default": _default_db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "orchestra.sqlite3",
            # The web server, the worker and beat share the file: wait for locks, don't fail.
            "OPTIONS": {
                "timeout": 30,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
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
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("ORCHESTRA_QUEUE_PREFIX", "") + "asgi"},
        }
    }
else:
    # A real Celery broker that needs no server: kombu's filesystem transport in the data folder.
    _broker_dir = DATA_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "orchestra.broker:Transport"  # messages written atomically (orchestra/broker.py)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # kombu polls the folder; its default second would be most of a trivial run's latency.
        "polling_interval": float(os.environ.get("ORCHESTRA_BROKER_POLL_S", "0.02")),
    }
    CHANNEL_LAYERS = {}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "runs"
# Training runs on the `training` queue (GPU workers); the sweepers stay on the default queue.
CELERY_TASK_ROUTES = {
    "distillation.tasks.distillation_job_run_task": {"queue": "training"},
    "routing.tasks.router_job_run_task": {"queue": "training"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request that cannot reach the broker answers 503 within about a second instead of hanging
# (the run stays queued and the sweeper enqueues it once the broker is back).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("ORCHESTRA_BROKER_CONNECT_TIMEOUT_S", "2"))
# Containment (prefork workers): a task past its hard limit is killed (the run's lease then lapses and
# it resumes elsewhere); a worker child is replaced after so many tasks or once it holds this much
# memory, so a leak or one huge render cannot grow a worker forever. Training jobs have their own limit.
CELERY_TASK_TIME_LIMIT = int(os.environ.get("ORCHESTRA_TASK_TIME_LIMIT_S", "3600"))
CELERY_WORKER_MAX_TASKS_PER_CHILD = int(os.environ.get("ORCHESTRA_WORKER_MAX_TASKS_PER_CHILD", "10000"))
CELERY_WORKER_MAX_MEMORY_PER_CHILD = int(os.environ.get("ORCHESTRA_WORKER_MAX_MEMORY_KB", str(2 * 1024 * 1024)))
CELERY_TASK_ANNOTATIONS = {
    "distillation.tasks.distillation_job_run_task": {
        "time_limit": int(os.environ.get("ORCHESTRA_TRAINING_TIME_LIMIT_S", str(7 * 24 * 3600)))
    }
}

# --- Runs ---------------------------------------------------------------------------------
# A worker holds a lease on the run it executes and renews it; a run whose lease lapses (its
# worker died) is picked up again by the sweeper and resumes from its last checkpoint.
ORCHESTRA_RUN_LEASE_S = float(os.environ.get("ORCHESTRA_RUN_LEASE_S", "30"))
# A run whose worker is lost this many times (killed, out of memory, over its time limit) fails.
ORCHESTRA_RUN_MAX_WORKER_LOSSES = int(os.environ.get("ORCHESTRA_RUN_MAX_WORKER_LOSSES", "3"))
ORCHESTRA_SWEEP_INTERVAL_S = float(os.environ.get("ORCHESTRA_SWEEP_INTERVAL_S", "10"))
# A queued run whose message was lost (worker killed right after taking it) is re-enqueued after this.
ORCHESTRA_REQUEUE_AFTER_S = float(os.environ.get("ORCHESTRA_REQUEUE_AFTER_S", "300"))
# The LangGraph checkpointer's own connection pool, per worker process (see ORCHESTRA_DB_POOL_MAX).
ORCHESTRA_CHECKPOINT_POOL_MAX = int(os.environ.get("ORCHESTRA_CHECKPOINT_POOL_MAX", "4"))
# How long a worker keeps retrying when the database is unreachable before it gives the run back to
# the sweeper (the run is never failed for it): ORCHESTRA_DB_RETRY_S in all, backing off to 2 s.
ORCHESTRA_DB_RETRY_S = float(os.environ.get("ORCHESTRA_DB_RETRY_S", "60"))
# Streamed tokens are stored (and pushed) at most once per this many ms per node, as one event.
ORCHESTRA_TOKEN_FLUSH_MS = float(os.environ.get("ORCHESTRA_TOKEN_FLUSH_MS", "50"))
CELERY_BEAT_SCHEDULE = {
    "runs-sweep": {"task": "workflows.tasks.runs_sweep_task", "schedule": ORCHESTRA_SWEEP_INTERVAL_S},
    # Training jobs whose worker died resume from their last checkpoint on another one.
    "distillation-jobs-sweep": {
        "task": "distillation.tasks.distillation_jobs_sweep_task",
        "schedule": ORCHESTRA_SWEEP_INTERVAL_S,
    },
    "router-jobs-sweep": {"task": "routing.tasks.router_jobs_sweep_task", "schedule": ORCHESTRA_SWEEP_INTERVAL_S},
}
ORCHESTRA_DEFAULT_MODEL = os.environ.get("ORCHESTRA_DEFAULT_MODEL", "")
# Folders a tenant may name as a transformers model (shared base models an operator put there);
# any other server path is refused. Students a job trains are registered by the platform itself.
ORCHESTRA_MODEL_DIRS = [
    Path(p).resolve() for p in os.environ.get("ORCHESTRA_MODEL_DIRS", str(DATA_DIR / "models")).split(os.pathsep) if p
]
# The egress guard (every outbound call: HTTP nodes and tools, model endpoints, MCP servers,
# callbacks): private, loopback and link-local targets are refused unless allowed here: all of
# them (ORCHESTRA_HTTP_ALLOW_PRIVATE=1), or named hosts and networks (ORCHESTRA_EGRESS_ALLOW=
# "vllm,10.0.0.0/8", e.g. the compose file's model server), never by turning the guard off.
ORCHESTRA_HTTP_ALLOW_PRIVATE = _env_bool("ORCHESTRA_HTTP_ALLOW_PRIVATE") or Allowlist.parse(
    os.environ.get("ORCHESTRA_EGRESS_ALLOW", "")
)
# Run completion callbacks: attempt n waits BACKOFF_S * 2**(n-1) seconds after a failed attempt n-1.
ORCHESTRA_CALLBACK_MAX_ATTEMPTS = int(os.environ.get("ORCHESTRA_CALLBACK_MAX_ATTEMPTS", "8"))
ORCHESTRA_CALLBACK_BACKOFF_S = float(os.environ.get("ORCHESTRA_CALLBACK_BACKOFF_S", "2"))
ORCHESTRA_CALLBACK_TIMEOUT_S = float(os.environ.get("ORCHESTRA_CALLBACK_TIMEOUT_S", "10"))
# How long a chat turn (without streaming) waits for the workflow's reply.
ORCHESTRA_CHAT_WAIT_S = float(os.environ.get("ORCHESTRA_CHAT_WAIT_S", "300"))
# MCP: one call to a registered server's tool; one workflow run started by a client of /mcp.
ORCHESTRA_MCP_TIMEOUT_S = float(os.environ.get("ORCHESTRA_MCP_TIMEOUT_S", "30"))
ORCHESTRA_MCP_RUN_TIMEOUT_S = float(os.environ.get("ORCHESTRA_MCP_RUN_TIMEOUT_S", "300"))
# Signed webhooks: a request signed longer ago than this (or in the future) is refused, and each
# signature is accepted once; requests failing their signature are limited apart, per webhook.
ORCHESTRA_WEBHOOK_REPLAY_WINDOW_S = float(os.environ.get("ORCHESTRA_WEBHOOK_REPLAY_WINDOW_S", "300"))
ORCHESTRA_WEBHOOK_FAILURES_PER_MIN = int(os.environ.get("ORCHESTRA_WEBHOOK_FAILURES_PER_MIN", "30"))
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
    "DESCRIPTION": "Workflows, runs, models, traces, triggers, chat, distillation and routing "
    "(docs/api.md); /v1 is the OpenAI-compatible gateway.",
    "VERSION": "0.1.0",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "workflows.api.openapi.document_refusals",
    ],
    # One name per set of choices that several bodies share (the generated TypeScript types use them).
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "workflows.models.Run.STATUSES",
        "NodeRunStatusEnum": "workflows.models.NodeRun.STATUSES",
        "DistillationJobStatusEnum": "distillation.models.DistillationJob.STATUSES",
        "DistillationMethodEnum": "distillation.services.plans.METHODS",
        "RouterJobStatusEnum": "routing.models.RouterJob.STATUSES",
        "EvaluatedModelEnum": "distillation.models.EvaluationRun.MODELS",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
    "loggers": {
        "orchestra": {"level": os.environ.get("LOG_LEVEL", "INFO")},
        "workflows": {"level": os.environ.get("LOG_LEVEL", "INFO")},
    },
}
