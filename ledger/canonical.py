"""Canonical JSON (RFC 8785, "JCS") and the byte format the hash chain is computed over.

Every value that reaches a hash is first normalised: Decimals become plain decimal strings,
timestamps RFC 3339 UTC strings with microseconds, UUIDs their canonical text. Floats and
integers beyond 2**53 - 1 are refused, because JCS would serialise them as IEEE doubles and
a verifier in another language could not reproduce the bytes.

`canonical_json` uses orjson's sorted output, which is byte-identical to JCS whenever every
object key is ASCII (UTF-8 and UTF-16 orders then agree); other keys go through the reference
`rfc8785` implementation. A property test holds the two to the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, DecimalException
from typing import Any, TypeAlias
from uuid import UUID

import orjson
import rfc8785
from pydantic import BaseModel

from ledger.errors import InvalidTimestamp, NonCanonicalValue
from ledger.exact import EXACT

MAX_SAFE_INTEGER = 2**53 - 1
GENESIS_HASH = "0" * 64

JSONValue: TypeAlias = bool | int | str | list["JSONValue"] | dict[str, "JSONValue"] | None


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with exactly six fractional digits: `2026-05-06T00:00:00.000000Z`."""
    offset = moment.utcoffset()
    if offset is None:
        raise InvalidTimestamp(f"naive timestamp {moment.isoformat()}: a UTC timezone is required")
    if offset:
        raise InvalidTimestamp(f"timestamp {moment.isoformat()} is not in UTC")
    # A zero offset always prints as the six characters "+00:00".
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_timestamp(text: str) -> datetime:
    """Inverse of `format_timestamp`; accepts any RFC 3339 UTC form (`Z` or `+00:00`)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidTimestamp(f"not an RFC 3339 timestamp: {text!r}") from exc
    format_timestamp(moment)  # validates: aware and UTC
    return moment.replace(tzinfo=UTC)


def format_decimal(quantity: Decimal) -> str:
    """Plain notation without exponent or trailing zeros: `220000`, `300.5`, `0`."""
    if not quantity.is_finite():
        raise NonCanonicalValue(f"{quantity} is not a finite decimal")
    try:
        text = format(quantity.normalize(EXACT), "f")
    except DecimalException as exc:  # not a quantity the ledger could hold exactly
        raise NonCanonicalValue(f"{quantity} cannot be written exactly") from exc
    return "0" if text in ("-0", "0") else text


def to_json_value(value: Any) -> tuple[JSONValue, bool]:
    """Normalise `value` into plain JSON; the flag says whether every object key is ASCII."""
    if value is None or isinstance(value, bool | str):
        return value, True
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value, True
        raise NonCanonicalValue(f"integer {value} is outside the exact JSON range (2**53 - 1)")
    if isinstance(value, float):
        raise NonCanonicalValue(f"float {value!r} is not allowed: use a decimal string")
    if isinstance(value, Decimal):
        return format_decimal(value), True
    if isinstance(value, datetime):
        return format_timestamp(value), True
    if isinstance(value, UUID):
        return str(value), True
    if isinstance(value, Mapping):
        ascii_keys = True
        normalised: dict[str, JSONValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise NonCanonicalValue(f"object key {key!r} is not a string")
            ascii_keys = ascii_keys and key.isascii()
            normalised[key], item_ascii = to_json_value(item)
            ascii_keys = ascii_keys and item_ascii
        return normalised, ascii_keys
    if isinstance(value, list | tuple):
        ascii_keys = True
        items: list[JSONValue] = []
        for item in value:
            normalised_item, item_ascii = to_json_value(item)
            items.append(normalised_item)
            ascii_keys = ascii_keys and item_ascii
        return items, ascii_keys
    raise NonCanonicalValue(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 bytes of `value` (after normalisation, see module docstring)."""
    normalised, ascii_keys = to_json_value(value)
    if ascii_keys:
        try:
            return orjson.dumps(normalised, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError as exc:  # lone surrogates and the like
            raise NonCanonicalValue(str(exc)) from exc
    try:
        result: bytes = rfc8785.dumps(normalised)
    except rfc8785.CanonicalizationError as exc:
        raise NonCanonicalValue(str(exc)) from exc
    return result


def canonical_model_json(model: BaseModel, *, exclude_none: bool = False) -> bytes:
    """Canonical JSON of a pydantic model whose JSON form holds no floats or big integers.

    pydantic's JSON mode already turns Decimals and datetimes into strings, so when the
    sorted orjson output is pure ASCII (hence every key ASCII) it is the JCS form as is;
    anything else takes the general path.
    """
    data = model.model_dump(mode="json", exclude_none=exclude_none)
    fast = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    return fast if fast.isascii() else canonical_json(data)


def _json_string(text: str) -> bytes:
    # orjson's string escaping is JCS's: only '"', '\\' and control characters are escaped.
    return orjson.dumps(text)


_ENVELOPE = (
    b'{"effective_at":"%s","event_id":"%s","metadata":%s,"payload":%s,"position":%d,'
    b'"recorded_at":"%s","schema_version":%d,"stream_id":%s,"stream_version":%d,"type":%s}'
)
"""The envelope in JCS key order. Timestamps and event ids are spliced in as they are: an
RFC 3339 timestamp and a UUID's canonical text need no escaping by construction."""


def envelope_bytes(
    position: int,
    event_id: str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    schema_version: int,
    payload: bytes,
    metadata: bytes,
    recorded_at: str,
    effective_at: str,
) -> bytes:
    """Canonical JSON of the envelope whose hash the chain records.

    `payload` and `metadata` are already canonical JSON, so the envelope is spliced together
    in JCS key order instead of being parsed and serialised again; the result is the same
    bytes as `canonical_json` of the whole envelope (a property test checks it).
    """
    return _ENVELOPE % (
        effective_at.encode(),
        event_id.encode(),
        metadata,
        payload,
        position,
        recorded_at.encode(),
        schema_version,
        _json_string(stream_id),
        stream_version,
        _json_string(event_type),
    )


def chain_hash(prev_hash: str, envelope: bytes) -> str:
    """`sha256(prev_hash + canonical_json(envelope))`, prev_hash as its 64 hex ASCII digits."""
    return hashlib.sha256(prev_hash.encode("ascii") + envelope).hexdigest()
