"""The views the read side answers with: frozen pydantic models, and `trusted`, which builds
them from the projection's own rows."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from ledger.types import Quantity, UtcDatetime


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


V = TypeVar("V", bound=View)


_set_slot = object.__setattr__


def trusted(cls: type[V], **fields: Any) -> V:
    """`cls.model_construct(**fields)` for a view built from the projection's own rows,
    given every field: what `model_construct` sets (the fields, the set of fields given, no
    extra, no private), without its walk over each field's aliases and defaults. That walk
    was the largest single cost of an entitlements answer: 37 views for a tenant with 25
    shares. The views have no aliases, defaults or post-init for it to honour, and tests
    hold the two to the same result for every view built here."""
    view = cls.__new__(cls)
    _set_slot(view, "__dict__", fields)
    _set_slot(view, "__pydantic_fields_set__", set(fields))
    _set_slot(view, "__pydantic_extra__", None)
    _set_slot(view, "__pydantic_private__", None)
    return view


class Knowledge(View):
    position: int
    recorded_at: UtcDatetime | None


class ContractShare(View):
    contract_id: str
    quantity: Quantity


class WorkloadShare(View):
    workload: str
    quantity: Quantity


class CapacityEntitlement(View):
    resource: str
    unit: str | None
    contracted: Quantity
    allocated: Quantity
    unallocated: Quantity
    contracts: list[ContractShare]
    workloads: list[WorkloadShare]


class NextLimit(View):
    """What a limit becomes where the one in force ends: another value (or unlimited), or
    no limit at all (`removed`)."""

    at: UtcDatetime
    value: Quantity | None
    unlimited: bool
    removed: bool


class LimitView(View):
    plan: str
    limit: str
    value: Quantity | None
    unlimited: bool
    effective_since: UtcDatetime
    until: UtcDatetime | None
    next_change: NextLimit | None
    """Set when the limit in force is already scheduled to change (or to end)."""


class TermView(View):
    start: UtcDatetime
    end: UtcDatetime


class ContractBrief(View):
    contract_id: str
    status: str
    facility: str
    term: TermView


class Entitlements(View):
    tenant: str
    as_of: UtcDatetime
    known_at: Knowledge
    capacity: list[CapacityEntitlement]
    limits: list[LimitView]
    contracts: list[ContractBrief]


class TimelineItem(View):
    resource: str
    valid_from: UtcDatetime
    valid_to: UtcDatetime | None
    contracted: Quantity
    allocated: Quantity


class Amounts(View):
    contracted: Quantity
    allocated: Quantity


class LimitAmounts(View):
    value: Quantity | None
    unlimited: bool


class Cause(View):
    """The event that made an interval what it is now: the last one known by then to
    write it, or the one that ended what was there."""

    position: int
    event_id: str
    type: str
    reason: str | None


class ChangeItem(View):
    resource: str | None = None
    plan: str | None = None
    limit: str | None = None
    unit: str | None = None
    valid_from: UtcDatetime
    valid_to: UtcDatetime | None
    before: Amounts | LimitAmounts | None
    after: Amounts | LimitAmounts | None
    cause: Cause | None = None


class Changes(View):
    items: list[ChangeItem]
    since_position: int
    known_at: Knowledge


class CapacityLineView(View):
    resource: str
    quantity: Quantity
    unit: str | None


class AllocationView(View):
    allocation_id: str
    workload: str
    resource: str
    quantity: Quantity
    """In force: its quantity at as_of; scheduled: what it begins with; ended: what it
    ended with."""
    effective_from: UtcDatetime
    until: UtcDatetime | None
    released: bool


class ContractView(View):
    id: str
    provider: str
    tenant: str
    facility: str
    title: str
    reference: str | None
    commercial_terms: dict[str, str] | None
    status: str
    term: TermView
    capacity: list[CapacityLineView]
    allocations: list[AllocationView]
    """The allocations in force at as_of."""
    scheduled: list[AllocationView] = []
    """Allocations that begin after as_of."""
    ended: list[AllocationView] = []
    """Allocations that ended (released, past their `until`, or with the contract) by as_of."""
    version: int
    signed_at: UtcDatetime | None
    signed_by: list[str]
    terminated_at: UtcDatetime | None
    voided_at: UtcDatetime | None
    known_at: Knowledge


class FacilityResource(View):
    resource: str
    unit: str | None
    capacity: Quantity
    reserved: Quantity
    free: Quantity | None
    """None where a tenant-bound reader must not infer the other tenants' reservations."""


class FacilityContract(View):
    contract_id: str
    tenant: str
    resource: str
    quantity: Quantity


class FacilityView(View):
    id: str
    provider: str
    name: str
    location: str
    as_of: UtcDatetime
    known_at: Knowledge
    resources: list[FacilityResource]
    contracts: list[FacilityContract]
