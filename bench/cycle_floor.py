"""Floors under our command cycle, measured in the peer benchmark's run.

A cycle cannot be faster than the database work it consists of. Two floors:

- `statements_alone` (SQLite): the exact statements our cycles send, replayed through a
  bare `sqlite3` connection with no Python of ours around them. The statements are
  recorded (text and parameters, as the driver received them) while the same commands run
  untimed on one copy of the database as it was before the timed cycles; they are then
  replayed, timed, on a second copy, so every write lands on the same rows and pages as in
  the run. Prepared statements are cached by text as in the run, and every read's rows
  are fetched.
- `durable_commit`: one row inserted and committed through the bare driver, in a loop: the
  least any command that commits durably costs (on PostgreSQL, a commit waits for the WAL
  flush; SQLite with `synchronous=NORMAL` in WAL mode does not).

The peer's cycle time divided by a floor is the largest ours/peer ratio any implementation
of our cycle could reach in this run.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from ledger.sql.engine import DatabaseSettings, make_engine

Statement = tuple[str, str, Any]  # (how: execute / executemany / commit, sql, parameters)


class _RecordingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self.connection.recorded.append(("execute", sql, parameters))  # type: ignore[attr-defined]
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        rows = list(parameters)
        self.connection.recorded.append(("executemany", sql, rows))  # type: ignore[attr-defined]
        return super().executemany(sql, rows)


class _RecordingConnection(sqlite3.Connection):
    """A `sqlite3` connection that keeps what it is asked to run (in `recorded`, set by a
    subclass: see `SqliteCopies.recording_engine`)."""

    recorded: list[Statement]

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(_RecordingCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        self.recorded.append(("execute", sql, parameters))
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        rows = list(parameters)
        self.recorded.append(("executemany", sql, rows))
        return super().executemany(sql, rows)

    def commit(self) -> None:
        if self.in_transaction:
            self.recorded.append(("commit", "COMMIT", ()))
        super().commit()

    def rollback(self) -> None:
        if self.in_transaction:
            self.recorded.append(("execute", "ROLLBACK", ()))
        super().rollback()


@dataclass
class SqliteCopies:
    """Two copies of a SQLite database, taken at one moment: one to record on, one to
    replay on."""

    record_path: str
    replay_path: str
    recorded: list[Statement] = field(default_factory=list)

    @staticmethod
    def of(engine: Engine) -> SqliteCopies:
        path = engine.url.database
        assert path is not None
        copies = SqliteCopies(f"{path}.record", f"{path}.replay")
        source = sqlite3.connect(path)
        try:
            for target_path in (copies.record_path, copies.replay_path):
                target = sqlite3.connect(target_path)
                source.backup(target)
                target.close()
        finally:
            source.close()
        return copies

    def recording_engine(self) -> Engine:
        """An engine like production's on the record copy, whose connections record."""
        engine = make_engine(f"sqlite:///{self.record_path}")
        # Bound to the class: SQLAlchemy runs statements on a new connection before any
        # "connect" listener could set an attribute on it.
        recording = type("Recording", (_RecordingConnection,), {"recorded": self.recorded})

        @event.listens_for(engine, "do_connect")
        def factory(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            cparams["factory"] = recording

        return engine

    def statements_alone(self, run_untimed: Callable[[Engine], None]) -> float:
        """Seconds our statements take alone: `run_untimed(engine)` runs the workload on a
        recording engine over the record copy; the replay on the other copy is timed."""
        recording = self.recording_engine()
        try:
            run_untimed(recording)
        finally:
            recording.dispose()
        return self.replay_seconds()

    def replay_seconds(self, settings: DatabaseSettings | None = None) -> float:
        """Replay what was recorded (from its first BEGIN on) on the replay copy, timed."""
        settings = settings or DatabaseSettings()
        statements = self.recorded[_first_begin(self.recorded) :]
        conn = sqlite3.connect(self.replay_path, isolation_level=None, cached_statements=256)
        try:
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                f"wal_autocheckpoint={settings.sqlite_wal_autocheckpoint_pages}",
            ):
                conn.execute(f"PRAGMA {pragma}")
            start = time.perf_counter()
            for how, sql, parameters in statements:
                if how == "executemany":
                    conn.executemany(sql, parameters)
                elif how == "commit":
                    conn.commit()
                else:
                    conn.execute(sql, parameters).fetchall()
            return time.perf_counter() - start
        finally:
            conn.close()


def _first_begin(statements: Sequence[Statement]) -> int:
    for index, (_, sql, _) in enumerate(statements):
        if sql.startswith("BEGIN"):
            return index
    return len(statements)


def durable_commit(url: str, commits: int = 300) -> float:
    """Mean seconds of one single-row INSERT + COMMIT through the bare driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn: Any = sqlite3.connect(parsed.database or "", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        begin, placeholder = "BEGIN IMMEDIATE", "?"
    else:
        conn = psycopg.connect(parsed.set(drivername="postgresql").render_as_string(False))
        conn.autocommit = True
        begin, placeholder = "BEGIN", "%s"
    try:
        conn.execute("CREATE TABLE bench_commit_floor (id integer PRIMARY KEY, note text)")
        start = time.perf_counter()
        for n in range(commits):
            conn.execute(begin)
            conn.execute(f"INSERT INTO bench_commit_floor VALUES ({placeholder}, 'x')", (n,))
            conn.execute("COMMIT")
        seconds = (time.perf_counter() - start) / commits
        conn.execute("DROP TABLE bench_commit_floor")
        return seconds
    finally:
        conn.close()
