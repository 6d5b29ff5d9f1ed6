"""Verification of the hash chain: recompute every hash and check every link."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ledger.canonical import GENESIS_HASH, chain_hash
from ledger.events import RecordedEvent
from ledger.store import Head


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head_position: int
    head_hash: str
    first_bad_position: int | None = None
    reason: str | None = None

    def summary(self) -> str:
        if self.ok:
            return (
                f"ledger verified: {self.checked} events, head position {self.head_position}, "
                f"head hash {self.head_hash}"
            )
        return f"ledger verification FAILED at position {self.first_bad_position}: {self.reason}"


def verify_chain(
    records: Iterable[RecordedEvent],
    head: Head,
    on_progress: Callable[[int], None] | None = None,
) -> Verification:
    """Check a whole ledger, position 1 to the head row, in position order.

    The first bad position is the first one at which the ledger stops being the one its
    hashes describe: an edited row fails its own hash; a row whose hash was recomputed
    after an edit breaks the next row's link; a deleted row leaves its position missing.
    """
    expected_position, prev_hash, checked = 1, GENESIS_HASH, 0
    stream_versions: dict[str, int] = {}

    def failed(position: int, reason: str) -> Verification:
        return Verification(False, checked, head.position, head.hash, position, reason)

    for record in records:
        if record.position != expected_position:
            if record.position > expected_position:
                return failed(expected_position, f"position {expected_position} is missing")
            return failed(record.position, f"position {record.position} is out of order")
        if record.prev_hash != prev_hash:
            return failed(record.position, "prev_hash does not match the previous event's hash")
        if chain_hash(prev_hash, record.canonical_bytes()) != record.hash:
            return failed(record.position, "hash does not match the event's contents")
        version = stream_versions.get(record.stream_id, 0) + 1
        if record.stream_version != version:
            return failed(
                record.position,
                f"stream {record.stream_id} jumps to version {record.stream_version}, "
                f"expected {version}",
            )
        stream_versions[record.stream_id] = version
        prev_hash = record.hash
        expected_position += 1
        checked += 1
        if on_progress is not None and checked % 1000 == 0:
            on_progress(checked)

    last_position = expected_position - 1
    if head.position > last_position:
        return failed(last_position + 1, f"position {last_position + 1} is missing")
    if head.position < last_position:
        return failed(head.position + 1, f"events past the head position {head.position}")
    if head.hash != prev_hash:
        return failed(last_position, "the head row's hash does not match the last event")
    if on_progress is not None:
        on_progress(checked)
    return Verification(True, checked, head.position, head.hash)
