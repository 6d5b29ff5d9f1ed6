"""GET entitlements answers byte for byte what the answer's model serialises to, whether it
was computed, served from the answer cache or put together from parts rendered before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ledger import read
from ledger.demo import LEASE
from ledger.domain import commands as c
from ledger.service import Context, execute
from ledger.unit_of_work import Ledger
from tests.api.conftest import ApiClient

START = datetime(2026, 4, 1, tzinfo=UTC)


def fresh(ledger: Ledger, as_of: datetime, known_at: int | None = None) -> bytes:
    with ledger.read() as conn:
        return read.entitlements(conn, "anthropic", as_of, known_at).model_dump_json().encode()


def served(admin: ApiClient, as_of: datetime, known_at: int | None = None) -> bytes:
    params = {"as_of": as_of.isoformat().replace("+00:00", "Z")}
    if known_at is not None:
        params["known_at"] = str(known_at)
    response = admin.get("/tenants/anthropic/entitlements", **params)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return bytes(response.content)


def test_served_entitlements_are_the_models_json_before_and_after_a_write(
    demo: Ledger, admin: ApiClient
) -> None:
    moments = [START + timedelta(days=9 * i, hours=i) for i in range(60)]
    for _ in range(2):  # the second pass is served from cached answers and parts
        for moment in moments:
            assert served(admin, moment) == fresh(demo, moment), moment
            assert served(admin, moment, known_at=10) == fresh(demo, moment, 10), moment
    known = demo.head().position

    execute(
        demo,
        c.ResizeAllocation(
            contract_id=LEASE,
            allocation_id="alc_training",
            quantity=Decimal(40_000),
            effective_at=datetime(2026, 9, 1, tzinfo=UTC),
            reason="training scaled down",
        ),
        Context(),
    )
    for moment in moments:
        assert served(admin, moment) == fresh(demo, moment), moment
        assert served(admin, moment, known_at=known) == fresh(demo, moment, known), moment
    # What changed is served: the training allocation after 1 September 2026.
    later = datetime(2026, 10, 1, tzinfo=UTC)
    assert served(admin, later) != fresh(demo, later, known)
