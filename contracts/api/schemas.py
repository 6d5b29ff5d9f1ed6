"""Request (`*In`) and response (`*Out`) schemas of API v1: the OpenAPI document's source.

Field names are the public contract of docs/api.md. Responses reuse the ledger's query
views (they are already the shapes billing reads) and add what a write returns.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from ledger.domain.contract import Status
from ledger.domain.events import NO_NUL_PATTERN, ClearableDraftField, ResourceCode, Role, Slug, Text
from ledger.read import ContractView, FacilityView, LimitView, TimelineItem
from ledger.read.directory import PartyView
from ledger.types import Instant, LedgerPosition, PointOfKnowledge, Quantity, UtcDatetime

DECIMAL_PATTERN = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?$"
UNSIGNED_PATTERN = DECIMAL_PATTERN.replace("-?", "")
POSITIVE_PATTERN = UNSIGNED_PATTERN.replace("^", "^(?=[0-9.]*[1-9])", 1)
"""An unsigned quantity with a non-zero digit: "0" and "0.000" are not positive."""


def _published(pattern: str) -> BeforeValidator:
    """Takes a quantity only in the form the document publishes. Python's Decimal reads
    more (`1_000`, `1e3`, JSON numbers, non-ASCII digits): exact values all, but a client
    that sends them relies on what no other implementation of this contract must accept."""
    form = re.compile(pattern)

    def check(value: Any) -> Any:
        if not isinstance(value, str) or not form.fullmatch(value):
            raise ValueError(
                'quantities are decimal strings of ASCII digits, like "220000" or "300.5"'
            )
        return value

    return BeforeValidator(check)


DecimalString = Annotated[
    Quantity,
    _published(DECIMAL_PATTERN),
    WithJsonSchema({"type": "string", "pattern": DECIMAL_PATTERN, "examples": ["220000", "300.5"]}),
]
"""A quantity: a decimal string in JSON (floats are refused)."""

NonNegativeDecimal = Annotated[
    Quantity,
    Field(ge=0),
    _published(UNSIGNED_PATTERN),
    WithJsonSchema({"type": "string", "pattern": UNSIGNED_PATTERN}),
]
PositiveDecimal = Annotated[
    Quantity,
    Field(gt=0),
    _published(UNSIGNED_PATTERN),
    WithJsonSchema({"type": "string", "pattern": POSITIVE_PATTERN}),
]

Reason = Annotated[str, StringConstraints(min_length=1, max_length=2000, pattern=NO_NUL_PATTERN)]
Position = LedgerPosition
KnownAt = PointOfKnowledge
CommercialTerms = dict[
    Annotated[str, StringConstraints(pattern=NO_NUL_PATTERN)],
    Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL_PATTERN)],
]
Reference = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL_PATTERN)]
Unit = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=NO_NUL_PATTERN)]


class In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- query parameters ---------------------------------------------------------------------


class TimeTravel(In):
    as_of: Instant | None = Field(None, description="business time; default now")
    known_at: KnownAt | None = Field(
        None, description="a position or an RFC 3339 timestamp; default the head"
    )


class Page(In):
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    cursor: Annotated[str, StringConstraints(max_length=400)] | None = None


class ContractFilters(TimeTravel, Page):
    tenant: Slug | None = None
    provider: Slug | None = None
    facility: Slug | None = None
    status: Status | None = None


class TimelineQuery(In):
    from_: Instant = Field(alias="from")
    to: Instant
    resource: ResourceCode | None = None
    known_at: KnownAt | None = None


class ChangesQuery(In):
    since_position: Position
    known_at: KnownAt | None = None


class EventQuery(In):
    after: Position = 0
    limit: Annotated[int, Field(ge=1, le=1000)] = 100
    tenant: Slug | None = None
    stream: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    type: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class ExportQuery(In):
    format: Literal["jsonl", "csv"] = "jsonl"
    tenant: Slug | None = None
    from_: Instant | None = Field(None, alias="from", description="recorded at or after")
    to: Instant | None = Field(None, description="recorded before")
    up_to: Position | None = Field(
        None, description="last position included (default: the head, sent back in X-Ledger-Up-To)"
    )


# -- request bodies ------------------------------------------------------------------------


class CapacityLineIn(In):
    resource: ResourceCode
    quantity: NonNegativeDecimal
    unit: Unit


class TermIn(In):
    start: Instant
    end: Instant


Capacity = Annotated[list[CapacityLineIn], Field(min_length=1, max_length=100)]


class PartyIn(In):
    id: Slug
    name: Text
    roles: Annotated[list[Role], Field(min_length=1, max_length=2)]
    effective_at: Instant | None = Field(
        None, description="when the party came into being; default now"
    )
    reason: Reason | None = None


class FacilityIn(In):
    id: Slug
    provider: Slug
    name: Text
    location: Text
    capacity: Capacity
    effective_at: Instant | None = None
    reason: Reason | None = None


class FacilityCapacityIn(In):
    """`{"capacity": [...], "effective_at", "reason"}`, none of them optional: a
    facility's capacity changes from a business date the caller names, and says why."""

    capacity: Capacity
    effective_at: Instant
    reason: Reason


class ContractIn(In):
    id: Slug | None = None
    provider: Slug
    tenant: Slug
    facility: Slug
    title: Text
    reference: Reference | None = None
    term: TermIn
    capacity: Capacity
    commercial_terms: CommercialTerms | None = None


