"""Settings of the capacity-contract ledger service.

Configured from the environment; see README.md ("Configuration").
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from contracts.database import django_database
from ledger.sql.engine import DatabaseSettings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LEDGER_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_flag(name: str, default: bool = False) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in ("1", "true", "yes", "on")


DEBUG = env_flag("DJANGO_DEBUG")
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "django-insecure-development-key-set-DJANGO_SECRET_KEY"
)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")

LEDGER_DATABASE = DatabaseSettings(
    lock_timeout_ms=int(os.environ.get("LEDGER_LOCK_TIMEOUT_MS", "5000")),
    idle_in_transaction_timeout_ms=int(os.environ.get("LEDGER_IDLE_IN_TRANSACTION_MS", "60000")),
    sqlite_busy_timeout_ms=int(os.environ.get("LEDGER_SQLITE_BUSY_TIMEOUT_MS", "30000")),
)
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'ledger.sqlite3'}"
DATABASES = {"default": django_database(DATABASE_URL, VAR_DIR, LEDGER_DATABASE)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "contracts",
    "ninja",  # its Swagger UI assets, served locally (no CDN)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",  # login throttling: failed attempts and lockouts, listed in the admin
]
# The ledger's tables belong to alembic (migrations/); Django migrates only its own apps.
MIGRATION_MODULES = {"contracts": None}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "contracts.api.errors.ProblemMiddleware",
    "contracts.unavailable.ServiceUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login at once
    "django.contrib.auth.backends.ModelBackend",
]
# A login is locked per username and client address after this many failures in a row,
# for LEDGER_LOGIN_LOCKOUT_MINUTES; staff see and lift lockouts in the admin (Axes).
AXES_FAILURE_LIMIT = int(os.environ.get("LEDGER_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LEDGER_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Where a login lands when its `next` is missing or points off this site.
LOGIN_REDIRECT_URL = "admin:index"

ROOT_URLCONF = "contracts.urls"
WSGI_APPLICATION = "contracts.wsgi.application"

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
            ],
        },
    },
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise serves from the finders; it only needs the dir
# Static files (admin, API docs) are served by the app itself through WhiteNoise, from the
# installed packages: nothing is fetched from a CDN, and no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# -- audit exports ----------------------------------------------------------------------
# The Ed25519 key that signs export manifests: PEM text in LEDGER_SIGNING_KEY, or a file
# (`python manage.py create_signing_key` writes one).
LEDGER_SIGNING_KEY = os.environ.get("LEDGER_SIGNING_KEY", "")
LEDGER_SIGNING_KEY_FILE = Path(
    os.environ.get("LEDGER_SIGNING_KEY_FILE", str(VAR_DIR / "signing-key.pem"))
)

# -- REST API ---------------------------------------------------------------------------
LEDGER_API_MAX_BODY_BYTES = int(os.environ.get("LEDGER_API_MAX_BODY_BYTES", str(256 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = LEDGER_API_MAX_BODY_BYTES
# Per API key and per process: sustained requests a second (0 turns the limit off), burst.
LEDGER_API_RATE_LIMIT = float(os.environ.get("LEDGER_API_RATE_LIMIT", "100"))
LEDGER_API_RATE_BURST = int(os.environ.get("LEDGER_API_RATE_BURST", "200"))
# How long a worker trusts a key it has checked; a revocation takes effect within this.
LEDGER_API_KEY_CACHE_SECONDS = float(os.environ.get("LEDGER_API_KEY_CACHE_SECONDS", "5"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
