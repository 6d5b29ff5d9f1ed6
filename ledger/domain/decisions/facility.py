"""Decisions on a facility's stream: registering it and changing its capacity."""

from __future__ import annotations

from datetime import datetime

from ledger.domain import commands as c
from ledger.domain import events as ev
from ledger.domain import facility as facilities
from ledger.domain.facility import Facility
from ledger.domain.party import Party
from ledger.domain.rules import (
    Change,
    Decided,
    check_facility,
    check_lines,
    check_units,
    pending,
    reason_if_backdated,
    reason_if_given,
    require_facility,
    require_party,
)
from ledger.errors import RuleViolation


def decide_register_facility(
    provider: Party | None, existing: Facility | None, cmd: c.RegisterFacility, now: datetime
) -> Decided:
    require_party(provider, cmd.provider, "provider")
    if existing is not None:
        raise RuleViolation("already_exists", f"facility {cmd.facility_id!r} already exists")
    check_lines(cmd.capacity)
    event = ev.FacilityRegistered(
        facility_id=cmd.facility_id,
        provider=cmd.provider,
        name=cmd.name,
        location=cmd.location,
        capacity=cmd.capacity,
    )
    change = Change(facilities.stream_id(cmd.facility_id), event, cmd.effective_at or now)
    return Decided((change,), reason_if_given(cmd.reason), {"facility_id": cmd.facility_id})


def decide_change_facility_capacity(
    facility: Facility | None, cmd: c.ChangeFacilityCapacity, now: datetime
) -> Decided:
    facility = require_facility(facility, cmd.facility_id)
    check_lines(cmd.capacity)
    check_units(cmd.capacity, facility.units)
    effective_at = cmd.effective_at or now
    reason = reason_if_backdated(cmd.reason, effective_at, now)
    if effective_at < facility.registered_at:
        raise RuleViolation(
            "term_invalid",
            "a capacity change cannot precede the facility's registration",
            at=effective_at,
        )
    event = ev.FacilityCapacityChanged(capacity=cmd.capacity)
    check_facility(pending(facility, event, effective_at), "", None)
    return Decided(
        (Change(facility.stream_id, event, effective_at),),
        reason,
        {"facility_id": facility.facility_id},
    )
