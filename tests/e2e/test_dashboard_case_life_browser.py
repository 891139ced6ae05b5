"""A case's life on the dashboard, in a real browser (Debian's Chromium, headless, Playwright).

A supervisor sees the closed column, a case whose holder left highlighted, an unassigned
case's re-alerts, a case closing live (server-sent events), the case page with its closure,
reassignments and who was reached, and the time to close in the aggregates. Screenshots are
kept under ``tests/artifacts/``. The status service runs on the real broker and FerretDB.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

from playwright.async_api import async_playwright

from services.status.access import Role, Tokens, new_token
from services.status.app import bootstrap as status_service
from shared.contracts.inbound import ReassignmentReason
from shared.contracts.notifications import NotificationSent
from tests.e2e.test_dashboard_browser import ARTIFACTS, CHROMIUM_ARGS, chromium  # noqa: F401  (a fixture)
from tests.support import events
from tests.support import status as ev
from tests.support.kafka import Bus
from tests.support.procs import free_port
from tests.support.status import T0

M = timedelta(minutes=1)
ORPHAN, CLOSED, WAITING, LIVE = "case-orphan", "case-done", "case-waiting", "case-live"


def at(minutes: int):
    return T0 + minutes * M


def story() -> list[tuple[str, dict]]:
    sup = ev.supervisor("sup-tx")
    sent = NotificationSent.model_validate(dict(
        notification_id="n-closed", kind="case_closed", case_id=CLOSED, reference=CLOSED, recipient_id="sp-2",
        recipient_role="victim_specialist", channel="email", attempts=1, sent_at=at(301)), strict=False)
    payloads = [
        (ev.case_opened(ORPHAN), 0), (ev.assigned(ORPHAN, "o1", "sp-1", at=at(1)), 1),
        (ev.accepted(ORPHAN, "o1", "sp-1", assigned_at=at(1), at=at(2)), 2),
        (ev.needs_holder(ORPHAN, "o1", "sp-1", at=at(60)), 60),
        (ev.case_opened(CLOSED, encounter_id="ENC-DONE"), 0), (ev.assigned(CLOSED, "d1", "sp-1", at=at(1)), 1),
        (ev.accepted(CLOSED, "d1", "sp-1", assigned_at=at(1), at=at(2)), 2),
        (ev.assigned(CLOSED, "d2", "sp-2", at=at(100), attempt=2, reassigned_by=sup,
                     reason=ReassignmentReason.WORKLOAD, handover_from="sp-1"), 100),
        (ev.accepted(CLOSED, "d2", "sp-2", assigned_at=at(100), at=at(110)), 110),
        (ev.closed(CLOSED, at=at(300), by=sup, released="sp-2", referral_id="d2"), 300),
        (sent, 301),
        (ev.case_opened(WAITING), 0), (ev.unassigned(WAITING, at=at(1)), 1),
        (ev.unassigned(WAITING, at=at(31), alert=2), 31), (ev.unassigned(WAITING, at=at(61), alert=3), 61),
        (ev.case_opened(LIVE, encounter_id="ENC-LIVE"), 0), (ev.assigned(LIVE, "l1", "sp-3", at=at(1)), 1),
        (ev.accepted(LIVE, "l1", "sp-3", assigned_at=at(1), at=at(2)), 2),
    ]
    return [(p.TOPIC, ev.cloudevent(p, at=at(minutes))) for p, minutes in payloads]


async def test_a_cases_life_shows_on_the_board_live_and_on_its_page(settings, bus: Bus, chromium,  # noqa: F811
                                                                    tmp_path) -> None:
    token, supervisor = new_token("sup-tx", Role.SUPERVISOR, ["TX-DPS"])
    port = free_port()
    status = status_service(settings, tokens=Tokens([supervisor]), dashboard_port=port)
    ARTIFACTS.mkdir(exist_ok=True)
    async with status.app, async_playwright() as pw:
        await ev.ready(port)
        for topic, event in story():
            await bus.publish(topic, event)
        await bus.events("cases.status", where=lambda e: e["data"]["case_id"] == LIVE and e["data"]["version"] == 3)
        await bus.events("cases.status", where=lambda e: e["data"]["case_id"] == CLOSED and e["data"]["version"] == 6)
        await bus.events("cases.status", where=lambda e: e["data"]["case_id"] == WAITING and e["data"]["version"] == 4)
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000})
        try:
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/login")
            await page.fill("#token", token)
            await page.click("button[type=submit]")
            await page.wait_for_selector('[data-column="closed"]')
            await page.wait_for_selector("#live.on")
            closed_card = page.locator(f'[data-column="closed"] [data-case-id="{CLOSED}"]')
            assert "services completed" in await closed_card.inner_text()
            orphan = page.locator(f'[data-column="engaged"] .card.flag-needs_holder[data-case-id="{ORPHAN}"]')
            assert "needs a new holder" in await orphan.inner_text()
            assert "alert 3" in await page.locator(f'[data-case-id="{WAITING}"]').inner_text()
            assert await page.locator('[data-attention="needs_holder"]').inner_text() == "1"
            assert await page.locator('[data-attention="unassigned_realerts"]').inner_text() == "2"
            assert await page.locator('[data-total="closed"]').inner_text() == "1"

            close = ev.closed(LIVE, at=at(400), by=ev.supervisor("sup-tx"), released="sp-3", referral_id="l1")
            await bus.publish(close.TOPIC, ev.cloudevent(close, at=at(400)))
            await page.locator(f'[data-column="closed"] [data-case-id="{LIVE}"]').wait_for(timeout=30_000)
            assert await page.locator(f'[data-column="engaged"] [data-case-id="{LIVE}"]').count() == 0
            await page.wait_for_function("document.querySelector('[data-total=\"closed\"]').textContent === '2'")
            await page.screenshot(path=str(ARTIFACTS / "dashboard-case-life-board.png"), full_page=True)

            await closed_card.locator("a.case-link").click()
            await page.wait_for_selector(".timeline li")
            text = await page.inner_text("main")
            assert "Closed" in text and "services completed" in text
            assert "sp-1 → sp-2 · workload (by supervisor)" in text
            assert "Case closed by supervisor sup-tx (services_completed)" in text
            assert "Notification case_closed sent to victim_specialist sp-2 by email" in text
            await page.screenshot(path=str(ARTIFACTS / "dashboard-case-life-case.png"), full_page=True)
            html = await page.content()
            await page.click("text=Aggregates")
            await page.wait_for_selector("figure.chart svg")
            p50 = await page.locator('[data-metric="time_to_close-p50"]').inner_text()
            assert p50 == "5 h 00 min"  # the nearest rank of 5 h and 6 h 40
            html += await page.content()
            assert not [c for c in events.CANARIES if c in html]
        finally:
            await browser.close()
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
