"""`read.trusted` builds the same view `model_construct` does, for every view built with it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from ledger.read import (
    CapacityEntitlement,
    ContractBrief,
    ContractShare,
    Entitlements,
    Knowledge,
    LimitView,
    NextLimit,
    TermView,
    View,
    WorkloadShare,
    trusted,
)

T0 = datetime(2026, 5, 6, tzinfo=UTC)
TERM = {"start": T0, "end": datetime(2028, 5, 6, tzinfo=UTC)}
SHARE = {"contract_id": "ctr_lease", "quantity": Decimal("220000")}
WORKLOAD = {"workload": "claude-code", "quantity": Decimal("50000.5")}
CAPACITY = {
    "resource": "gpu",
    "unit": "GPU",
    "contracted": Decimal("220000"),
    "allocated": Decimal("50000.5"),
    "unallocated": Decimal("169999.5"),
    "contracts": [ContractShare(**SHARE)],
    "workloads": [WorkloadShare(**WORKLOAD)],
}
LIMIT = {
    "plan": "max",
    "limit": "weekly_hours",
    "value": None,
    "unlimited": True,
    "effective_since": T0,
    "until": None,
    "next_change": None,
}
NEXT = {"at": T0, "value": Decimal("900"), "unlimited": False, "removed": False}
BRIEF = {
    "contract_id": "ctr_lease",
    "status": "active",
    "facility": "colossus-1",
    "term": TermView(**TERM),
}
ANSWER = {
    "tenant": "anthropic",
    "as_of": T0,
    "known_at": Knowledge(position=12, recorded_at=T0),
    "capacity": [CapacityEntitlement(**CAPACITY)],
    "limits": [LimitView(**LIMIT)],
    "contracts": [ContractBrief(**BRIEF)],
}
VIEWS: list[tuple[type[View], dict[str, Any]]] = [
    (ContractShare, SHARE),
    (WorkloadShare, WORKLOAD),
    (CapacityEntitlement, CAPACITY),
    (LimitView, LIMIT),
    (LimitView, {**LIMIT, "next_change": NextLimit(**NEXT)}),
    (NextLimit, NEXT),
    (TermView, TERM),
    (ContractBrief, BRIEF),
    (Entitlements, ANSWER),
]


@pytest.mark.parametrize(
    ("cls", "fields"), VIEWS, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(VIEWS)]
)
def test_trusted_view_is_the_constructed_and_the_validated_one(
    cls: type[View], fields: dict[str, Any]
) -> None:
    built = trusted(cls, **fields)
    constructed = cls.model_construct(**fields)

    assert type(built) is cls
    assert built == constructed == cls.model_validate(fields)
    assert built.model_dump_json() == constructed.model_dump_json()
    assert built.model_fields_set == constructed.model_fields_set == set(fields)
    assert built.model_extra is None


@pytest.mark.parametrize(
    ("cls", "fields"), VIEWS, ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(VIEWS)]
)
def test_trusted_views_have_nothing_model_construct_would_fill_in(
    cls: type[View], fields: dict[str, Any]
) -> None:
    # What `trusted` skips: aliases to map, defaults to fill, a post-init to run.
    assert set(cls.model_fields) == set(fields)
    assert all(f.alias is None and f.is_required() for f in cls.model_fields.values())
    assert not cls.__pydantic_post_init__
