"""The composition root: the ledger with the domain's event types and inline projections."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from ledger.domain import events as _domain_events  # noqa: F401  (registers the event types)
from ledger.domain import registry
from ledger.projections.projector import EntitlementProjection
from ledger.types import utcnow
from ledger.unit_of_work import Ledger


def build_ledger(engine: Engine, clock: Callable[[], datetime] = utcnow) -> Ledger:
    return Ledger(engine, registry, projections=[EntitlementProjection(registry)], clock=clock)
