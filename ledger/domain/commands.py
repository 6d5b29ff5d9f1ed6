"""Commands: what callers ask the ledger to do. Small frozen values, validated on creation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger.domain.events import (
    CapacityLine,
    ClearableDraftField,
    FreeText,
    Role,
    Slug,
    Term,
    Text,
)
from ledger.types import Quantity, UtcDatetime


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RegisterParty(Command):
    party_id: Slug
    name: Text
    roles: Annotated[tuple[Role, ...], Field(min_length=1)]
    effective_at: UtcDatetime | None = None
    reason: FreeText | None = None


class RegisterFacility(Command):
    facility_id: Slug
    provider: Slug
    name: Text
    location: Text
    capacity: Annotated[tuple[CapacityLine, ...], Field(min_length=1)]
    effective_at: UtcDatetime | None = None
    reason: FreeText | None = None


class ChangeFacilityCapacity(Command):
    facility_id: Slug
    capacity: Annotated[tuple[CapacityLine, ...], Field(min_length=1)]
    effective_at: UtcDatetime | None = None
    reason: FreeText | None = None


class DraftContract(Command):
    contract_id: Slug | None = None
    provider: Slug
    tenant: Slug
    facility: Slug
    title: Text
    reference: FreeText | None = None
    term: Term
    capacity: Annotated[tuple[CapacityLine, ...], Field(min_length=1)]
    commercial_terms: dict[FreeText, FreeText] | None = None


class ReviseDraft(Command):
    contract_id: Slug
    provider: Slug | None = None
    tenant: Slug | None = None
    facility: Slug | None = None
    title: Text | None = None
    reference: FreeText | None = None
    term: Term | None = None
    capacity: tuple[CapacityLine, ...] | None = None
    commercial_terms: dict[FreeText, FreeText] | None = None
    cleared: tuple[ClearableDraftField, ...] = ()
    """Fields to set back to none (a field left at None is left as it is)."""


class VoidContract(Command):
    contract_id: Slug
    reason: FreeText | None = None
    effective_at: UtcDatetime | None = None


class SignContract(Command):
    contract_id: Slug
    signed_by: Annotated[tuple[Text, ...], Field(min_length=1)]
    effective_at: UtcDatetime | None = None
    reason: FreeText | None = None


class AmendContract(Command):
    contract_id: Slug
    amendment_id: Slug | None = None
    effective_at: UtcDatetime
    capacity: tuple[CapacityLine, ...] = ()
    term_end: UtcDatetime | None = None
    reason: FreeText | None = None


class TerminateContract(Command):
    contract_id: Slug
    effective_at: UtcDatetime
    reason: FreeText | None = None


class AllocateCapacity(Command):
    contract_id: Slug
    allocation_id: Slug | None = None
    workload: Slug
    resource: Slug
    quantity: Quantity
    effective_at: UtcDatetime | None = None
    until: UtcDatetime | None = None
    reason: FreeText | None = None


class ResizeAllocation(Command):
    contract_id: Slug
    allocation_id: Slug
    quantity: Quantity
    effective_at: UtcDatetime | None = None
    reason: FreeText | None = None


class ReleaseAllocation(Command):
    contract_id: Slug
    allocation_id: Slug
    effective_at: UtcDatetime | None = None
    reason: FreeText | None = None


class ChangeLimit(Command):
    tenant: Slug
    plan: Slug
    limit: Slug
    operation: Literal["set", "scale", "remove"]
    value: Quantity | None = None
    factor: Quantity | None = None
    effective_at: UtcDatetime | None = None
    until: UtcDatetime | None = None
    reason: FreeText | None = None


class ClosePeriod(Command):
    tenant: Slug
    through: UtcDatetime
    reason: FreeText | None = None


class ReopenPeriod(Command):
    tenant: Slug
    through: UtcDatetime
    reason: FreeText | None = None
