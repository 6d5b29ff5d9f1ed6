"""Settings of the HTTP benchmark's server: the service's own, plus one bare endpoint."""

from contracts.settings import *  # noqa: F403

ROOT_URLCONF = "bench.http_urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
LEDGER_API_RATE_LIMIT = 0.0
