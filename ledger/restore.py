"""Restoring a full JSONL export into an empty ledger: positions and hashes come out
identical, so an export of the restored ledger is byte for byte the original.

The file is checked as it is read (every hash, every link, from genesis, without a gap)
and written in one transaction: a broken file, or a ledger that is not empty, leaves the
database exactly as it was. The projections are rebuilt afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ledger.canonical import GENESIS_HASH, canonical_json, parse_timestamp
from ledger.errors import InvalidInput
from ledger.projections.rebuild import rebuild
from ledger.tables import events, head
from ledger.unit_of_work import Ledger
from ledger.verify import Broken, ChainChecker, read_jsonl

BATCH = 1_000


@dataclass(frozen=True)
class Restored:
    events: int
    head_position: int
    head_hash: str


def _row(envelope: dict[str, Any]) -> dict[str, Any]:
    return {
        "position": envelope["position"],
        "event_id": envelope["event_id"],
        "stream_id": envelope["stream_id"],
        "stream_version": envelope["stream_version"],
        "type": envelope["type"],
        "schema_version": envelope["schema_version"],
        "payload": canonical_json(envelope["payload"]).decode(),
        "metadata": canonical_json(envelope["metadata"]).decode(),
        "recorded_at": parse_timestamp(envelope["recorded_at"]),
        "effective_at": parse_timestamp(envelope["effective_at"]),
        "prev_hash": envelope["prev_hash"],
        "hash": envelope["hash"],
    }


def restore(
    ledger: Ledger, path: Path, on_progress: Callable[[int], None] | None = None
) -> Restored:
    checker = ChainChecker()
    last: dict[str, Any] | None = None
    with ledger.write() as uow, path.open("rb") as stream:
        conn = uow.conn
        ledger.store.lock_head(conn)
        if conn.execute(select(func.count()).select_from(events)).scalar_one():
            raise InvalidInput("the ledger is not empty: an export restores into an empty one")
        batch: list[dict[str, Any]] = []
        try:
            for number, envelope in read_jsonl(stream):
                checker.check(number, envelope)
                if envelope["position"] != number:
                    raise Broken(number, f"position {envelope['position']} where {number} was due")
                if number == 1 and envelope["prev_hash"] != GENESIS_HASH:
                    raise Broken(number, "the first event does not start the chain")
                batch.append(_row(envelope))
                last = envelope
                if len(batch) == BATCH:
                    conn.execute(insert(events), batch)
                    batch = []
                    if on_progress is not None:
                        on_progress(number)
            if batch:
                conn.execute(insert(events), batch)
        except Broken as exc:
            raise InvalidInput(f"{path.name}: line {exc.line}: {exc.reason}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"{path.name}: not a ledger export ({exc})") from None
        except IntegrityError as exc:
            raise InvalidInput(f"{path.name}: an event id appears twice ({exc.orig})") from None
        if last is None:
            raise InvalidInput(f"{path.name} holds no event")
        conn.execute(
            update(head)
            .where(head.c.id == 1)
            .values(
                position=last["position"],
                hash=last["hash"],
                recorded_at=parse_timestamp(last["recorded_at"]),
            )
        )
    rebuild(ledger)
    assert last is not None
    return Restored(checker.summary.count, last["position"], last["hash"])
