"""Folded stream states kept between commands (in-memory snapshots).

A command decides on aggregates it folds from their streams. Folding from the first event
costs the stream's whole history on every command: a tenant with 10,000 limit changes had
all of them read, decoded and folded again for each new one. A snapshot keeps a stream's
state with the version it was folded to and the hash of the event at that version; the
next load reads the stream from that version on, and when the event there still has that
hash, folds only the newer events onto the kept state.

The hash is what makes a snapshot safe to trust: events are immutable, so the same hash at
the same version means the same history up to it (a ledger restored or rebuilt from other
events, as tests do, has other hashes there, and is folded afresh). States are immutable,
so one may be shared by concurrent commands.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    hash: str
    state: object


class Snapshots:
    """The most recently used streams' snapshots, at most `size` of them."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._kept: OrderedDict[str, Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, stream_id: str) -> Snapshot | None:
        with self._lock:
            found = self._kept.get(stream_id)
            if found is not None:
                self._kept.move_to_end(stream_id)
            return found

    def put(self, stream_id: str, snapshot: Snapshot) -> None:
        # The last put wins, even over a later version: a snapshot that no longer matches
        # its stream (another ledger's, a rolled-back one's) must not outlive its refold.
        with self._lock:
            self._kept[stream_id] = snapshot
            self._kept.move_to_end(stream_id)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
