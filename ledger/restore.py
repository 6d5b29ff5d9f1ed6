"""Restoring a full JSONL export into an empty ledger: positions and hashes come out
identical, so an export of the restored ledger is byte for byte the original.

The file is checked as it is read, all of it before anything commits: every hash and link
from genesis without a gap, every stream from its version 1, and every event decoded and
folded into its aggregate, as the projections will fold it. Before the commit the chain is
verified once more as the database stored it. It is written in one
transaction: a broken file, or a ledger that is not empty, leaves the database exactly as
it was. (Events are append-only: one committed and found wrong afterwards could never be
taken back.) The projections are rebuilt afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.canonical import GENESIS_HASH, canonical_json, canonical_model_json, parse_timestamp
from ledger.chain import verify_chain
from ledger.domain.aggregates import Aggregate, evolve
from ledger.errors import InvalidInput, LedgerError
from ledger.events import Metadata, RecordedEvent
from ledger.projections.rebuild import rebuild
from ledger.sql.events import ENVELOPE_COLUMNS
from ledger.store import Head
from ledger.tables import PROJECTIONS_INCOMPLETE, events, head, projection_state
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


def _fold(ledger: Ledger, states: dict[str, Aggregate], row: dict[str, Any], line: int) -> None:
    """Fold the row's event into its stream's state, as a rebuild will: what the ledger's
    own code cannot read or fold must be refused before it is committed."""
    stream, version = row["stream_id"], row["stream_version"]
    state = states.get(stream)
    if state is None and version != 1:
        raise Broken(line, f"stream {stream} starts at version {version}, not 1")
    record = RecordedEvent(*(row[column.name] for column in ENVELOPE_COLUMNS))
    if record.type not in ledger.registry:
        raise Broken(line, f"unknown event type {record.type!r}")
    try:
        metadata = Metadata.model_validate_json(record.metadata)
    except ValidationError as exc:
        raise Broken(
            line, f"metadata the ledger does not write: {exc.errors()[0]['msg']}"
        ) from None
    if canonical_model_json(metadata, exclude_none=True).decode() != record.metadata:
        raise Broken(line, "metadata in a form the ledger does not write")
    try:
        after = evolve(state, record.decode(ledger.registry), record)
    except LedgerError as exc:  # the payload does not decode
        raise Broken(line, str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise Broken(line, f"{record.type} cannot be folded into {stream}: {exc}") from None
    if after.stream_id != stream:
        raise Broken(line, f"stream {stream!r} holds an event of {after.stream_id!r}")
    states[stream] = after


def _not_empty(conn: Connection, held: int) -> str:
    built = conn.execute(select(projection_state.c.format)).scalar_one()
    if built == PROJECTIONS_INCOMPLETE:
        return (
            f"the ledger already holds {held} imported events, but not their projections:"
            " run `python manage.py rebuild_projections`"
        )
    return f"the ledger is not empty ({held} events): an export restores into an empty one"


def restore(
    ledger: Ledger, path: Path, on_progress: Callable[[int], None] | None = None
) -> Restored:
    checker = ChainChecker()
    states: dict[str, Aggregate] = {}
    last: dict[str, Any] | None = None
    with ledger.write() as uow, path.open("rb") as stream:
        conn = uow.conn
        ledger.store.lock_head(conn)
        held = conn.execute(select(func.count()).select_from(events)).scalar_one()
        if held:
            raise InvalidInput(_not_empty(conn, held))
        batch: list[dict[str, Any]] = []
        try:
            for number, envelope in read_jsonl(stream):
                checker.check(number, envelope)
                if envelope["position"] != number:
                    raise Broken(number, f"position {envelope['position']} where {number} was due")
                if number == 1 and envelope["prev_hash"] != GENESIS_HASH:
                    raise Broken(number, "the first event does not start the chain")
                row = _row(envelope)
                _fold(ledger, states, row, number)
                batch.append(row)
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
        except DBAPIError as exc:
            raise InvalidInput(f"{path.name}: the database refused it ({exc.orig})") from None
        if last is None:
            raise InvalidInput(f"{path.name} holds no event")
        stored_head = Head(last["position"], last["hash"], parse_timestamp(last["recorded_at"]))
        conn.execute(
            update(head)
            .where(head.c.id == 1)
            .values(
                position=stored_head.position,
                hash=stored_head.hash,
                recorded_at=stored_head.recorded_at,
            )
        )
        # The last word before the commit: the chain as the database stores it. Whatever the
        # file's checks missed (a value the database keeps in another form than the file
        # spelled it), a ledger that would fail its own verification is never committed.
        stored = verify_chain(ledger.store.read_all(conn), stored_head)
        if not stored.ok:
            raise InvalidInput(
                f"{path.name}: as stored, the ledger would not verify at position"
                f" {stored.first_bad_position} ({stored.reason}); nothing imported"
            )
        # Committed with the events: until the rebuild below replaces it, every read and
        # write refuses to use the empty read tables (a crash in between serves nothing).
        conn.execute(
            update(projection_state)
            .where(projection_state.c.id == 1)
            .values(format=PROJECTIONS_INCOMPLETE)
        )
    states.clear()  # the rebuild replays them again: do not hold both at once
    rebuild(ledger)
    assert last is not None
    return Restored(checker.summary.count, last["position"], last["hash"])
