"""The per-key token bucket and the SVG charts, without a database."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal

from contracts.api.ratelimit import TokenBuckets
from contracts.charts import steps_svg
from ledger.read import TimelineItem


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert [buckets.take("k", rate=2, burst=3) for _ in range(4)] == [0, 0, 0, 1]
    clock.now += 0.5  # one token back at 2/s
    assert buckets.take("k", rate=2, burst=3) == 0
    assert buckets.take("k", rate=2, burst=3) == 1
    assert buckets.take("other", rate=2, burst=3) == 0  # every key has its own bucket
    assert buckets.take("k", rate=0, burst=0) == 0  # rate 0: no limit


def test_the_retry_after_covers_the_wait_for_one_token() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert buckets.take("k", rate=0.1, burst=1) == 0
    assert buckets.take("k", rate=0.1, burst=1) == 10


def test_a_chart_is_well_formed_svg_with_escaped_text() -> None:
    start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    items = [
        TimelineItem(
            resource="gpu",
            valid_from=start,
            valid_to=datetime(2026, 6, 1, tzinfo=UTC),
            contracted=Decimal(0),
            allocated=Decimal(0),
        ),
        TimelineItem(
            resource="gpu",
            valid_from=datetime(2026, 6, 1, tzinfo=UTC),
            valid_to=None,
            contracted=Decimal(100),
            allocated=Decimal(40),
        ),
    ]
    svg = ET.fromstring(steps_svg("<gpu & co>", items, start, end))
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert svg.find("s:title", ns).text == "<gpu & co>"  # type: ignore[union-attr]
    allocated = svg.find("s:path[@class='allocated']", ns)
    assert allocated is not None
    # Two runs: 0 until June, then 40 of a top of 100, on a 220-high canvas.
    assert allocated.get("d", "").count("L") == 3
