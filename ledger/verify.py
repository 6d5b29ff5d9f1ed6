"""Offline verifier of audit exports:
`python -m ledger.verify FILE [--manifest M --public-key K] [--filtered-by-tenant]`.

It needs Python and the `cryptography` package only: no database, no Django, nothing else
of this project (it imports only the standard library and `cryptography`), so an auditor
can read it whole and run it anywhere.

Checked, line by line (JSONL: one canonical envelope a line; CSV: one envelope a row):
- each event's hash: sha256(prev_hash + canonical JSON of the envelope without hashes);
- a JSONL line is itself canonical JSON (RFC 8785), so no byte of it can change unseen;
- positions strictly increase; where two positions are consecutive, the later event's
  prev_hash is the earlier's hash (the chain links the file can see);
- integers and timestamps are in the one form the ledger writes, and recorded_at never goes
  back from one line to the next;
- per stream, versions increase by exactly one.
With a manifest: its Ed25519 signature, against the public key the auditor gives (never
the one the manifest names: anyone can sign with a key of their own), the file's sha256,
the count, first and last positions, the per-stream last versions and, for an export not
filtered by tenant, that no position is missing.

Without a manifest, positions missing between two lines fail the check unless the auditor
says the export was filtered by tenant (`--filtered-by-tenant`): a deleted line and another
tenant's event look the same. Nothing without a manifest shows lines cut from either end.

Prints one line (`OK: ...` or `FAILED at line N: ...`); exit status 0 when the export
verifies, 1 when it does not, 2 when it cannot be read or a manifest comes without a key.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

CSV_COLUMNS = (
    "position",
    "event_id",
    "stream_id",
    "stream_version",
    "type",
    "schema_version",
    "effective_at",
    "recorded_at",
    "payload",
    "metadata",
    "prev_hash",
    "hash",
)
INTEGER_COLUMNS = ("position", "stream_version", "schema_version")
JSON_COLUMNS = ("payload", "metadata")
HASHES = ("prev_hash", "hash")
TIMESTAMPS = ("effective_at", "recorded_at")
# The ledger writes one form of each: an ASCII integer without sign, spaces or leading zeros;
# an RFC 3339 UTC timestamp with six fractional digits (fixed width, so text order is time
# order). Any other spelling of the same value is an edit.
CANONICAL_INTEGER = re.compile(r"0|[1-9][0-9]*")
MAX_SAFE_INTEGER = 2**53 - 1  # beyond it a JSON number is not exact (see ledger.canonical)
END_OF_TIME = "9999-12-31T00:00:00.000000Z"  # the ledger's instants are all before it
EVENT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
HASH = re.compile(r"[0-9a-f]{64}")
CANONICAL_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"
)


def canonical(value: Any) -> bytes:
    """RFC 8785 (JCS) for the values an export holds: objects, arrays, strings, integers,
    booleans and null (the ledger stores no floats)."""
    return _jcs(value).encode("utf-8")


def _jcs(value: Any) -> str:
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be"))
        return "{" + ",".join(f"{_jcs(k)}:{_jcs(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_jcs(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise ValueError(f"integer {value} is outside the exact JSON range")
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    raise ValueError(f"{type(value).__name__} has no canonical form here")


def event_hash(envelope: dict[str, Any]) -> str:
    body = {k: v for k, v in envelope.items() if k not in HASHES}
    return hashlib.sha256(envelope["prev_hash"].encode("ascii") + canonical(body)).hexdigest()


class Broken(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass
class Summary:
    count: int = 0
    first_position: int | None = None
    last_position: int | None = None
    last_hash: str | None = None
    last_recorded_at: str = ""
    stream_versions: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    first_gap_line: int | None = None
    first_gap: str = ""
    sha256: str = ""


def read_jsonl(stream: BinaryIO) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, envelope) for each line; a line must be canonical JSON."""
    for number, line in enumerate(stream, start=1):
        raw = line.removesuffix(b"\n")
        try:
            envelope = json.loads(raw)
        except (ValueError, RecursionError):
            raise Broken(number, "not a JSON line (or nested too deeply)") from None
        if not isinstance(envelope, dict):
            raise Broken(number, "not a JSON object")
        try:
            canonical_line = canonical(envelope)
        except ValueError as exc:  # a value canonical JSON cannot hold exactly
            raise Broken(number, str(exc)) from None
        except RecursionError:
            raise Broken(number, "nested too deeply") from None
        if canonical_line != raw:
            raise Broken(number, "not in canonical JSON form (edited?)")
        yield number, envelope


