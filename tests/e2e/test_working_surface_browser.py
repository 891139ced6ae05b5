"""A specialist works a case in the dashboard, in a real browser (Debian's Chromium, headless).

Every service runs as its own process on the real broker and FerretDB. The specialist on
duty signs in; an agency reports an encounter; the referral arrives on their board live;
on the case page they accept it, record the needs assessment and the urgent need met, see
the person's identity (the one audited path that shows it) and close the case. A second
specialist sees none of it: nothing on their board, 403 on the page and on every route.
The canary identity is in the holder's page and nowhere else: not on any topic but the
agency's own report, not in any log, mail or webhook, not on the second specialist's pages.
The shelter and the holder also have webhooks (a small HTTP receiver of the test's): the
shelter's notice comes signed with its own secret, with the request and its disclosure link.
Screenshots are kept under ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

from services.status.access import Principal, Role, new_token
from shared.topics import CATALOGUE
from shared.webhooks import SIGNATURE_HEADER, new_signing_key, recipient_secret, verify
from tests.e2e.test_dashboard_browser import ARTIFACTS, CHROMIUM_ARGS, chromium  # noqa: F401  (a fixture)
from tests.support import events
from tests.support.kafka import Bus, eventually
from tests.support.receivers import HttpReceiver, Request
from tests.support.system import e2e_settings, running

HOLDER, OTHER = "vs-tx-1", "vs-tx-2"
SHELTER = "pr-tx-shelter"
CREDENTIAL = "cwv_e2e-credential-of-the-dashboard"
WEBHOOK_KEY = new_signing_key()  # notify's signing key: each receiver's secret derives from it


def people(hooks: str) -> dict[str, Any]:
    """One specialist on duty in Texas (every referral goes to them, by mail and webhook), one
    off duty, a supervisor."""
    def person(sid: str, role: str, on_duty: bool = True, **extra: str) -> dict[str, Any]:
        return {"specialist_id": sid, "agency_id": "TX-DPS", "name": f"Test {sid}", "email": f"{sid}@example.org",
                "languages": ["en", "es"], "regions": ["US-TX"], "role": role, "on_duty": on_duty,
                "max_active_cases": 10 if role == "victim_specialist" else 0} | extra
    return {"specialists": [person(HOLDER, "victim_specialist", webhook_url=f"{hooks}/{HOLDER}"),
                            person(OTHER, "victim_specialist", on_duty=False), person("sup-tx", "supervisor")]}


def providers(hooks: str) -> dict[str, Any]:
    """The shelter the holder asks (by mail and webhook), and one not accepting."""
    return {"providers": [
        {"provider_id": SHELTER, "name": "Harbor House", "kinds": ["shelter", "food"], "regions": ["US-TX"],
         "languages": ["en", "es"], "email": "intake@harbor-house.example.org", "webhook_url": f"{hooks}/{SHELTER}"},
        {"provider_id": "pr-tx-shelter-full", "name": "Full House", "kinds": ["shelter"], "regions": ["US-TX"],
         "languages": ["en"], "email": "intake@full-house.example.org", "accepting": False}]}


def leaks(text: str) -> list[str]:
    return [c for c in events.CANARIES if c in text]


async def sign_in(browser: Browser, base: str, token: str) -> Page:
    page = await browser.new_page()
    await page.goto(f"{base}/login")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_selector('[data-column="referral"]')
    await page.wait_for_selector("#live.on")
    return page


async def settled(page: Page, quiet: float = 1.0) -> None:
    """Until the page has not reloaded for ``quiet`` seconds (it reloads as the case changes)."""
    while True:
        loaded = await page.evaluate("performance.timeOrigin")
        await asyncio.sleep(quiet)
        if await page.evaluate("performance.timeOrigin") == loaded:
            return


async def submit(page: Page, route: str, expected: str, fill: Callable[[], Awaitable[None]]) -> None:
    """Fill and send one of the case page's forms, as a person would, until its own request
    (to ``route``, its body naming ``expected``) was answered 202: a live reload between
    filling and sending loses what was filled, and the person does it again."""
    for _attempt in range(5):
        await settled(page)
        try:
            async with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith(route),
                                            timeout=10_000) as sent:
                await fill()
            response = await sent.value
        except PlaywrightError:
            continue
        if response.status == 202 and expected in (response.request.post_data or ""):
            return
    raise AssertionError(f"{route} was not sent with {expected!r}")


async def record_milestone(page: Page, kind: str, *, check: str | None = None, need: str | None = None) -> None:
    async def fill() -> None:
        form = page.locator("#milestone-form")
        await form.locator("select[name=kind]").select_option(kind)
        if check:
            await form.locator(f'input[name="urgent_needs"][value="{check}"]').check()
        if need:
            await form.locator("select[name=need]").select_option(need)
        await form.locator("button[type=submit]").click()
    await submit(page, "/milestones", kind, fill)


async def facts(page: Page, expected: str, absent: str = "\0", timeout: float = 30_000) -> str:
    """The case page's facts once they say ``expected`` and not ``absent`` (the page reloads
    as the case changes)."""
    await page.wait_for_function(
        "([yes, no]) => { const t = document.querySelector('dl.facts')?.innerText || '';"
        " return t.includes(yes) && !t.includes(no); }", arg=[expected, absent], timeout=timeout)
    return await page.inner_text("dl.facts")


async def test_a_specialist_accepts_works_sees_the_person_and_closes_and_nobody_else_can(
        chromium, tmp_path: Path) -> None:  # noqa: F811
    holder_token, holder = new_token("holder", Role.SPECIALIST, [], HOLDER)
    other_token, other = new_token("other", Role.SPECIALIST, [], OTHER)
    principals = json.dumps([p.model_dump(mode="json") for p in (holder, other)])
    settings = e2e_settings(tmp_path).amended(
        status={"dashboard_tokens": principals}, intake={"vault_reader_token": CREDENTIAL},
        referral={"ack_sla_seconds_urgent": 600, "ack_sla_seconds_high": 600, "ack_sla_seconds_normal": 600},
        notify={"webhook_signing_key": WEBHOOK_KEY})
    ARTIFACTS.mkdir(exist_ok=True)
    encounter = events.encounter("ENC-WORKED-1", urgent_needs=["medical"])
    hooks = HttpReceiver()  # development: notify may post to loopback (services/notify/targets.py)
    await hooks.start()
    async with running(settings, tmp_path, people(hooks.url)) as system:
        system.load_registrations("providers", tmp_path / "providers.yaml", providers(hooks.url))
        bus = Bus(settings)
        await bus.start()
        base = system.dashboard
        try:
            async with async_playwright() as pw:
                holder_browser = await pw.chromium.launch(executable_path=str(chromium), headless=True,
                                                          args=CHROMIUM_ARGS)
                other_browser = await pw.chromium.launch(executable_path=str(chromium), headless=True,
                                                         args=CHROMIUM_ARGS)
                try:
                    provider = await other_browser.new_context()  # no session: a provider outside casework
                    case_id, identity, other_html = await work_the_case(
                        bus, base, encounter, await sign_in(holder_browser, base, holder_token),
                        await sign_in(other_browser, base, other_token), other_token,
                        Provider(await provider.new_page(), lambda: provider_link(system.mails())))
                finally:
                    await holder_browser.close()
                    await other_browser.close()
            assert events.CANARY_GIVEN in identity and events.CANARY_PHONE in identity
            assert not leaks(other_html)
            await after_closing(base, case_id, holder_token, holder)
            mails = "".join(m.as_string() for m in system.mails())
            assert "Referral assigned" in mails and not leaks(mails)  # the specialist's mail names no one
            await the_shelter_was_posted_its_notice(hooks, bus, case_id, provider_link(system.mails()))
            await nothing_leaked(bus, system.log_text(), case_id, hooks.requests)
        finally:
            await bus.stop()
            await hooks.stop()
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


class Provider:
    """The shelter's staff following the disclosure link of their notice, in a browser of their own."""

    def __init__(self, page: Page, link: Callable[[], str | None]) -> None:
        self.page, self.link = page, link

    async def open(self) -> str:
        """Open the link and ask for what is shared; the page's answer (its data-status)."""
        link = await eventually(self.link, timeout=60)
        await self.page.goto("about:blank")  # the same link again is a new page, not a jump within it
        await self.page.goto(link)
        await self.page.click("#show-disclosure")
        await self.page.wait_for_selector("section.disclosure[data-status]")
        return str(await self.page.get_attribute("section.disclosure", "data-status"))


