"""Decisions on a party's stream: registering it, its limits and its closed periods."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ledger import exact
from ledger.domain import commands as c
from ledger.domain import events as ev
from ledger.domain import party as parties
from ledger.domain.party import Party
from ledger.domain.rules import (
    Change,
    Decided,
    check_books,
    reason_if_given,
    require_party,
    require_reason,
)
from ledger.errors import FieldError, InvalidInput, RuleViolation
from ledger.exact import OutOfRange, bounded


def decide_register_party(existing: Party | None, cmd: c.RegisterParty, now: datetime) -> Decided:
    if existing is not None:
        raise RuleViolation("already_exists", f"party {cmd.party_id!r} already exists")
    event = ev.PartyRegistered(
        party_id=cmd.party_id, name=cmd.name, roles=tuple(dict.fromkeys(cmd.roles))
    )
    change = Change(parties.stream_id(cmd.party_id), event, cmd.effective_at or now)
    return Decided((change,), reason_if_given(cmd.reason), {"party_id": cmd.party_id})


def _scaled(value: Decimal, factor: Decimal, effective_at: datetime) -> Decimal:
    try:
        return bounded(exact.multiply(value, factor))
    except OutOfRange as exc:
        raise RuleViolation(
            "limit_invalid", f"{value} scaled by {factor} is out of range: {exc}", at=effective_at
        ) from None


def decide_change_limit(tenant: Party | None, cmd: c.ChangeLimit, now: datetime) -> Decided:
    reason = require_reason(cmd.reason, "for a limit change")
    tenant = require_party(tenant, cmd.tenant, "tenant")
    effective_at = cmd.effective_at or now
    if cmd.until is not None and cmd.until <= effective_at:
        raise RuleViolation(
            "term_invalid", "a temporary limit's until must be after its effective_at", at=cmd.until
        )
    value: Decimal | None = None
    unlimited = False
    if cmd.operation == "set":
        if cmd.value is None or cmd.factor is not None:
            raise InvalidInput(
                "set takes a value and no factor", [FieldError(("value",), "required for set")]
            )
        if cmd.value < 0:
            raise RuleViolation(
                "limit_invalid", "limit values must be >= 0 (or unlimited)", at=effective_at
            )
        value = cmd.value
    elif cmd.operation == "scale":
        if cmd.factor is None or cmd.value is not None:
            raise InvalidInput(
                "scale takes a factor and no value", [FieldError(("factor",), "required for scale")]
            )
        if cmd.factor <= 0:
            raise RuleViolation("limit_invalid", "scale factors must be > 0", at=effective_at)
        base = tenant.limit_at(cmd.plan, cmd.limit, effective_at)
        if base is None:
            raise RuleViolation(
                "limit_invalid",
                f"no {cmd.plan}/{cmd.limit} limit is in force to scale",
                at=effective_at,
            )
        unlimited = base.unlimited
        value = None if base.value is None else _scaled(base.value, cmd.factor, effective_at)
    else:
        if cmd.value is not None or cmd.factor is not None:
            raise InvalidInput("remove takes neither value nor factor")
        unlimited = True
    check_books(tenant.party_id, tenant.closed_through, effective_at)
    event = ev.LimitChanged(
        plan=cmd.plan,
        limit=cmd.limit,
        operation=cmd.operation,
        value=value,
        unlimited=unlimited,
        factor=cmd.factor,
        until=cmd.until,
    )
    return Decided(
        (Change(tenant.stream_id, event, effective_at),),
        reason,
        {"tenant": tenant.party_id, "plan": cmd.plan, "limit": cmd.limit},
    )


def decide_close_period(tenant: Party | None, cmd: c.ClosePeriod, now: datetime) -> Decided:
    tenant = require_party(tenant, cmd.tenant, "tenant")
    if tenant.closed_through is not None and cmd.through <= tenant.closed_through:
        raise RuleViolation(
            "period_closed", "the books are already closed through a later date", at=cmd.through
        )
    return Decided(
        (Change(tenant.stream_id, ev.PeriodClosed(through=cmd.through), now),),
        cmd.reason,
        {"tenant": tenant.party_id, "closed_through": cmd.through},
    )


def decide_reopen_period(tenant: Party | None, cmd: c.ReopenPeriod, now: datetime) -> Decided:
    reason = require_reason(cmd.reason, "to reopen a closed period")
    tenant = require_party(tenant, cmd.tenant, "tenant")
    if tenant.closed_through is None or cmd.through >= tenant.closed_through:
        raise RuleViolation(
            "period_closed", "the books are not closed past that date", at=cmd.through
        )
    return Decided(
        (Change(tenant.stream_id, ev.PeriodReopened(through=cmd.through), now),),
        reason,
        {"tenant": tenant.party_id, "closed_through": cmd.through},
    )