# A payload cell holds a whole event; the csv module's default limit (128 KiB) is below
# what the API accepts in one.
CSV_FIELD_LIMIT = 1 << 30


def read_csv(stream: BinaryIO) -> Iterator[tuple[int, dict[str, Any]]]:
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""))
    try:
        yield from _csv_envelopes(reader)
    except csv.Error as exc:
        raise Broken(reader.line_num, f"not a CSV row: {exc}") from None


def _csv_envelopes(reader: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    header = next(reader, None)
    if header is None or tuple(header) != CSV_COLUMNS:
        raise Broken(1, f"the header is not {','.join(CSV_COLUMNS)}")
    for number, row in enumerate(reader, start=2):
        if len(row) != len(CSV_COLUMNS):
            raise Broken(number, f"{len(row)} columns instead of {len(CSV_COLUMNS)}")
        envelope: dict[str, Any] = dict(zip(CSV_COLUMNS, row, strict=True))
        try:
            for column in INTEGER_COLUMNS:
                text = envelope[column]
                if not CANONICAL_INTEGER.fullmatch(text):
                    raise ValueError(f"{column} {text!r} is not a plain integer")
                envelope[column] = int(text)
            for column in JSON_COLUMNS:
                text = envelope[column]
                envelope[column] = json.loads(text)
                if canonical(envelope[column]).decode() != text:
                    raise ValueError(f"{column} is not canonical JSON")
        except ValueError as exc:
            raise Broken(number, str(exc)) from None
        except RecursionError:
            raise Broken(number, "nested too deeply") from None
        yield number, envelope


class ChainChecker:
    """Checks envelopes one at a time, in file order; raises `Broken` at the first bad one."""

    def __init__(self) -> None:
        self.summary = Summary()

    def check(self, number: int, envelope: dict[str, Any]) -> None:
        summary = self.summary
        missing = [c for c in CSV_COLUMNS if c not in envelope]
        if missing or len(envelope) != len(CSV_COLUMNS):
            raise Broken(number, f"not an envelope (missing {missing or 'nothing'})")
        _check_fields(number, envelope)
        position = envelope["position"]
        try:
            computed = event_hash(envelope)
        except ValueError as exc:  # a value canonical JSON cannot hold exactly
            raise Broken(number, f"position {position}: {exc}") from None
        except RecursionError:
            raise Broken(number, f"position {position}: nested too deeply") from None
        if computed != envelope["hash"]:
            raise Broken(number, f"position {position}: hash does not match its content")
        # The ledger records in position order, never back in time: a known_at timestamp is
        # one prefix of the ledger, and a period export one run of positions.
        if envelope["recorded_at"] < summary.last_recorded_at:
            raise Broken(number, f"position {position}: recorded_at goes back in time")
        if summary.last_position is not None:
            if position <= summary.last_position:
                raise Broken(number, f"position {position} after {summary.last_position}")
            if position == summary.last_position + 1:
                if envelope["prev_hash"] != summary.last_hash:
                    raise Broken(number, f"position {position}: prev_hash breaks the chain")
            else:
                summary.gaps += 1
                if summary.first_gap_line is None:
                    summary.first_gap_line = number
                    summary.first_gap = f"position {position} follows {summary.last_position}"
        stream, version = envelope["stream_id"], envelope["stream_version"]
        known = summary.stream_versions.get(stream)
        if known is not None and version != known + 1:
            raise Broken(number, f"stream {stream} jumps from version {known} to {version}")
        summary.stream_versions[stream] = version
        summary.count += 1
        summary.first_position = summary.first_position or position
        summary.last_position, summary.last_hash = position, envelope["hash"]
        summary.last_recorded_at = envelope["recorded_at"]


def _check_fields(number: int, envelope: dict[str, Any]) -> None:
    """Every field holds a value of its kind, in the one form the ledger writes it.

    The hash covers the text, not the value: a re-chained line with `true` for a version,
    an upper-case event id or a timestamp spelled another way would verify, and a database
    would store a value it reads back otherwise, failing the chain from then on.
    """
    for column in INTEGER_COLUMNS:
        value = envelope[column]
        if type(value) is not int or not 1 <= value <= MAX_SAFE_INTEGER:  # bool: not here
            raise Broken(number, f"{column} is not a positive integer")
    position = envelope["position"]
    if not isinstance(envelope["event_id"], str) or not EVENT_ID.fullmatch(envelope["event_id"]):
        raise Broken(number, f"position {position}: event_id is not a UUID in lower-case text")
    for column in ("stream_id", "type"):
        if not isinstance(envelope[column], str) or not envelope[column]:
            raise Broken(number, f"position {position}: {column} is not a name")
    for column in JSON_COLUMNS:
        if not isinstance(envelope[column], dict):
            raise Broken(number, f"position {position}: {column} is not a JSON object")
    if not all(isinstance(v, str) for v in envelope["metadata"].values()):
        raise Broken(number, f"position {position}: metadata holds a value that is not text")
    for column in HASHES:
        if not isinstance(envelope[column], str) or not HASH.fullmatch(envelope[column]):
            raise Broken(number, f"position {position}: {column} is not a SHA-256 in hex")
    for column in TIMESTAMPS:
        text = envelope[column]
        if not isinstance(text, str) or not CANONICAL_TIMESTAMP.fullmatch(text):
            raise Broken(number, f"position {position}: {column} is not a canonical timestamp")
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise Broken(number, f"position {position}: {column} is not a real instant") from None
        if text >= END_OF_TIME:
            raise Broken(number, f"position {position}: {column} is at or past the end of time")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(path: Path, fmt: str) -> Summary:
    """Check every event of an export file, streaming it (memory stays flat)."""
    checker = ChainChecker()
    with path.open("rb") as stream:
        for number, envelope in (read_csv if fmt == "csv" else read_jsonl)(stream):
            checker.check(number, envelope)
    checker.summary.sha256 = file_sha256(path)
    return checker.summary


def manifest_body(manifest: dict[str, Any]) -> bytes:
    """The bytes a manifest's signature covers: its canonical JSON without the signature."""
    return canonical({k: v for k, v in manifest.items() if k != "signature"})


def _raw_key(pem: bytes) -> bytes | None:
    """The key itself, whatever the PEM's line endings and trailing whitespace."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
    )

    try:
        key = load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, Ed25519PublicKey):
        return None
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def check_manifest(manifest: dict[str, Any], summary: Summary, public_key_pem: bytes) -> None:
    """The manifest is signed by the trusted key and describes this file.

    The key must come from the auditor, never from the manifest: a forger who re-chains an
    edited file can sign a manifest with a key of their own and name it there.
    """
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(public_key_pem)
    except (ValueError, UnsupportedAlgorithm):
        raise Broken(0, "the public key is not a PEM Ed25519 key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise Broken(0, "the public key is not an Ed25519 key")
    named = str(manifest.get("public_key", "")).encode("utf-8", "replace")
    if _raw_key(named) != _raw_key(public_key_pem):
        raise Broken(0, "the manifest names another signing key")
    signature = manifest.get("signature", "")
    try:
        if not isinstance(signature, str):
            raise ValueError("not text")
        key.verify(base64.b64decode(signature, validate=True), manifest_body(manifest))
    except (InvalidSignature, ValueError, RecursionError):
        raise Broken(0, "the manifest's signature is not valid for this key") from None
    expected = {
        "sha256": summary.sha256,
        "count": summary.count,
        "first_position": summary.first_position,
        "last_position": summary.last_position,
        "stream_versions": summary.stream_versions,
    }
    for name, value in expected.items():
        if manifest.get(name) != value:
            raise Broken(
                0, f"the file's {name} is not the manifest's ({value!r} vs {manifest.get(name)!r})"
            )
    filters = manifest.get("filters")
    if not (isinstance(filters, dict) and filters.get("tenant")) and summary.gaps:
        raise Broken(summary.first_gap_line or 0, "a position is missing from an unfiltered export")


MANIFEST_NEEDS_KEY = (
    "--manifest needs --public-key: a signature proves nothing against the key the manifest"
    " names itself (get the service's key from GET /api/v1/audit/public-key)"
)


def check_gaps(summary: Summary, filtered_by_tenant: bool) -> None:
    """Without a manifest, only the auditor can say that gaps are expected: an export
    filtered by tenant skips other tenants' events, and a deleted line looks the same."""
    if summary.gaps and not filtered_by_tenant:
        raise Broken(
            summary.first_gap_line or 0,
            f"{summary.first_gap}: positions are missing (an export filtered by tenant skips"
            " other tenants' events: say so with --filtered-by-tenant, or give its manifest)",
        )


def verify(
    path: Path,
    manifest_path: Path | None,
    public_key_path: Path | None,
    *,
    filtered_by_tenant: bool = False,
) -> str:
    if manifest_path is not None and public_key_path is None:
        raise ValueError(MANIFEST_NEEDS_KEY)
    manifest: dict[str, Any] | None = None
    if manifest_path is not None:
        loaded = json.loads(manifest_path.read_bytes())
        if not isinstance(loaded, dict):  # `null` must not read as "no manifest given"
            raise Broken(0, "the manifest is not a JSON object")
        manifest = loaded
    fmt = str((manifest or {}).get("format") or "")
    if fmt not in ("csv", "jsonl"):
        fmt = "csv" if path.suffix.lower() == ".csv" else "jsonl"
    summary = check_file(path, fmt)
    if manifest is not None:
        assert public_key_path is not None
        check_manifest(manifest, summary, public_key_path.read_bytes())
    else:
        check_gaps(summary, filtered_by_tenant)
    if manifest is not None:
        signed = "signed manifest verified"
    else:
        # Without a signed count and ends, lines cut from either end cannot be seen.
        signed = "no manifest given: consistent in itself, its ends unproven"
        if summary.gaps:
            signed += f"; {summary.gaps} gaps accepted as tenant filtering"
    return (
        f"OK: {summary.count} events, positions {summary.first_position}..{summary.last_position},"
        f" {len(summary.stream_versions)} streams, sha256 {summary.sha256}; {signed}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ledger.verify", description=__doc__.split("\n")[0]
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--manifest", type=Path)
    parser.add_argument("--public-key", type=Path)
    parser.add_argument(
        "--filtered-by-tenant",
        action="store_true",
        help="without a manifest: the export was filtered by tenant, so gaps are expected",
    )
    args = parser.parse_args(argv)
    if args.manifest is not None and args.public_key is None:
        print(f"cannot check the manifest: {MANIFEST_NEEDS_KEY}")
        return 2
    try:
        print(
            verify(
                args.file,
                args.manifest,
                args.public_key,
                filtered_by_tenant=args.filtered_by_tenant,
            )
        )
    except Broken as exc:
        where = f"line {exc.line}" if exc.line else "manifest"
        print(f"FAILED at {where}: {exc.reason}")
        return 1
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:
        print(f"cannot read the export: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