def provider_link(mails: list[Any]) -> str | None:
    """The disclosure link in the shelter's service request notice, once it is there."""
    for mail in mails:
        if str(mail["To"]) == "intake@harbor-house.example.org" and "Service requested" in str(mail["Subject"]):
            text = mail.get_body(("plain",)).get_content()
            found = re.search(r"(http://\S+/disclosures/\S+#cwd_\S+)", text)
            return found.group(1) if found else None
    return None


async def work_the_case(bus: Bus, base: str, encounter: dict[str, Any], page: Page, other: Page,
                        other_token: str, provider: Provider) -> tuple[str, str, str]:
    """The holder's way through the case, the second specialist refused at each step; returns
    the case id, the identity the holder was shown, and every page the second one saw."""
    await bus.publish("encounters.reported", encounter)
    card = page.locator(".board .card", has_text="ENC-WORKED-1")
    await card.wait_for(timeout=60_000)  # the referral arrives live
    case_id = str(await card.get_attribute("data-case-id"))
    await page.screenshot(path=str(ARTIFACTS / "working-board.png"), full_page=True)
    await card.locator("a.case-link").click()
    await page.wait_for_selector("#accept-form")
    assert await page.locator("#show-person").count() == 0  # offered, not accepted: no identity yet

    other_html = await other.content()
    assert await other.locator(f'[data-case-id="{case_id}"]').count() == 0
    await refused_everywhere(base, case_id, other, other_token)

    await submit(page, "/referral/accept", "", lambda: page.click("#accept-form button[type=submit]"))
    await facts(page, "accepted")
    await page.wait_for_selector("#milestone-form")
    await record_milestone(page, "needs_assessed", check="medical")
    await facts(page, "urgent needs open: medical")
    await record_milestone(page, "urgent_need_met", need="medical")
    text = await facts(page, "assessed", absent="urgent needs open")
    assert "not assessed" not in text

    # A shelter from the directory (picked by need and region), the identity shared where consented.
    async def request_shelter() -> None:
        form = page.locator("#service-form")
        await form.locator("select[name=need]").select_option("shelter")
        await page.wait_for_function("() => document.querySelector('#service-form select[name=provider_id]')"
                                     ".value === 'pr-tx-shelter'")
        await form.locator('input[name="share"][value="identity"]').check()
        await form.locator("button[type=submit]").click()
    await submit(page, "/services", "pr-tx-shelter", request_shelter)
    row = page.locator("table.service-lines tr.service-requested", has_text="Harbor House")
    await row.wait_for(timeout=30_000)
    await page.screenshot(path=str(ARTIFACTS / "working-case-service.png"), full_page=True)
    # Without a consent, the provider's link shows nothing (and says why, naming no one).
    assert await provider.open() == "403" and not leaks(await provider.page.content())
    statuses = await bus.events("cases.status", where=lambda e: e["subject"] == case_id and e["data"]["services"])
    status = statuses[-1]
    assert [s["need"] for s in status["data"]["services"]] == ["shelter"]
    assert "pr-tx-shelter" not in json.dumps(status)  # the shelter is never named on the status stream

    # The person's written consent to let the shelter see who they are; then revoked.
    async def record_consent() -> None:
        consent = page.locator("#consent-form")
        await consent.locator("input[name=recipient_id]").fill("pr-tx-shelter")
        await consent.locator('input[name="scope"][value="identity"]').check()
        until = (datetime.now(UTC) + timedelta(days=60)).date().isoformat()
        await consent.locator("input[name=expires_on]").fill(until)
        await consent.locator("button[type=submit]").click()
    await submit(page, "/consents", "pr-tx-shelter", record_consent)
    line = page.locator("table.consent-lines tr", has_text="in force")
    await line.wait_for(timeout=30_000)
    # Under the written consent, the same link shows the shelter who the person is (audited).
    assert await eventually(lambda: _shown(provider), timeout=30)
    shown = await provider.page.inner_text("#disclosed")
    assert events.CANARY_GIVEN in shown and events.CANARY_PHONE not in shown  # identity consented, not contact
    await provider.page.screenshot(path=str(ARTIFACTS / "provider-disclosure.png"), full_page=True)
    await submit(page, "/revoke", "", lambda: page.locator("table.consent-lines tr", has_text="in force")
                 .locator("button[type=submit]").click())
    await page.locator("table.consent-lines tr", has_text="revoked").wait_for(timeout=30_000)
    assert await eventually(lambda: _closed(provider), timeout=30)  # revoked: the same link is closed
    assert not leaks(await provider.page.content())
    await provider.page.screenshot(path=str(ARTIFACTS / "provider-disclosure-closed.png"), full_page=True)

    await refused_everywhere(base, case_id, other, other_token)  # accepted by another: still nothing
    other_html += await other.content()

    await settled(page)
    await page.click("#show-person")
    await page.wait_for_selector("#person:not([hidden]) dd")
    identity = await page.inner_text("#person")
    assert "{" not in identity and "person · contact · phone" in identity  # each fact its own line
    await page.screenshot(path=str(ARTIFACTS / "working-case-identity.png"), full_page=True)

    async def close() -> None:
        await page.locator("#close-form select[name=reason]").select_option("services_completed")
        await page.click("#close-form button[type=submit]")
    await submit(page, "/close", "services_completed", close)
    await facts(page, "services completed")
    assert await page.locator("#show-person").count() == 0 and not leaks(await page.content())
    await page.screenshot(path=str(ARTIFACTS / "working-case-closed.png"), full_page=True)
    await other.goto(f"{base}/")
    await other.wait_for_selector('[data-column="referral"]')
    assert await other.locator(f'[data-case-id="{case_id}"]').count() == 0
    other_html += await other.content()
    return case_id, identity, other_html


