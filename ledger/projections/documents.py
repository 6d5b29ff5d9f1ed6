"""Contract states as JSON documents, so a contract row can be turned back into the domain
object and judged at any as_of with the domain's own rules (no replay)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from ledger.canonical import canonical_json, parse_timestamp
from ledger.domain.capacity import DatedChange
from ledger.domain.contract import Allocation, AllocationChange, Contract
from ledger.domain.events import CapacityLine


def _ts(value: str | None) -> Any:
    return None if value is None else parse_timestamp(value)


def to_document(state: Contract) -> str:
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
            "allocations": [
                {
                    "allocation_id": a.allocation_id,
                    "workload": a.workload,
                    "resource": a.resource,
                    "until": a.until,
                    "released": a.released,
                    "changes": [
                        {
                            "effective_at": c.effective_at,
                            "position": c.position,
                            "quantity": c.quantity,
                            "released": c.released,
                        }
                        for c in a.changes
                    ],
                }
                for a in state.allocations
            ],
            "version": state.version,
            "units": state.units,
        }
    ).decode()


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
