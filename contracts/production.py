"""Production settings: `DJANGO_SETTINGS_MODULE=contracts.production`.

Everything in `contracts.settings`, with DEBUG forced off and the deployment checks
satisfied: a real secret key is required, cookies are secure, HTTPS is assumed (set
DJANGO_SECURE_PROXY_SSL_HEADER=1 behind a proxy that terminates TLS).
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from contracts.settings import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("set DJANGO_SECRET_KEY to a random string of 50+ characters")

SECURE_SSL_REDIRECT = os.environ.get("DJANGO_SECURE_SSL_REDIRECT", "1") == "1"
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
if os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER") == "1":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