async def _shown(provider: Provider) -> bool:
    return await provider.open() == "200"


async def _closed(provider: Provider) -> bool:
    return await provider.open() == "410"


ROUTES = [("POST", "referral/accept", {}), ("POST", "referral/decline", {"reason": "at_capacity"}),
          ("POST", "milestones", {"milestone": {"kind": "rights_explained"}}),
          ("POST", "close", {"reason": "services_completed"}), ("POST", "reopen", {"reason": "re_engaged"}),
          ("POST", "reassign", {"reason": "workload"}), ("GET", "person", None),
                  ("POST", "services", {"provider_id": "pr-tx-safe-harbor", "need": "shelter"})]


async def refused_everywhere(base: str, case_id: str, other: Page, token: str) -> None:
    """The second specialist: 403 on the case page in their browser and on every route, with
    their token and with their browser's session."""
    page = await other.goto(f"{base}/cases/{case_id}")
    assert page is not None and page.status == 403
    assert not leaks(await other.content())
    await other.goto(f"{base}/")
    await other.wait_for_selector('[data-column="referral"]')
    csrf = await other.locator('meta[name="csrf-token"]').get_attribute("content")
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        for method, route, body in ROUTES:
            answer = await client.request(method, f"/api/cases/{case_id}/{route}", json=body,
                                          headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 403, (route, answer.text)
            assert not leaks(answer.text)
    for method, route, body in ROUTES:
        answer = await other.request.fetch(f"{base}/api/cases/{case_id}/{route}", method=method,
                                           data=body, headers={"X-CSRF-Token": csrf or ""})
        assert answer.status == 403, (route, await answer.text())


async def after_closing(base: str, case_id: str, token: str, holder: Principal) -> None:
    """Once the case is closed its holder no longer reads the identity."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        async def refused() -> bool:
            answer = await client.get(f"/api/cases/{case_id}/person", headers={"Authorization": f"Bearer {token}"})
            return answer.status_code == 403 and not leaks(answer.text)
        await eventually(refused, timeout=20)
    assert holder.specialist_id == HOLDER


async def the_shelter_was_posted_its_notice(hooks: HttpReceiver, bus: Bus, case_id: str, link: str | None) -> None:
    """The shelter's service request notice came by webhook once, signed with the shelter's own
    secret, carrying the request's id and the disclosure link its mail carries; the holder's
    notices came by theirs."""
    def notices(path: str, kind: str) -> list[Request]:
        return [r for r in hooks.to(path) if json.loads(r.body)["kind"] == kind]
    await eventually(lambda: notices(f"/{SHELTER}", "service_requested") and
                     notices(f"/{HOLDER}", "referral_assigned"), timeout=30)
    [hook] = notices(f"/{SHELTER}", "service_requested")
    # Checked after the whole walk, not on arrival: the signature's time may be minutes old.
    verify(recipient_secret(WEBHOOK_KEY, SHELTER), hook.body, hook.headers[SIGNATURE_HEADER.lower()], tolerance=3600)
    [requested] = await bus.events("services.requested", count=1, where=lambda e: e["data"]["case_id"] == case_id)
    body = json.loads(hook.body)
    assert body["kind"] == "service_requested" and body["case_id"] == case_id and body["link"] is None
    assert body["facts"]["service_request_id"] == requested["data"]["service_request_id"]
    assert link and body["disclosure_link"] == link  # the same capability as the mail's, nothing else
    assert hook.headers["idempotency-key"].startswith(f"{body['id']}:")


async def nothing_leaked(bus: Bus, logs: str, case_id: str, webhooks: list[Request]) -> None:
    """The identity is on the agency's own report and nowhere else; the trail names the reads."""
    assert not leaks(logs)
    assert webhooks
    for request in webhooks:  # every webhook notify posted, to the shelter and to the holder
        assert not leaks(request.path + json.dumps(request.headers) + request.body.decode(errors="replace")), \
            request.path
    for topic in sorted(set(CATALOGUE) - {"encounters.reported"}):
        for record in await bus.read(topic, until=lambda _: True, settle=1.0, timeout=10):
            assert not leaks((record.value or b"").decode(errors="replace")), topic
    trail = [e["data"] for e in await bus.events("audit.events", where=lambda e: e["data"].get("case_id") == case_id)]
    by = {(r["actor"]["id"], r["action"], r["outcome"]) for r in trail}
    assert (HOLDER, "identity.read", "granted") in by
    assert (HOLDER, "identity.refused", "refused") in by  # after closing
    assert (OTHER, "identity.refused", "refused") in by
    assert {(HOLDER, a, "granted") for a in ("referral.accepted", "milestone.recorded", "case.closed")} <= by
    assert (OTHER, "case.view_refused", "refused") in by
