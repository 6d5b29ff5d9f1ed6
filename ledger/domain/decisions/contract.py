"""Decisions on a contract's stream: drafting, revising, voiding, signing, amending and
terminating it (and, for the last three, the facility's reservation that follows it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ledger.domain import commands as c
from ledger.domain import contract as contracts
from ledger.domain import events as ev
from ledger.domain.contract import Contract
from ledger.domain.facility import Facility
from ledger.domain.party import Party
from ledger.domain.rules import (
    Change,
    Decided,
    check_allocations,
    check_books,
    check_facility,
    check_lines,
    check_term,
    check_units,
    pending,
    reason_if_backdated,
    require_action,
    require_facility,
    require_party,
    require_reason,
)
from ledger.errors import FieldError, InvalidInput, RuleViolation


@dataclass(frozen=True)
class Counterparties:
    """The provider, tenant and facility a contract names, with what was found for each
    (None: nothing is registered under that id)."""

    provider_id: str
    provider: Party | None
    tenant_id: str
    tenant: Party | None
    facility_id: str
    facility: Facility | None

    def check(self) -> None:
        require_party(self.tenant, self.tenant_id, "tenant")
        require_party(self.provider, self.provider_id, "provider")
        facility = require_facility(self.facility, self.facility_id)
        if facility.provider != self.provider_id:
            raise RuleViolation(
                "provider_mismatch",
                f"facility {self.facility_id!r} belongs to {facility.provider!r},"
                f" not {self.provider_id!r}",
            )


def decide_draft_contract(
    existing: Contract | None,
    named: Counterparties,
    cmd: c.DraftContract,
    contract_id: str,
    now: datetime,
) -> Decided:
    """`contract_id` is the command's, or one generated for it."""
    check_term(cmd.term.start, cmd.term.end)
    check_lines(cmd.capacity)
    named.check()
    if existing is not None:
        raise RuleViolation("already_exists", f"contract {contract_id!r} already exists")
    event = ev.ContractDrafted(contract_id=contract_id, **cmd.model_dump(exclude={"contract_id"}))
    return Decided(
        (Change(contracts.stream_id(contract_id), event, now),), None, {"contract_id": contract_id}
    )


def revised_counterparties(contract: Contract, cmd: c.ReviseDraft) -> tuple[str, str, str]:
    """The (provider, tenant, facility) a draft names once `cmd` is applied."""
    return (
        cmd.provider or contract.provider,
        cmd.tenant or contract.tenant,
        cmd.facility or contract.facility,
    )


def decide_revise_draft(
    contract: Contract, named: Counterparties, cmd: c.ReviseDraft, now: datetime
) -> Decided:
    """`named` holds the ids of `revised_counterparties`."""
    require_action(contract, "revise")
    changes = cmd.model_dump(exclude={"contract_id", "cleared"}, exclude_none=True)
    both = sorted(set(cmd.cleared) & set(changes))
    if both:
        raise InvalidInput(
            f"{', '.join(both)}: either set or cleared, not both",
            [FieldError((name,), "set and cleared at once") for name in both],
        )
    if cmd.cleared:
        changes["cleared"] = tuple(dict.fromkeys(cmd.cleared))
    if not changes:
        raise InvalidInput("nothing to revise: give at least one draft field")
    if cmd.tenant is not None and cmd.tenant != contract.tenant:
        # What a tenant may read (its event feed, its exports) follows the contracts that
        # name it. Moved to another tenant, a draft's earlier events would belong to a feed
        # its new tenant had already read past, and its later ones to a feed its old tenant
        # could no longer see.
        raise InvalidInput(
            "a draft's tenant is fixed: void it and draft again for the other tenant",
            [FieldError(("tenant",), "fixed once drafted")],
        )
    event = ev.ContractDraftRevised(**changes)
    revised = pending(contract, event, now)
    if not revised.capacity:
        raise InvalidInput(
            "a contract needs at least one capacity line",
            [FieldError(("capacity",), "at least one line is required")],
        )
    check_term(revised.term_start, revised.term_end)
    check_lines(revised.capacity)
    named.check()
    return Decided(
        (Change(contract.stream_id, event, now),), None, {"contract_id": contract.contract_id}
    )