def _null_only_where_it_clears(schema: dict[str, Any]) -> None:
    """In a revision an absent field is left as it is and `null` clears one: publish
    `null` only for the fields a draft may be without (`ClearableDraftField`)."""
    for name, spec in schema.get("properties", {}).items():
        options = spec.get("anyOf")
        if name in get_args(ClearableDraftField) or not options:
            continue
        rest = [option for option in options if option != {"type": "null"}]
        del spec["anyOf"]
        spec.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
        spec.pop("default", None)


class ReviseIn(In):
    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_extra=_null_only_where_it_clears
    )

    provider: Slug | None = None
    tenant: Slug | None = None
    facility: Slug | None = None
    title: Text | None = None
    reference: Reference | None = None
    term: TermIn | None = None
    capacity: Capacity | None = None
    commercial_terms: CommercialTerms | None = None


class VoidIn(In):
    reason: Reason
    effective_at: Instant | None = None


class SignIn(In):
    signed_by: Annotated[list[Text], Field(min_length=1, max_length=20)]
    effective_at: Instant | None = None
    reason: Reason | None = None


class AmendmentIn(In):
    amendment_id: Slug | None = None
    effective_at: Instant
    capacity: Annotated[list[CapacityLineIn], Field(max_length=100)] = []
    term_end: Instant | None = None
    reason: Reason


class TerminateIn(In):
    effective_at: Instant
    reason: Reason


class AllocationIn(In):
    allocation_id: Slug | None = None
    workload: Slug
    resource: ResourceCode
    quantity: PositiveDecimal
    effective_at: Instant | None = None
    until: Instant | None = None
    reason: Reason | None = None


class ResizeIn(In):
    quantity: PositiveDecimal
    effective_at: Instant | None = None
    reason: Reason


class ReleaseIn(In):
    effective_at: Instant | None = None
    reason: Reason | None = None


class LimitIn(In):
    plan: Slug
    limit: Slug
    operation: Literal["set", "scale", "remove"]
    value: DecimalString | None = None
    factor: DecimalString | None = None
    effective_at: Instant | None = None
    until: Instant | None = None
    reason: Reason


class PeriodCloseIn(In):
    through: Instant
    reason: Reason | None = None


class PeriodReopenIn(In):
    through: Instant
    reason: Reason


# -- responses -----------------------------------------------------------------------------


class HealthOut(Out):
    status: Literal["ok"]
    database: Literal["ok"]
    head_position: int
    signing_key: Literal["ok", "missing", "invalid"] = Field(
        description="whether export manifests and checkpoints can be signed"
    )


class Written(Out):
    position: int = Field(description="global position of the last event this write appended")


class PartyWriteOut(PartyView, Written):
    pass


class PartyPage(Out):
    items: list[PartyView]
    next_cursor: str | None


class FacilityWriteOut(FacilityView, Written):
    pass


class ContractWriteOut(ContractView, Written):
    amendment_id: str | None = None
    allocation_id: str | None = None


class ContractPage(Out):
    items: list[ContractView]
    next_cursor: str | None


class LimitsOut(Out):
    items: list[LimitView]


class LimitWriteOut(LimitView, Written):
    tenant: str


class PeriodsOut(Out):
    tenant: str
    closed_through: UtcDatetime | None


class PeriodWriteOut(PeriodsOut, Written):
    pass


class TimelineOut(Out):
    items: list[TimelineItem]


class EnvelopeOut(Out):
    position: int
    event_id: str
    stream_id: str
    stream_version: int
    type: str
    schema_version: int
    effective_at: UtcDatetime
    recorded_at: UtcDatetime
    payload: dict[str, Any]
    metadata: dict[str, Any]
    prev_hash: str
    hash: str


class EventPage(Out):
    items: list[EnvelopeOut]
    next_after: int


class StreamOut(Out):
    stream_id: str
    version: int
    items: list[EnvelopeOut]


class PlannedEvent(Out):
    stream_id: str
    type: str
    schema_version: int
    effective_at: UtcDatetime
    payload: dict[str, Any]
    metadata: dict[str, Any]


class DryRun(Out):
    """What a dry run adds to the answer its write would give (`?dry_run=true`)."""

    dry_run: Literal[True]
    events: list[PlannedEvent] = Field(description="the events the write would append")
    position: None = Field(None, description="null: a dry run appends nothing")
    known_at: None = Field(
        None,
        description="null: what a dry run shows is not known to the ledger (it was rolled back)",
    )


class PartyDryRun(DryRun, PartyWriteOut):
    pass


class FacilityDryRun(DryRun, FacilityWriteOut):
    pass


class ContractDryRun(DryRun, ContractWriteOut):
    pass


class LimitDryRun(DryRun, LimitWriteOut):
    pass


class PeriodDryRun(DryRun, PeriodWriteOut):
    pass


class VerifyOut(Out):
    ok: bool
    checked: int
    head_position: int
    head_hash: str
    first_bad_position: int | None


class FieldErrorOut(Out):
    loc: list[str | int]
    msg: str


class ProblemOut(Out):
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldErrorOut] | None = None
    rule: str | None = None
    resource: str | None = None
    at: datetime | None = None


class UnhealthyOut(ProblemOut):
    """/health's 503: a problem, as every error is, that names the part that failed (the
    database, or projections an import left unbuilt)."""

    database: Literal["ok", "error"]
