"""The domain's events (v1), as docs/architecture.md lists them.

Business time (`effective_at`), the actor and the reason travel in the envelope, not here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ledger.domain import registry
from ledger.events import Event
from ledger.types import Quantity, UtcDatetime

SLUG_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,99}$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN)]
ResourceCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
NO_NUL_PATTERN = r"^[^\x00]*$"
"""Free text holds no NUL character: PostgreSQL cannot store one, and SQLite must agree."""
FreeText = Annotated[str, StringConstraints(pattern=NO_NUL_PATTERN)]
_WHITESPACE = r"\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = rf"^[^\x00]*[^\x00{_WHITESPACE}][^\x00]*$"
"""No NUL, and one character that is not whitespace: a name is stored stripped, so one
of only whitespace would be empty (the class is Python's and Unicode's whitespace both)."""
Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500, strip_whitespace=True, pattern=TEXT_PATTERN),
]
Role = Literal["provider", "tenant"]


class Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CapacityLine(Value):
    resource: ResourceCode
    quantity: Annotated[Quantity, Field(ge=0)]
    unit: Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=NO_NUL_PATTERN)]


class Term(Value):
    start: UtcDatetime
    end: UtcDatetime


# -- party-{id} ----------------------------------------------------------------------------


@registry.register
class PartyRegistered(Event):
    event_type = "PartyRegistered"
    party_id: Slug
    name: Text
    roles: tuple[Role, ...]


@registry.register
class LimitChanged(Event):
    """`value` is the limit in force from then on (for `scale`: the value it produced)."""

    event_type = "LimitChanged"
    plan: Slug
    limit: Slug
    operation: Literal["set", "scale", "remove"]
    value: Quantity | None
    unlimited: bool
    factor: Quantity | None = None
    until: UtcDatetime | None = None


@registry.register
class PeriodClosed(Event):
    event_type = "PeriodClosed"
    through: UtcDatetime


@registry.register
class PeriodReopened(Event):
    event_type = "PeriodReopened"
    through: UtcDatetime


# -- facility-{id} -------------------------------------------------------------------------


@registry.register
class FacilityRegistered(Event):
    event_type = "FacilityRegistered"
    facility_id: Slug
    provider: Slug
    name: Text
    location: Text
    capacity: tuple[CapacityLine, ...]


@registry.register
class FacilityCapacityChanged(Event):
    """Sets the named resources' capacity from effective_at on; others keep theirs."""

    event_type = "FacilityCapacityChanged"
    capacity: tuple[CapacityLine, ...]


@registry.register
class CapacityReserved(Event):
    event_type = "CapacityReserved"
    contract_id: Slug
    tenant: Slug
    term: Term
    capacity: tuple[CapacityLine, ...]


@registry.register
class CapacityReservationChanged(Event):
    event_type = "CapacityReservationChanged"
    contract_id: Slug
    amendment_id: Slug
    capacity: tuple[CapacityLine, ...] = ()
    term_end: UtcDatetime | None = None


@registry.register
class CapacityReservationReleased(Event):
    """The reservation ends at effective_at (the contract's termination)."""

    event_type = "CapacityReservationReleased"
    contract_id: Slug


# -- contract-{id} -------------------------------------------------------------------------


@registry.register
class ContractDrafted(Event):
    event_type = "ContractDrafted"
    contract_id: Slug
    provider: Slug
    tenant: Slug
    facility: Slug
    title: Text
    reference: FreeText | None = None
    term: Term
    capacity: tuple[CapacityLine, ...]
    commercial_terms: dict[FreeText, FreeText] | None = None


ClearableDraftField = Literal["reference", "commercial_terms"]
"""The draft fields a revision may set back to none: the optional ones."""


@registry.register
class ContractDraftRevised(Event):
    """Only the fields that changed are present; `cleared` names those set back to none
    (absent from events recorded before it existed: none were)."""

    event_type = "ContractDraftRevised"
    provider: Slug | None = None
    tenant: Slug | None = None
    facility: Slug | None = None
    title: Text | None = None
    reference: FreeText | None = None
    term: Term | None = None
    capacity: tuple[CapacityLine, ...] | None = None
    commercial_terms: dict[FreeText, FreeText] | None = None
    cleared: tuple[ClearableDraftField, ...] = ()


@registry.register
class ContractVoided(Event):
    event_type = "ContractVoided"


@registry.register
class ContractSigned(Event):
    event_type = "ContractSigned"
    signed_by: tuple[Text, ...]


@registry.register
class ContractAmended(Event):
    event_type = "ContractAmended"
    amendment_id: Slug
    capacity: tuple[CapacityLine, ...] = ()
    term_end: UtcDatetime | None = None


@registry.register
class ContractTerminated(Event):
    event_type = "ContractTerminated"


@registry.register
class CapacityAllocated(Event):
    event_type = "CapacityAllocated"
    allocation_id: Slug
    workload: Slug
    resource: ResourceCode
    quantity: Annotated[Quantity, Field(gt=0)]
    until: UtcDatetime | None = None


@registry.register
class AllocationResized(Event):
    event_type = "AllocationResized"
    allocation_id: Slug
    quantity: Annotated[Quantity, Field(ge=0)]


@registry.register
class AllocationReleased(Event):
    event_type = "AllocationReleased"
    allocation_id: Slug
