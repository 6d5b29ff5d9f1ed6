"""A real headless Chromium (Debian's, driven by Playwright) works the admin like staff do:
log in, draft and sign a contract, allocate, see an over-allocation refused, change a limit,
and check that the contract's history and chart render. A screenshot of the contract page
is kept in var/artifacts/ for people to look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from contracts.runtime import get_ledger
from ledger.demo import load_demo
from ledger.domain import commands as c
from ledger.service import Context, execute
from ledger.unit_of_work import Ledger

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(settings.VAR_DIR) / "artifacts"
REQUIRED = os.environ.get("LEDGER_REQUIRE_BROWSER") == "1"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not REQUIRED,
    reason="needs Debian's chromium (apt-get install chromium); CI installs it",
)


@pytest.fixture
def staff(ledger: Ledger) -> tuple[str, str]:
    """The demo ledger and a superuser, made before the browser starts: Playwright's sync
    API runs its own event loop, and Django refuses (rightly) ORM calls from inside it."""
    load_demo(ledger)
    User.objects.create_superuser("ops", "ops@example.com", "correct horse battery")
    return "ops", "correct horse battery"


@pytest.fixture
def page(live_server: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1600})
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def submit(page: Any, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        page.fill(f"[name={name}]", value)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_staff_work_a_contract_through_the_admin(
    staff: tuple[str, str], live_server: Any, page: Any
) -> None:
    base = live_server.url
    username, password = staff

    page.goto(f"{base}/admin/login/")
    submit(page, {"username": username, "password": password})
    assert "Site administration" in page.content() or "Operations" in page.content()

    page.goto(f"{base}/admin/contracts/contract/add/")
    submit(
        page,
        {
            "contract_id": "ctr_renewal",
            "provider": "spacex",
            "tenant": "anthropic",
            "facility": "colossus-1",
            "title_": "Colossus 1 renewal",
            "term_start": "2028-06-01 00:00",
            "term_end": "2029-06-01 00:00",
            "capacity": "gpu.h100 100000 gpu",
        },
    )
    assert page.url.endswith("/admin/contracts/contract/ctr_renewal/change/")
    assert "Now: draft" in page.content()

    page.click(".ledger-actions >> text=Sign the contract")
    submit(page, {"signed_by": "SpaceX, Anthropic"})
    assert "Now: signed" in page.content()

    page.click(".ledger-actions >> text=Allocate capacity")
    submit(
        page,
        {
            "allocation_id": "alc_next",
            "workload": "training",
            "resource": "gpu.h100",
            "quantity": "60000",
            "effective_at": "2028-06-01 00:00",
            "reason": "scheduled",
        },
    )
    # It begins in 2028: listed as scheduled, not among today's allocations.
    assert "alc_next" in page.inner_text("#scheduled-allocations")
    assert "alc_next" not in page.inner_text("#allocations")

    page.click(".ledger-actions >> text=Allocate capacity")
    submit(
        page,
        {
            "workload": "eval",
            "resource": "gpu.h100",
            "quantity": "40001",
            "effective_at": "2028-06-01 00:00",
            "reason": "too much",
        },
    )
    error = page.inner_text(".errorlist")
    assert "allocation_exceeds_contract" in error
    assert "gpu.h100" in error
    assert "2028-06-01 00:00" in error

    # A form left open while someone else changes the contract writes nothing.
    page.goto(f"{base}/admin/contracts/contract/ctr_renewal/change/")
    page.click(".ledger-actions >> text=Allocate capacity")
    meanwhile = c.ResizeAllocation(
        contract_id="ctr_renewal",
        allocation_id="alc_next",
        quantity=50000,
        effective_at=datetime(2028, 7, 1, tzinfo=UTC),
        reason="meanwhile",
    )
    execute(get_ledger(), meanwhile, Context(actor="someone-else"))
    submit(
        page,
        {
            "workload": "eval",
            "resource": "gpu.h100",
            "quantity": "10",
            "effective_at": "2028-06-01 00:00",
            "reason": "from a stale page",
        },
    )
    assert "The contract changed since you opened it" in page.inner_text(".errorlist")

    page.goto(f"{base}/admin/contracts/limitchange/add/")
    page.fill("[name=tenant]", "anthropic")
    page.fill("[name=plan]", "claude-code-pro")
    page.fill("[name=limit]", "requests-per-5h")
    page.select_option("[name=operation]", "scale")
    submit(page, {"factor": "2", "reason": "more capacity in 2028"})
    assert "Change a limit: done" in page.content()

    page.goto(f"{base}/admin/contracts/contract/ctr_renewal/change/")
    history = page.inner_text("#history")
    for event_type in ("ContractDrafted", "ContractSigned", "CapacityAllocated"):
        assert event_type in history
    chart = page.locator("svg.ledger-chart").first
    assert chart.is_visible()
    assert chart.locator("path.allocated").get_attribute("d")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "contract-page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
