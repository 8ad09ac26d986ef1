"""CHM settings. Every value comes from an environment variable, read through the helpers of
common/env.py, and each setting is assembled here once; docs/configuration.md lists every
variable with its default."""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path

import dj_database_url
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

from common.env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CHM_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off. Set SECRET_KEY, or DEBUG=1 for development."
        )
    # Development only: a random key kept under var/ so logins survive a restart.
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Absolute base URL used in notifications and embeds ("https://chm.example.com").
CHM_BASE_URL = env_str("CHM_BASE_URL", "http://127.0.0.1:8000").rstrip("/")


# --- Applications, middleware, URLs, templates -------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    # CHM's apps, lowest layer first (pyproject.toml's import contracts).
    "inventory",
    "runs",
    "alerts",
    "api",
    "web",
    "dashboards",
    # Last: its post_migrate receiver gives the staff roles the permissions of every app above.
    "chm_project.apps.ChmConfig",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Outermost after the metrics clock, so the logged duration covers every other layer.
    "chm_project.middleware.RequestLogMiddleware",
    "api.middleware.IngestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "chm_project.middleware.DatabaseUnavailableMiddleware",
    "chm_project.middleware.DatabaseRefusedValueMiddleware",
    "chm_project.middleware.ReplicaReadsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "chm_project.urls"
WSGI_APPLICATION = "chm_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# --- Database -------------------------------------------------------------------------------

# Persistent connections are the largest single lever on ingest throughput; health checks make
# a worker reconnect by itself after PostgreSQL restarts.
DB_CONN_MAX_AGE = env_int("DB_CONN_MAX_AGE", 60)
# A stopped PostgreSQL refuses connections at once; an unreachable one is bounded by
# DB_CONNECT_TIMEOUT (libpq's floor is 2 s) and a slow or blocked statement by the timeouts
# below, so that a worker answers 503 instead of hanging until gunicorn kills it.
DB_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", 2)
DB_STATEMENT_TIMEOUT_MS = env_int("DB_STATEMENT_TIMEOUT_MS", 10_000)
DB_LOCK_TIMEOUT_MS = env_int("DB_LOCK_TIMEOUT_MS", 3_000)
# The ingestion fast path's statements are sent as prepared statements (runs/fast_ingest.py):
# PostgreSQL parses them once per connection instead of on every request, and plans them at
# each execution (a plan kept for the connection's life goes stale as runs_run grows). psycopg
# prepares nothing while prepare_threshold is None, which is Django's default; the ORM's
# client-side binding never prepares whatever the threshold, so only the statements that ask
# for it are affected. Turn it off behind a pooler that cannot keep prepared statements
# (PgBouncer in transaction mode before 1.21).
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)


def _database_url() -> str:
    url = env_str("DATABASE_URL")
    if url:
        return url
    from chm_project.embedded_db import embedded_database_url

    return embedded_database_url(VAR_DIR)


def _database(variable: str, url: str) -> dict:
    """One entry of DATABASES: PostgreSQL through django-prometheus's backend (Django's, which
    also counts queries, connection attempts and errors by type) with a health check that needs
    no round trip while the connection is idle and sound (chm_project/postgresql/base.py), and
    the timeouts above. Options in the URL win over these defaults."""
    database = dj_database_url.parse(url, conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True)
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(f"CHM needs PostgreSQL: {variable} must be a postgres:// URL.")
    options = {"connect_timeout": DB_CONNECT_TIMEOUT, **database.get("OPTIONS", {})}
    server_settings = (
        f"-c statement_timeout={DB_STATEMENT_TIMEOUT_MS} -c lock_timeout={DB_LOCK_TIMEOUT_MS}"
    )
    options["options"] = f"{options.get('options', '')} {server_settings}".strip()
    if DB_PREPARED_STATEMENTS:
        options.setdefault("prepare_threshold", 5)
    return {**database, "ENGINE": "chm_project.postgresql", "OPTIONS": options}


