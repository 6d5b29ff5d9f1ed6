"""What every router shares: the error responses it documents, reads, time and cursors."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Connection

from contracts.api.schemas import CapacityLineIn, ProblemOut
from contracts.runtime import get_ledger
from ledger.domain.events import SLUG_PATTERN, CapacityLine
from ledger.errors import FieldError, InvalidInput, NotFound

ERROR_STATUSES = (400, 401, 403, 404, 408, 409, 412, 413, 415, 422, 429, 503)
ERRORS: dict[int, type[ProblemOut]] = {status: ProblemOut for status in ERROR_STATUSES}


@contextmanager
def reading() -> Iterator[Connection]:
    """A connection for the API's reads: each pins what it reads to the position of its
    first statement, so it needs no transaction block (`Ledger.read`)."""
    with get_ledger().read(transaction=False) as conn:
        yield conn


def now() -> datetime:
    return get_ledger().clock()


def path_id(kind: str, identifier: str) -> str:
    """An id from a path, which the document publishes as any string: one that is not in
    the form ids take names nothing, so it is 404 like any id that does not exist."""
    if re.fullmatch(SLUG_PATTERN, identifier) is None:
        raise NotFound(kind, identifier)
    return identifier


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_id = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        # Cursors carry the last id of a page: checked like one before it reaches a query.
        if re.fullmatch(SLUG_PATTERN, last_id) is None:
            raise ValueError(last_id)
        return last_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput(
            "cursor is not one this API handed out",
            [FieldError(("query", "cursor"), "invalid cursor")],
        ) from None


def capacity_lines(lines: Sequence[CapacityLineIn]) -> tuple[CapacityLine, ...]:
    return tuple(CapacityLine(**line.model_dump()) for line in lines)
