"""The demo scenario (public news, May 2026), written through the ordinary commands.

SpaceX leases Colossus 1 in Memphis (220,000 GPUs, 300 MW) to Anthropic from 2026-05-06
for 24 months; Anthropic allocates it to workloads, doubles Claude Code's paid-plan
limits, removes peak-hour caps and raises Opus API volumes; a gigawatt-scale orbital
compute option stays an unsigned draft; and a backdated correction of the allocations
makes "as known then" and "as known now" differ from 1 June on.

Every step carries an idempotency key, so loading it twice appends nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from ledger.canonical import canonical_json
from ledger.domain import commands as c
from ledger.domain.events import CapacityLine
from ledger.idempotency import fingerprint
from ledger.service import Accepted, Answer, Context, IdempotencyRequest, Replayed, execute
from ledger.unit_of_work import Ledger

SCOPE = "demo"
LEASE = "ctr_colossus-1-lease"
ORBITAL = "ctr_orbital-compute-option"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def gpus(n: int) -> CapacityLine:
    return CapacityLine(resource="gpu.h100", quantity=Decimal(n), unit="gpu")


def megawatts(n: int) -> CapacityLine:
    return CapacityLine(resource="power.mw", quantity=Decimal(n), unit="MW")


def limit(
    plan: str, name: str, operation: str, when: str, reason: str, **kw: object
) -> c.ChangeLimit:
    return c.ChangeLimit.model_validate(
        {
            "tenant": "anthropic",
            "plan": plan,
            "limit": name,
            "operation": operation,
            "effective_at": at(when),
            "reason": reason,
            **kw,
        }
    )


SCENARIO: list[tuple[str, c.Command]] = [
    ("party-spacex", c.RegisterParty(party_id="spacex", name="SpaceX", roles=("provider",))),
    ("party-anthropic", c.RegisterParty(party_id="anthropic", name="Anthropic", roles=("tenant",))),
    (
        "facility-colossus-1",
        c.RegisterFacility(
            facility_id="colossus-1",
            provider="spacex",
            name="Colossus 1",
            location="Memphis, Tennessee",
            capacity=(gpus(220_000), megawatts(300)),
            effective_at=at("2025-09-01"),
            reason="in service since September 2025",
        ),
    ),
    (
        "facility-orbital",
        c.RegisterFacility(
            facility_id="orbital-1",
            provider="spacex",
            name="Orbital compute constellation (planned)",
            location="Low Earth orbit",
            capacity=(megawatts(1_000),),
            effective_at=at("2028-01-01"),
        ),
    ),
    (
        "draft-lease",
        c.DraftContract(
            contract_id=LEASE,
            provider="spacex",
            tenant="anthropic",
            facility="colossus-1",
            title="Colossus 1 full-facility lease",
            reference="SPX-ANT-2026-001",
            term={"start": at("2026-05-06"), "end": at("2028-05-06")},
            capacity=(gpus(220_000), megawatts(300)),
        ),
    ),
    (
        "sign-lease",
        c.SignContract(
            contract_id=LEASE,
            signed_by=("SpaceX", "Anthropic"),
            effective_at=at("2026-05-06"),
            reason="countersigned on 6 May",
        ),
    ),
    (
        "alloc-claude-code",
        c.AllocateCapacity(
            contract_id=LEASE,
            allocation_id="alc_claude-code",
            workload="claude-code",
            resource="gpu.h100",
            quantity=Decimal(100_000),
            effective_at=at("2026-05-06"),
            reason="launch",
        ),
    ),
    (
        "alloc-api-opus",
        c.AllocateCapacity(
            contract_id=LEASE,
            allocation_id="alc_api-opus",
            workload="api-opus",
            resource="gpu.h100",
            quantity=Decimal(70_000),
            effective_at=at("2026-05-06"),
            reason="launch",
        ),
    ),
    (
        "alloc-training",
        c.AllocateCapacity(
            contract_id=LEASE,
            allocation_id="alc_training",
            workload="training",
            resource="gpu.h100",
            quantity=Decimal(50_000),
            effective_at=at("2026-05-06"),
            reason="launch",
        ),
    ),
    (
        "limit-pro",
        limit(
            "claude-code-pro", "requests-per-5h", "set", "2026-01-01", "plan baseline", value="45"
        ),
    ),
    (
        "limit-max",
        limit(
            "claude-code-max", "requests-per-5h", "set", "2026-01-01", "plan baseline", value="225"
        ),
    ),
    (
        "limit-peak",
        limit(
            "claude-code-max", "peak-hour-cap", "set", "2026-01-01", "plan baseline", value="100"
        ),
    ),
    (
        "limit-opus",
        limit(
            "api-opus", "requests-per-minute", "set", "2026-01-01", "plan baseline", value="4000"
        ),
    ),
    (
        "double-pro",
        limit(
            "claude-code-pro",
            "requests-per-5h",
            "scale",
            "2026-05-13",
            "Colossus 1 capacity: double paid-plan limits",
            factor="2",
        ),
    ),
    (
        "double-max",
        limit(
            "claude-code-max",
            "requests-per-5h",
            "scale",
            "2026-05-13",
            "Colossus 1 capacity: double paid-plan limits",
            factor="2",
        ),
    ),
    (
        "remove-peak",
        limit("claude-code-max", "peak-hour-cap", "remove", "2026-05-13", "peak-hour caps removed"),
    ),
    (
        "raise-opus",
        limit(
            "api-opus",
            "requests-per-minute",
            "set",
            "2026-05-20",
            "raise Opus API request volumes",
            value="10000",
        ),
    ),
    (
        "draft-orbital",
        c.DraftContract(
            contract_id=ORBITAL,
            provider="spacex",
            tenant="anthropic",
            facility="orbital-1",
            title="Gigawatt-scale orbital compute option (exploratory)",
            term={"start": at("2028-01-01"), "end": at("2031-01-01")},
            capacity=(megawatts(1_000),),
        ),
    ),
    # The backdated correction: from 1 June api-opus actually ran on 60,000 GPUs, not 70,000.
    (
        "correct-api-opus",
        c.ResizeAllocation(
            contract_id=LEASE,
            allocation_id="alc_api-opus",
            quantity=Decimal(60_000),
            effective_at=at("2026-06-01"),
            reason="correction: the api-opus ramp was 60k from 1 June",
        ),
    ),
]


def _answer(_conn: object, accepted: Accepted) -> Answer:
    """What a step keeps with its key: its result and position (a rerun only asks
    whether the step was done)."""
    return Answer(0, canonical_json({**accepted.result, "position": accepted.position}))


def load_demo(
    ledger: Ledger, actor: str = "demo", on_step: Callable[[str, bool], None] | None = None
) -> int:
    """Run the scenario; returns how many steps appended events (0 on a second run)."""
    appended = 0
    for key, command in SCENARIO:
        request = IdempotencyRequest(
            SCOPE,
            key,
            fingerprint({"command": type(command).__name__, **command.model_dump(mode="json")}),
        )
        ctx = Context(actor=actor, source="cli", idempotency=request)
        outcome = execute(ledger, command, ctx, render=_answer)
        fresh = not isinstance(outcome, Replayed)
        appended += fresh
        if on_step is not None:
            on_step(key, fresh)
    return appended