DATABASE_URL = _database_url()
# Read scaling: pages read clients, pipelines, runs, alert rules and the reporting views from
# a streaming replica; every write, the ingestion path, sessions and the admin stay on the
# primary (chm_project/db_router.py).
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL")
DATABASES = {"default": _database("DATABASE_URL", DATABASE_URL)}
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = {
        **_database("DATABASE_REPLICA_URL", DATABASE_REPLICA_URL),
        # The test suite has one database; the replica alias reads the same one there.
        "TEST": {"MIRROR": "default"},
    }
DATABASE_ROUTERS = ["chm_project.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


# --- Auth, i18n, static ---------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# In development, whitenoise serves static files straight from the finders (no collectstatic).
WHITENOISE_USE_FINDERS = DEBUG


# --- Run ingestion and the API ---------------------------------------------------------------

# Bounds of the ingestion path (runs/limits.py reads them).
CHM_INGEST_MAX_BODY_BYTES = env_int("CHM_INGEST_MAX_BODY_BYTES", 10 * 1024 * 1024)
CHM_INGEST_MAX_BATCH_ITEMS = min(env_int("CHM_INGEST_MAX_BATCH_ITEMS", 1000), 1000)
CHM_RUN_METADATA_MAX_BYTES = env_int("CHM_RUN_METADATA_MAX_BYTES", 16 * 1024)
CHM_RUN_ERROR_MESSAGE_MAX_CHARS = env_int("CHM_RUN_ERROR_MESSAGE_MAX_CHARS", 8000)
# Ingestion through runs/fast_ingest.py, which answers exactly as the plain path in fewer round
# trips; off, every call takes the plain path (DRF serializer, get_or_create, bulk ORM).
CHM_INGEST_FAST_PATH = env_bool("CHM_INGEST_FAST_PATH", True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ClientKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "api.authentication.StaffTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Every API view: one throttle counts client-key POSTs (ingestion), the other reads.
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttling.IngestRateThrottle",
        "api.throttling.ApiReadThrottle",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CHM API",
    "DESCRIPTION": "Run ingestion (REST and OpenLineage) and the read API of CHM. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Rate limits (api/throttling.py, docs/operations.md), each counted in fixed windows in the
# store RATE_LIMIT_CACHE_URL names, and each turned off by 0:
# - per client key, INGEST_RATE_LIMIT ingestion requests per INGEST_RATE_LIMIT_WINDOW seconds;
# - per IP address, AUTH_FAILURE_RATE_LIMIT failed authentications (a wrong client key or API
#   token, a failed admin login) per AUTH_FAILURE_RATE_LIMIT_WINDOW seconds, after which that
#   address's wrong keys and tokens get 429 and its logins are refused until the window ends;
# - per client key or staff user, API_READ_RATE_LIMIT API reads per API_READ_RATE_LIMIT_WINDOW.
INGEST_RATE_LIMIT = env_int("INGEST_RATE_LIMIT", 0 if DEBUG else 1200, minimum=0)
INGEST_RATE_LIMIT_WINDOW = env_int("INGEST_RATE_LIMIT_WINDOW", 60, minimum=1)
AUTH_FAILURE_RATE_LIMIT = env_int("AUTH_FAILURE_RATE_LIMIT", 0 if DEBUG else 20, minimum=0)
AUTH_FAILURE_RATE_LIMIT_WINDOW = env_int("AUTH_FAILURE_RATE_LIMIT_WINDOW", 300, minimum=1)
API_READ_RATE_LIMIT = env_int("API_READ_RATE_LIMIT", 0 if DEBUG else 600, minimum=0)
API_READ_RATE_LIMIT_WINDOW = env_int("API_READ_RATE_LIMIT_WINDOW", 60, minimum=1)
# Behind a proxy every request comes from the proxy's address: name the header it sets with the
# client's address (nginx: proxy_set_header X-Real-IP $remote_addr). Only a header the proxy
# always overwrites: a client could otherwise pick its own address.
RATE_LIMIT_CLIENT_IP_HEADER = env_str("RATE_LIMIT_CLIENT_IP_HEADER")


def _rate_limit_store(url: str) -> tuple[str, dict]:
    """Where rate limits are counted: "database" (a table of CHM's own database, shared by
    every worker and machine; production's default) or "cache" (the cache returned)."""
    in_process = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "ratelimit",
    }
    if not url:
        url = "locmem://" if DEBUG else "database://"
    if url == "database://":
        return "database", in_process
    if url == "locmem://":
        return "cache", in_process
    if url.startswith(("redis://", "rediss://")):
        # Needs the redis package (pip install redis); INCR keeps the count atomic.
        return "cache", {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    raise ImproperlyConfigured(
        "RATE_LIMIT_CACHE_URL must be database://, a redis:// URL or locmem:// (or unset)."
    )


RATE_LIMIT_STORE, _rate_limit_cache = _rate_limit_store(env_str("RATE_LIMIT_CACHE_URL"))
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": _rate_limit_cache,
}


# --- Reporting (dashboard views) ----------------------------------------------------------

# The read-only database role that Grafana and Metabase use: it can read the views of the
# schema `reporting` and nothing else. Created by migration runs/0002; without a password it
# is created NOLOGIN (see docs/dashboards.md to give it one later).
CHM_REPORTING_ROLE = env_str("CHM_REPORTING_ROLE", "chm_reporting")
CHM_REPORTING_PASSWORD = env_str("CHM_REPORTING_PASSWORD")


# --- Alerts and notifications ---------------------------------------------------------------

# Email goes through Django's email backend: SMTP, or the console in development.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "chm@localhost")
# Seconds one webhook request may take, from resolving the host to reading the answer.
CHM_ALERTS_WEBHOOK_TIMEOUT = env_int("CHM_ALERTS_WEBHOOK_TIMEOUT", 5)
# Webhooks never reach loopback, private, link-local or multicast addresses (alerts/webhooks.py)
# unless they fall in one of these networks: receivers inside the network, listed on purpose.
CHM_WEBHOOK_ALLOWED_NETWORKS = env_list("CHM_WEBHOOK_ALLOWED_NETWORKS")
for _network in CHM_WEBHOOK_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"CHM_WEBHOOK_ALLOWED_NETWORKS: {_network!r} is not a network such as 10.20.0.0/16."
        ) from _exc
