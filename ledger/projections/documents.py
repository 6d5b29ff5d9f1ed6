"""Contract states as JSON documents, so a contract can be turned back into the domain
object and judged at any as_of with the domain's own rules (no replay).

A contract is stored as two kinds of document: the contract's own state (parties, term,
capacity, amendments, lifecycle) and one document per allocation with its changes. An event
rewrites only the document it changes, so its cost does not grow with the contract's
history: one document per contract would make every resize of a contract with thousands
of allocation changes rewrite all of them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from ledger.canonical import canonical_json, format_decimal, format_timestamp, parse_timestamp
from ledger.domain.capacity import DatedChange
from ledger.domain.contract import Allocation, AllocationChange, Contract
from ledger.domain.events import CapacityLine
from ledger.errors import ProjectionsOutdated


def _ts(value: str | None) -> Any:
    return None if value is None else parse_timestamp(value)


def to_document(state: Contract) -> str:
    """The contract's own state, without its allocations (see `allocation_document`)."""
    return canonical_json(
        {
            "contract_id": state.contract_id,
            "provider": state.provider,
            "tenant": state.tenant,
            "facility": state.facility,
            "title": state.title,
            "reference": state.reference,
            "term_start": state.term_start,
            "term_end": state.term_end,
            "capacity": [line.model_dump(mode="json") for line in state.capacity],
            "commercial_terms": state.commercial_terms,
            "lifecycle": state.lifecycle,
            "signed_at": state.signed_at,
            "signed_by": list(state.signed_by),
            "voided_at": state.voided_at,
            "terminated_at": state.terminated_at,
            "amendments": [
                {
                    "amendment_id": amendment_id,
                    "effective_at": change.effective_at,
                    "position": change.position,
                    "quantities": dict(change.quantities),
                    "term_end": change.term_end,
                }
                for amendment_id, change in state.amendments
            ],
            "version": state.version,
            "units": state.units,
        }
    ).decode()


_CHANGE = b'{"effective_at":"%s","position":%d,"quantity":"%s","released":%s}'
"""An allocation change in JCS form: its timestamp and decimal text need no escaping."""


# Every version of an allocation repeats the changes of the one before it, and a rebuild
# renders every version: each change and each allocation's fixed fields are rendered once.
@functools.lru_cache(maxsize=1 << 18)
def _change_json(change: AllocationChange) -> bytes:
    return _CHANGE % (
        format_timestamp(change.effective_at).encode(),
        change.position,
        format_decimal(change.quantity).encode(),
        b"true" if change.released else b"false",
    )


@functools.lru_cache(maxsize=1 << 14)
def _allocation_fields(
    allocation_id: str, workload: str, resource: str, until: datetime | None, released: bool
) -> tuple[bytes, bytes]:
    """The document around its changes: "changes" sorts second, after "allocation_id"."""
    rest = canonical_json(
        {
            "allocation_id": allocation_id,
            "workload": workload,
            "resource": resource,
            "until": until,
            "released": released,
        }
    )
    head, tail = rest.split(b',"released":', 1)
    return head + b',"changes":[', b'],"released":' + tail


def allocation_document(a: Allocation) -> str:
    """Canonical JSON of one allocation: its fields through `canonical_json`, its changes
    (the long part) spliced in from `_CHANGE`."""
    head, tail = _allocation_fields(a.allocation_id, a.workload, a.resource, a.until, a.released)
    return (head + b",".join(map(_change_json, a.changes)) + tail).decode()


def _allocation(document: str) -> Allocation:
    a = orjson.loads(document)
    return Allocation(
        allocation_id=a["allocation_id"],
        workload=a["workload"],
        resource=a["resource"],
        until=_ts(a["until"]),
        released=a["released"],
        changes=tuple(
            AllocationChange(
                parse_timestamp(c["effective_at"]),
                c["position"],
                Decimal(c["quantity"]),
                c["released"],
            )
            for c in a["changes"]
        ),
    )


def from_document(document: str, allocations: Iterable[tuple[int, str]] = ()) -> Contract:
    """The contract from its own document and its allocations' (version, document) rows.

    Allocations come back in the order they were made (their first change's position), and
    the contract's version is the latest of all the rows': each event wrote one of them.
    """
    d = orjson.loads(document)
    if "allocations" in d:  # written before allocations had rows of their own
        raise ProjectionsOutdated(
            "contract projections predate allocation rows: run `manage.py migrate`"
        )
    versions = [d["version"]]
    parsed = []
    for version, allocation in allocations:
        versions.append(version)
        parsed.append(_allocation(allocation))
    parsed.sort(key=lambda a: a.changes[0].position)
    return Contract(
        contract_id=d["contract_id"],
        provider=d["provider"],
        tenant=d["tenant"],
        facility=d["facility"],
        title=d["title"],
        reference=d["reference"],
        term_start=parse_timestamp(d["term_start"]),
        term_end=parse_timestamp(d["term_end"]),
        capacity=tuple(CapacityLine.model_validate(line) for line in d["capacity"]),
        commercial_terms=d["commercial_terms"],
        lifecycle=d["lifecycle"],
        signed_at=_ts(d["signed_at"]),
        signed_by=tuple(d["signed_by"]),
        voided_at=_ts(d["voided_at"]),
        terminated_at=_ts(d["terminated_at"]),
        amendments=tuple(
            (
                a["amendment_id"],
                DatedChange(
                    parse_timestamp(a["effective_at"]),
                    a["position"],
                    {k: Decimal(v) for k, v in a["quantities"].items()},
                    _ts(a["term_end"]),
                ),
            )
            for a in d["amendments"]
        ),
        allocations=tuple(parsed),
        version=max(versions),
        units=d["units"],
    )
