"""Contract states as JSON documents, so a contract row can be turned back into the domain
object and judged at any as_of with the domain's own rules (no replay)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import orjson

from ledger.canonical import canonical_json, format_decimal, format_timestamp, parse_timestamp
from ledger.domain.capacity import DatedChange
from ledger.domain.contract import Allocation, AllocationChange, Contract
from ledger.domain.events import CapacityLine

T = TypeVar("T")


def _ts(value: str | None) -> Any:
    return None if value is None else parse_timestamp(value)


class _FragmentCache:
    """Canonical JSON of recently seen parts of contract states, by object identity.

    A contract event changes at most one allocation (or the amendments), and the new state
    shares every other part with the old one: `Allocation` objects, the amendments tuple.
    Reusing their JSON keeps a document's cost per event at the size of what changed
    instead of the contract's whole history. An entry holds its part, so the identity it is
    keyed by cannot be reused while cached.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.entries: OrderedDict[int, tuple[object, bytes]] = OrderedDict()
        self.lock = threading.Lock()

    def json(self, part: T, render: Callable[[T], bytes]) -> bytes:
        key = id(part)
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None and hit[0] is part:
                self.entries.move_to_end(key)
                return hit[1]
        fragment = render(part)
        with self.lock:
            self.entries[key] = (part, fragment)
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return fragment


_fragments = _FragmentCache(4_096)


_CHANGE = b'{"effective_at":"%s","position":%d,"quantity":"%s","released":%s}'
"""An allocation change in JCS form: its timestamp and decimal text need no escaping."""


def _allocation_json(a: Allocation) -> bytes:
    """Canonical JSON of one allocation: its fields through `canonical_json`, its changes
    (the long part) spliced in from `_CHANGE`; "changes" sorts second, after
    "allocation_id"."""
    rest = canonical_json(
        {
            "allocation_id": a.allocation_id,
            "workload": a.workload,
            "resource": a.resource,
            "until": a.until,
            "released": a.released,
        }
    )
    changes = b",".join(
        _CHANGE
        % (
            format_timestamp(c.effective_at).encode(),
            c.position,
            format_decimal(c.quantity).encode(),
            b"true" if c.released else b"false",
        )
        for c in a.changes
    )
    head, tail = rest.split(b',"released":', 1)
    return head + b',"changes":[' + changes + b'],"released":' + tail


def to_document(state: Contract) -> str:
    """The contract's canonical JSON: "allocations" and "amendments" are the first keys in
    JCS order, so their cached fragments are spliced in front of the rest of the document."""
    rest = canonical_json(
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
            "version": state.version,
            "units": state.units,
        }
    )
    allocations = b",".join(_fragments.json(a, _allocation_json) for a in state.allocations)
    amendments = _fragments.json(state.amendments, _amendments_json)
    return (
        b'{"allocations":[' + allocations + b'],"amendments":' + amendments + b"," + rest[1:]
    ).decode()


def _amendments_json(amendments: tuple[tuple[str, DatedChange], ...]) -> bytes:
    return canonical_json(
        [
            {
                "amendment_id": amendment_id,
                "effective_at": change.effective_at,
                "position": change.position,
                "quantities": dict(change.quantities),
                "term_end": change.term_end,
            }
            for amendment_id, change in amendments
        ]
    )


def from_document(document: str) -> Contract:
    d = orjson.loads(document)
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
        allocations=tuple(
            Allocation(
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
            for a in d["allocations"]
        ),
        version=d["version"],
        units=d["units"],
    )