# Signs every webhook (X-CHM-Signature, HMAC-SHA256) so that receivers can verify the sender.
CHM_WEBHOOK_SECRET = env_str("CHM_WEBHOOK_SECRET")
# Tries per notification within one evaluation (then it waits for the next evaluation).
CHM_ALERTS_DELIVERY_ATTEMPTS = env_int("CHM_ALERTS_DELIVERY_ATTEMPTS", 3)
# Seconds before the second try; doubled before each later one.
CHM_ALERTS_RETRY_BACKOFF = env_int("CHM_ALERTS_RETRY_BACKOFF", 1)
# Evaluate the rules covering a pipeline in the background right after its runs finish.
CHM_ALERTS_EVALUATE_ON_INGEST = env_bool("CHM_ALERTS_EVALUATE_ON_INGEST", True)
# Minutes after which an alert still firing that nobody acknowledged is notified again; 0: never.
CHM_ALERTS_REMIND_AFTER_MINUTES = env_int(
    "CHM_ALERTS_REMIND_AFTER_MINUTES", 240, minimum=0, maximum=60 * 24 * 30
)


# --- Dashboards: Grafana link, Metabase signed embedding (docs/dashboards.md) ----------------

# Browser-facing Grafana address; the dashboards page links to the provisioned dashboards.
GRAFANA_URL = env_str("GRAFANA_URL").rstrip("/")
# Browser-facing Metabase address, the embedding secret shared with Metabase
# (MB_EMBEDDING_SECRET_KEY there) and the ids `manage.py setup_metabase` prints.
METABASE_SITE_URL = env_str("METABASE_SITE_URL").rstrip("/")
METABASE_SECRET_KEY = env_str("METABASE_SECRET_KEY")
if METABASE_SECRET_KEY and not re.fullmatch(r"[0-9a-fA-F]{64}", METABASE_SECRET_KEY):
    raise ImproperlyConfigured(
        "METABASE_SECRET_KEY must be Metabase's embedding secret: 64 hexadecimal characters."
    )
