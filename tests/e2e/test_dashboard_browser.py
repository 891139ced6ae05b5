"""The dashboard in a real browser (Debian's Chromium, headless, driven by Playwright).

Sign in with a supervisor's token, watch the board, report an encounter, see its case
appear live (server-sent events), open its page. Screenshots are kept under
``tests/artifacts/``. Intake and status run on the real broker and FerretDB.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from services.intake.app import bootstrap as intake_service
from services.intake.domain import case_id_for
from services.status.access import Role, Tokens, new_token
from services.status.app import bootstrap as status_service
from tests.support import events
from tests.support import status as ev
from tests.support.kafka import Bus
from tests.support.procs import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (make setup does it)")
    return CHROMIUM


async def test_a_reported_encounter_appears_live_on_the_board_and_opens(settings, bus: Bus, chromium, tmp_path) -> None:
    token, supervisor = new_token("sup-tx", Role.SUPERVISOR, ["TX-DPS"])
    port = free_port()
    intake = intake_service(settings)
    status = status_service(settings, tokens=Tokens([supervisor]), dashboard_port=port)
    ARTIFACTS.mkdir(exist_ok=True)
    encounter = events.encounter("ENC-BROWSER-1", urgent_needs=["medical"])
    case_id = case_id_for(encounter["data"]["agency"]["id"], encounter["data"]["encounter_id"])
    async with intake.app, status.app, async_playwright() as pw:
        await ev.ready(port)
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900})
        try:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            assert page.url.endswith("/login")
            await page.fill("#token", token)
            await page.click("button[type=submit]")
            await page.wait_for_selector('[data-column="referral"]')
            await page.wait_for_selector("#live.on")  # the event stream is open before the case exists
            assert await page.locator(f'[data-case-id="{case_id}"]').count() == 0

            await bus.publish("encounters.reported", encounter)
            card = page.locator(f'.board [data-case-id="{case_id}"]')
            await card.wait_for(timeout=30_000)
            assert "ENC-BROWSER-1" in await card.inner_text() and "urgent" in await card.inner_text()
            assert await page.locator('[data-total="referral"]').inner_text() == "1"
            await page.screenshot(path=str(ARTIFACTS / "dashboard-board.png"), full_page=True)

            await card.locator("a.case-link").click()
            await page.wait_for_selector(".timeline li")
            assert page.url.endswith(f"/cases/{case_id}")
            text = await page.inner_text("main")
            assert "Case opened for agency TX-DPS" in text and "urgent needs open: medical" in text
            await page.screenshot(path=str(ARTIFACTS / "dashboard-case.png"), full_page=True)
            html = await page.content()
            await page.click("text=Aggregates")
            await page.wait_for_selector("figure.chart svg")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-aggregates.png"), full_page=True)
            html += await page.content()
            assert not [c for c in events.CANARIES if c in html]
        finally:
            await browser.close()
    assert (ARTIFACTS / "dashboard-board.png").stat().st_size > 10_000
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
