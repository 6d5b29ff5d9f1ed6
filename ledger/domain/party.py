"""The party aggregate (stream `party-{id}`): roles, limits and closed periods."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from ledger.domain.events import LimitChanged, PartyRegistered, PeriodClosed, PeriodReopened
from ledger.domain.frozen import evolved
from ledger.events import Event
from ledger.timeline import END_OF_TIME


def stream_id(party_id: str) -> str:
    return f"party-{party_id}"


PERIOD_EVENTS = (PeriodClosed.event_type, PeriodReopened.event_type)
"""The events that set where a party's books are closed through: the latest one wins."""


def books_closed_through(latest_period_event: Event | None) -> datetime | None:
    """Where a party's books are closed through, given the latest of its PERIOD_EVENTS
    (None: never closed, so open)."""
    if latest_period_event is None:
        return None
    if not isinstance(latest_period_event, PeriodClosed | PeriodReopened):
        raise TypeError(f"{latest_period_event.event_type} does not close or reopen books")
    return latest_period_event.through


@dataclass(frozen=True, slots=True)
class LimitEntry:
    """One LimitChanged: `value` (None when unlimited) holds from effective_at until `until`."""

    effective_at: datetime
    position: int
    value: Decimal | None
    unlimited: bool
    operation: Literal["set", "scale", "remove"]
    factor: Decimal | None
    until: datetime | None

    def holds_at(self, moment: datetime) -> bool:
        return self.effective_at <= moment and (self.until is None or moment < self.until)


@dataclass(frozen=True, slots=True)
class LimitSegment:
    valid_from: datetime
    valid_to: datetime
    entry: LimitEntry


@dataclass(frozen=True)
class Party:
    party_id: str
    name: str
    roles: tuple[str, ...]
    limits: tuple[tuple[tuple[str, str], tuple[LimitEntry, ...]], ...] = ()
    closed_through: datetime | None = None
    version: int = 0

    @property
    def stream_id(self) -> str:
        return stream_id(self.party_id)

    def limit_entries(self, plan: str, limit: str) -> tuple[LimitEntry, ...]:
        return next((entries for key, entries in self.limits if key == (plan, limit)), ())

    def limit_keys(self) -> list[tuple[str, str]]:
        return [key for key, _ in self.limits]

    def limit_at(self, plan: str, limit: str, moment: datetime) -> LimitEntry | None:
        """The latest change in force at `moment`; a lapsed temporary change no longer counts."""
        holding = [e for e in self.limit_entries(plan, limit) if e.holds_at(moment)]
        return max(holding, key=lambda e: (e.effective_at, e.position)) if holding else None

    def limit_segments(self, plan: str, limit: str, since: datetime) -> list[LimitSegment]:
        """The limit as maximal intervals from `since` on (the one covering `since` included)."""
        # What `limit_at` picks, found from the latest change back: a change that lapsed
        # before `since` can hold at none of these instants, and changes made before the
        # latest one in force are not looked at (so a long history costs one sort).
        live = sorted(
            (e for e in self.limit_entries(plan, limit) if e.until is None or e.until > since),
            key=lambda e: (e.effective_at, e.position),
            reverse=True,
        )
        breaks = sorted(
            {since}
            | {e.effective_at for e in live if e.effective_at > since}
            | {e.until for e in live if e.until is not None and e.until > since}
        )
        segments: list[LimitSegment] = []
        for start, end in zip(breaks, [*breaks[1:], END_OF_TIME], strict=True):
            entry = next((e for e in live if e.holds_at(start)), None)
            if entry is None:
                continue
            if segments and segments[-1].entry == entry and segments[-1].valid_to == start:
                segments[-1] = LimitSegment(segments[-1].valid_from, end, entry)
            else:
                segments.append(LimitSegment(start, end, entry))
        return segments

    def apply(self, event: Event, effective_at: datetime, position: int) -> Party:
        return evolved(self._apply(event, effective_at, position), version=self.version + 1)

    def _apply(self, event: Event, effective_at: datetime, position: int) -> Party:
        match event:
            case LimitChanged():
                key = (event.plan, event.limit)
                entry = LimitEntry(
                    effective_at,
                    position,
                    event.value,
                    event.unlimited,
                    event.operation,
                    event.factor,
                    event.until,
                )
                limits = dict(self.limits)
                limits[key] = (*limits.get(key, ()), entry)
                return evolved(self, limits=tuple(limits.items()))
            case PeriodClosed() | PeriodReopened():
                return evolved(self, closed_through=books_closed_through(event))
        raise TypeError(f"{event.event_type} does not belong to a party stream")


def registered(event: PartyRegistered) -> Party:
    return Party(party_id=event.party_id, name=event.name, roles=event.roles, version=1)