METABASE_DASHBOARD_BUSINESS = env_int("METABASE_DASHBOARD_BUSINESS", 0)
METABASE_DASHBOARD_OPERATIONS = env_int("METABASE_DASHBOARD_OPERATIONS", 0)
# Where `setup_metabase --ids-file` writes the dashboard ids, read when the two settings
# above are unset (the compose stack shares it between its metabase-setup service and CHM).
METABASE_DASHBOARD_IDS_FILE = env_str("METABASE_DASHBOARD_IDS_FILE")
# CHM draws both dashboards itself; once Metabase is configured, its embedded dashboards
# show "beside" CHM's panels or "instead" of them.
METABASE_EMBED_MODE = env_choice("METABASE_EMBED_MODE", "beside", ("beside", "instead"))
# Embed tokens are signed per page view; a copied URL stops working after this many seconds.
METABASE_EMBED_TTL_SECONDS = env_int("METABASE_EMBED_TTL_SECONDS", 600, minimum=60, maximum=3600)


# --- Security: HTTPS, cookies, Content-Security-Policy ---------------------------------------
# docs/operations.md explains each group; docs/production.env is a complete production set.

# Cookies travel over HTTPS only outside development. HSTS and the proxy header are opt-in:
# both are promises about the deployment (every subdomain speaks HTTPS, the proxy overwrites
# X-Forwarded-Proto) that CHM cannot verify by itself.
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load-balancer probes and Prometheus scrape over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("SECURE_PROXY_SSL_HEADER", False) else None
)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy (django-csp) on every answer. The pages run no JavaScript and draw
# their charts as inline SVG; the admin and Swagger UI (served as files from the sidecar
# package, its start-up script included) load scripts and styles from CHM itself, and Swagger
# UI its icons as data: images. Nothing inline runs, so an injected <script> cannot either.
# The dashboards page frames Metabase when it is configured.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF],
        "style-src": [csp_constants.SELF],
        "img-src": [csp_constants.SELF, "data:"],
        "connect-src": [csp_constants.SELF],
        "frame-src": [METABASE_SITE_URL] if METABASE_SITE_URL else [csp_constants.NONE],
        "frame-ancestors": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
        "base-uri": [csp_constants.NONE],
        "object-src": [csp_constants.NONE],
    }
}


# --- Metrics and logs -----------------------------------------------------------------------

# Prometheus metrics at /metrics. Under gunicorn, PROMETHEUS_MULTIPROC_DIR makes every
# worker write its samples to that directory and /metrics sum them (chm_project/gunicorn_conf.py).
# With METRICS_TOKEN set, /metrics wants "Authorization: Bearer <token>".
METRICS_TOKEN = env_str("METRICS_TOKEN")
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR:
    # Management commands (migrate, prune_runs) count their queries there too, before or
    # without gunicorn having created the directory.
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

# One JSON line per request on stdout (logger "chm.requests") when REQUEST_LOG_JSON is on.
REQUEST_LOG_JSON = env_bool("REQUEST_LOG_JSON", False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"bare": {"format": "%(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "requests": {"class": "logging.StreamHandler", "formatter": "bare"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"chm.requests": {"handlers": ["requests"], "level": "INFO", "propagate": False}},
}
