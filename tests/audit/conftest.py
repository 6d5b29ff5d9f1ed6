"""The API's fixtures serve the audit tests too (the export endpoint among them)."""

from tests.api.conftest import _no_rate_limit, admin, demo, make_client

__all__ = ["_no_rate_limit", "admin", "demo", "make_client"]
