"""The states a handler reads, loaded inside its unit of work: streams folded (from a
snapshot where one is kept), the versions they were loaded at, and a party's books read
under the append lock."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from ledger.domain import contract as contracts
from ledger.domain import facility as facilities
from ledger.domain import party as parties
from ledger.domain.aggregates import Aggregate, fold
from ledger.domain.contract import Contract
from ledger.domain.facility import Facility
from ledger.domain.party import Party
from ledger.errors import NotFound
from ledger.snapshots import Snapshot
from ledger.store import NO_STREAM, ExpectedVersion
from ledger.unit_of_work import UnitOfWork

SNAPSHOT_FROM_VERSION = 32
"""Streams shorter than this are folded from their start on every load: refolding a few
events costs less than keeping their states alive (measured: snapshots of every 5-event
contract slowed a command cycle by 5-10%, most likely the garbage collector walking the
kept states)."""


class State:
    """The aggregates a handler reads, loaded inside its unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._versions: dict[str, int] = {}

    def expected(self, stream_id: str) -> ExpectedVersion:
        """The version `stream_id` was loaded at, which an append to it must still find."""
        version = self._versions[stream_id]  # a decision appends only to what it loaded
        return version if version else NO_STREAM

    def _load(self, stream_id: str) -> Aggregate | None:
        """The stream's current state: its snapshot brought up to date, or a fold from the
        start when there is none or it no longer matches the stream (see ledger.snapshots)."""
        registry = self.uow.registry
        kept = self.uow.snapshots.get(stream_id)
        records = [] if kept is None else self.uow.read_stream(stream_id, from_version=kept.version)
        if kept is not None and records and records[0].hash == kept.hash:
            state = fold(records[1:], registry, cast(Aggregate, kept.state))
        else:
            records = self.uow.read_stream(stream_id)
            state = fold(records, registry)
        self._versions[stream_id] = 0 if state is None else state.version
        if records:
            last = records[-1]
            self.uow.remember_folded(stream_id, last.stream_version, state)
            if last.stream_version >= SNAPSHOT_FROM_VERSION:
                self.uow.snapshots.put(stream_id, Snapshot(last.stream_version, last.hash, state))
        return state

    def party(self, party_id: str) -> Party | None:
        return cast(Party | None, self._load(parties.stream_id(party_id)))

    def facility(self, facility_id: str) -> Facility | None:
        return cast(Facility | None, self._load(facilities.stream_id(facility_id)))

    def contract(self, contract_id: str) -> Contract | None:
        return cast(Contract | None, self._load(contracts.stream_id(contract_id)))

    def closed_through(self, party_id: str) -> datetime | None:
        """Where the party's books are closed through (None: open); NotFound if no party.

        Read under the append lock, held from here until the unit of work ends. A contract
        command checks the books of a stream it does not append to, so its expected
        versions cannot catch a close committed after this read; on PostgreSQL one did,
        and a backdated change landed in a period just closed. With the lock, a close
        either committed before this read (and is seen) or commits after this command.
        """
        stream = parties.stream_id(party_id)
        version, latest = self.uow.locked_stream_tail(stream, parties.PERIOD_EVENTS)
        if version == 0:
            raise NotFound("party", party_id)
        return parties.books_closed_through(
            None if latest is None else latest.decode(self.uow.registry)
        )
