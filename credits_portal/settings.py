"""Settings, read from the environment (see README "Configuration").

Production-safe by default: DEBUG off, SECRET_KEY required, secure cookies, HTTPS redirect and
HSTS unless DEBUG is on. `make run` and `make test` supply the URLs of the embedded services.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
import dj_email_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from credits_portal.env import (
    env_bool,
    env_decimal,
    env_float,
    env_int,
    env_int_list,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY (or SECRET_KEY_FILE) must be set; `make run` and `make test` generate one."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    "djmoney",
    "django_countries",
    "django_filters",
    "ninja",
    "credits_portal",
    "billing",
    "licensing",
    "usage",
    "webhooks",
]

MIDDLEWARE = [
    "credits_portal.middleware.TimezoneResetMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions, sign-in and every view: NUL, surrogates and over-long values answer 400.
    "credits_portal.validation.EdgeValidationMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "credits_portal.tenancy.TenantMiddleware",
    # GET requests for the reports read from DATABASE_REPLICA_URL, when it is set.
    "credits_portal.db_router.ReplicaReadsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "credits_portal.urls"
WSGI_APPLICATION = "credits_portal.wsgi.application"

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
                "credits_portal.tenancy.tenant_context",
            ],
        },
    },
]

# --- Data stores -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    raise ImproperlyConfigured(
        "DATABASE_URL must be set; `make run` and `make test` start an embedded PostgreSQL."
    )
# runserver serves each request on a new thread, and a thread's persistent connection outlives
# it: under runserver every connection is closed after its request. Gunicorn and Celery keep
# theirs, checked before reuse (CONN_HEALTH_CHECKS), so a PostgreSQL restart costs no error.
_RUNSERVER = len(sys.argv) > 1 and sys.argv[1] == "runserver"
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=0 if _RUNSERVER else env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://…)")
# A PostgreSQL that hangs makes requests fail after these, instead of hanging with it (seconds;
# 0 turns a limit off, e.g. DATABASE_STATEMENT_TIMEOUT=0 for a long migration).
DATABASES["default"].setdefault("OPTIONS", {}).update(
    connect_timeout=env_int("DATABASE_CONNECT_TIMEOUT", 5),
    options=f"-c statement_timeout={env_int('DATABASE_STATEMENT_TIMEOUT', 30) * 1000}",
)
# A read replica of that PostgreSQL (streaming replication) for the reports and their exports
# (credits_portal.db_router): GET requests under /reports/ and the export jobs read there, every
# write and everything else uses DATABASE_URL. Unset, DATABASE_URL serves everything.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=DATABASES["default"]["CONN_MAX_AGE"],
        conn_health_checks=True,
    )
    if DATABASES["replica"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL must point at PostgreSQL (postgres://…)")
    DATABASES["replica"].setdefault("OPTIONS", {}).update(
        {k: DATABASES["default"]["OPTIONS"][k] for k in ("connect_timeout", "options")}
    )
    if all(DATABASES["replica"][k] == DATABASES["default"][k] for k in ("HOST", "PORT", "NAME")):
        # The primary itself named as its replica: the tests must not create its database twice.
        DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    else:
        # The tests' stand-in for a replica gets its tables from the models, not by running every
        # migration again; its rows are copied from the primary's (tests/credits_portal/test_db_router.py).
        DATABASES["replica"]["TEST"] = {"MIGRATE": False}
    DATABASE_ROUTERS = ["credits_portal.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL must be set; `make run` and `make test` start a Redis.")
# Redis only caches: a command it does not answer within this many seconds is a miss and the
# caller counts from the database (credits_portal.cache); it is asked again after REDIS_RETRY_SECONDS.
REDIS_SOCKET_TIMEOUT = env_float("REDIS_SOCKET_TIMEOUT", 0.2)
REDIS_RETRY_SECONDS = env_float("REDIS_RETRY_SECONDS", 5)
CACHES = {
    "default": {
        "BACKEND": "credits_portal.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "credits_portal",
        "OPTIONS": {
            "socket_timeout": REDIS_SOCKET_TIMEOUT,
            "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_TIME_LIMIT = 300
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Auth ------------------------------------------------------------------------------------
AUTH_USER_MODEL = "credits_portal.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 60 * 60 * 3)

# Login throttling: five failures for one account from one address lock it for 15 minutes, for
# that address only. The address is the client's as the trusted proxies in front saw it
# (credits_portal.addresses): behind a proxy, REMOTE_ADDR is the proxy's, shared by everyone.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 (no proxy) or more")
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("LOGIN_COOLOFF_MINUTES", 15) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "credits_portal.addresses.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_USERNAME_CALLABLE = "credits_portal.forms.login_username"

# --- Security --------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 60 * 60 * 12)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Only behind a proxy that sets X-Forwarded-Proto itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# API bodies are small: 1,000 usage records fit well inside 2.5 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)

# --- Stripe ----------------------------------------------------------------------------------
STRIPE_SECRET_KEY = env_str("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = env_str("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = env_str("STRIPE_WEBHOOK_SECRET", "")
STRIPE_API_BASE = env_str("STRIPE_API_BASE", "") or None
STRIPE_JS_URL = env_str("STRIPE_JS_URL", "https://js.stripe.com/v3/")

# Content-Security-Policy: our own origin, and Stripe.js (its script, frames and API) only.
_stripe_js = "{0.scheme}://{0.netloc}".format(urlparse(STRIPE_JS_URL))
_stripe_api = "{0.scheme}://{0.netloc}".format(
    urlparse(STRIPE_API_BASE or "https://api.stripe.com")
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, _stripe_js],
        "connect-src": [SELF, _stripe_js, _stripe_api],
        "frame-src": [SELF, _stripe_js, "https://hooks.stripe.com"],
        # Stripe Elements and the API docs set inline styles; no inline script anywhere.
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Email -----------------------------------------------------------------------------------
_email = dj_email_url.parse(env_str("EMAIL_URL", "console://"))
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
EMAIL_PORT = _email["EMAIL_PORT"] or 25
EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
EMAIL_TIMEOUT = _email["EMAIL_TIMEOUT"] or 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "credits@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- I18n and static files -------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and env_bool("STATIC_MANIFEST", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Product settings ------------------------------------------------------------------------
IDEMPOTENCY_KEY_TTL_HOURS = env_int("IDEMPOTENCY_KEY_TTL_HOURS", 24)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Billing ---------------------------------------------------------------------------------
# Bounds on one purchase, in the organisation's currency (major units).
PURCHASE_MIN_AMOUNT = env_decimal("PURCHASE_MIN_AMOUNT", "10")
PURCHASE_MAX_AMOUNT = env_decimal("PURCHASE_MAX_AMOUNT", "10000")
INVOICE_SELLER_NAME = env_str("INVOICE_SELLER_NAME", "credits_portal operator")
INVOICE_SELLER_ADDRESS = env_str("INVOICE_SELLER_ADDRESS", "")
INVOICE_SELLER_TAX_ID = env_str("INVOICE_SELLER_TAX_ID", "")
# Auto-recharge: the runaway guard, back-off after declines, and when to give up.
RECHARGE_MAX_PER_DAY = env_int("RECHARGE_MAX_PER_DAY", 5)
RECHARGE_RETRY_HOURS = env_int_list("RECHARGE_RETRY_HOURS", [1, 6, 24])
RECHARGE_MAX_FAILURES = env_int("RECHARGE_MAX_FAILURES", 3)

# --- Usage -----------------------------------------------------------------------------------
AUTHORIZATION_MAX_SECONDS = env_int("AUTHORIZATION_MAX_SECONDS", 14_400)
# A usage record's started_at must lie within this many days in the past and at most this many
# seconds ahead (clocks drift); anything else is rejected, never rated against another month.
USAGE_MAX_AGE_DAYS = env_int("USAGE_MAX_AGE_DAYS", 35)
USAGE_MAX_FUTURE_SECONDS = env_int("USAGE_MAX_FUTURE_SECONDS", 300)
if USAGE_MAX_AGE_DAYS < 1 or USAGE_MAX_FUTURE_SECONDS < 0:
    raise ImproperlyConfigured(
        "USAGE_MAX_AGE_DAYS must be 1 or more and USAGE_MAX_FUTURE_SECONDS 0 or more"
    )
# Exports larger than this many rows are written by a worker, with progress and a download link.
EXPORT_SYNC_LIMIT = env_int("EXPORT_SYNC_LIMIT", 20_000)
EXPORTS_DIR = Path(env_str("EXPORTS_DIR", str(BASE_DIR / ".data" / "exports")))

# --- Webhooks --------------------------------------------------------------------------------
# Deliveries to loopback, private and link-local addresses are refused (server-side request
# forgery) unless this is set: a receiver on the portal's own network, or the tests'.
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", False)
# Seconds to connect, and then to wait for the answer, per delivery attempt.
WEBHOOKS_TIMEOUT = env_float("WEBHOOKS_TIMEOUT", 5)
if not 0 < WEBHOOKS_TIMEOUT <= 20:
    raise ImproperlyConfigured("WEBHOOKS_TIMEOUT must be more than 0 and at most 20 seconds")