def decide_void_contract(contract: Contract, cmd: c.VoidContract, now: datetime) -> Decided:
    reason = require_reason(cmd.reason, "to void a contract")
    require_action(contract, "void")
    change = Change(contract.stream_id, ev.ContractVoided(), cmd.effective_at or now)
    return Decided((change,), reason, {"contract_id": contract.contract_id})


def decide_sign_contract(
    contract: Contract,
    facility: Facility | None,
    books: datetime | None,
    cmd: c.SignContract,
    now: datetime,
) -> Decided:
    """`facility` is the one the contract names; `books` where its tenant's books are
    closed through (None: open)."""
    require_action(contract, "sign")
    effective_at = cmd.effective_at or now
    reason = reason_if_backdated(cmd.reason, effective_at, now)
    check_books(contract.tenant, books, contract.term_start)
    facility = require_facility(facility, contract.facility)
    if facility.provider != contract.provider:
        raise RuleViolation(
            "provider_mismatch",
            f"facility {facility.facility_id!r} belongs to {facility.provider!r}",
        )
    check_facility(facility, contract.contract_id, contract.schedule())
    reserved = ev.CapacityReserved(
        contract_id=contract.contract_id,
        tenant=contract.tenant,
        term=ev.Term(start=contract.term_start, end=contract.term_end),
        capacity=contract.capacity,
    )
    return Decided(
        (
            Change(contract.stream_id, ev.ContractSigned(signed_by=cmd.signed_by), effective_at),
            Change(facility.stream_id, reserved, effective_at),
        ),
        reason,
        {"contract_id": contract.contract_id},
    )


def decide_amend_contract(
    contract: Contract,
    facility: Facility | None,
    books: datetime | None,
    cmd: c.AmendContract,
    amendment_id: str,
    now: datetime,
) -> Decided:
    """`amendment_id` is the command's, or one generated for it."""
    reason = require_reason(cmd.reason, "for an amendment")
    if not cmd.capacity and cmd.term_end is None:
        raise InvalidInput("an amendment needs capacity lines, a new term end, or both")
    check_lines(cmd.capacity)
    check_units(cmd.capacity, contract.units)
    require_action(contract, "amend")
    if any(existing == amendment_id for existing, _ in contract.amendments):
        raise RuleViolation("already_exists", f"amendment {amendment_id!r} already exists")
    old_end = contract.schedule().end
    if cmd.term_end is not None:
        check_term(contract.term_start, cmd.term_end)
    first_affected = min(
        cmd.effective_at if cmd.capacity else old_end,
        min(old_end, cmd.term_end) if cmd.term_end is not None else cmd.effective_at,
    )
    check_books(contract.tenant, books, first_affected)
    amended = ev.ContractAmended(
        amendment_id=amendment_id, capacity=cmd.capacity, term_end=cmd.term_end
    )
    after = pending(contract, amended, cmd.effective_at)
    check_allocations(after)
    facility = require_facility(facility, contract.facility)
    check_facility(facility, contract.contract_id, after.schedule())
    changed = ev.CapacityReservationChanged(
        contract_id=contract.contract_id,
        amendment_id=amendment_id,
        capacity=cmd.capacity,
        term_end=cmd.term_end,
    )
    return Decided(
        (
            Change(contract.stream_id, amended, cmd.effective_at),
            Change(facility.stream_id, changed, cmd.effective_at),
        ),
        reason,
        {"contract_id": contract.contract_id, "amendment_id": amendment_id},
    )


def decide_terminate_contract(
    contract: Contract,
    facility: Facility | None,
    books: datetime | None,
    cmd: c.TerminateContract,
    now: datetime,
) -> Decided:
    reason = require_reason(cmd.reason, "to terminate a contract")
    require_action(contract, "terminate")
    check_books(contract.tenant, books, cmd.effective_at)
    facility = require_facility(facility, contract.facility)
    released = ev.CapacityReservationReleased(contract_id=contract.contract_id)
    return Decided(
        (
            Change(contract.stream_id, ev.ContractTerminated(), cmd.effective_at),
            Change(facility.stream_id, released, cmd.effective_at),
        ),
        reason,
        {"contract_id": contract.contract_id},
    )
