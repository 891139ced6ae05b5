"""The dashboard's side of a provider's disclosure link, in the unit tier: the page needs no
sign-in and holds no capability; the API passes the capability to intake with the service
credential and intake's decision back untouched; links that are not valid are slowed down.
Intake is an HTTP transport of the test's own here; on the real broker and FerretDB, see
``tests/integration/test_intake_disclosures.py`` and the browser test."""

from __future__ import annotations

from typing import Any

import httpx

from services.status.identity import IdentityReader
from tests.unit.test_status_auth import Dashboard

CAPABILITY = "cwd_" + "x" * 43


class Intake:
    """What intake answers, and what it was asked."""

    def __init__(self, status: int = 200, body: dict[str, Any] | None = None) -> None:
        self.status, self.body = status, body or {"shared": {"identity": {"given_name": "Ana"}}}
        self.asked: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append(request)
        return httpx.Response(self.status, json=self.body)


def dashboard(intake: Intake) -> Dashboard:
    dash = Dashboard()
    reader = IdentityReader("http://intake.internal:8081", "unit-credential",
                            httpx.AsyncClient(transport=httpx.MockTransport(intake)))
    dash.app.state.identity = reader
    return dash


async def test_the_page_needs_no_sign_in_holds_no_capability_and_is_never_cached() -> None:
    async with dashboard(Intake()).client() as client:
        page = await client.get("/disclosures/sr-1", headers={"accept": "text/html"})
    assert page.status_code == 200 and 'id="show-disclosure"' in page.text and "sr-1" in page.text
    assert page.headers["cache-control"] == "no-store" and "script-src 'self'" in page.headers[
        "content-security-policy"] and page.headers["referrer-policy"] == "no-referrer"
    assert "cwd_" not in page.text and "<script>" not in page.text  # the capability stays in the fragment


async def test_the_capability_goes_to_intake_with_the_service_credential_and_its_answer_comes_back() -> None:
    for status in (200, 403, 404, 410):
        intake = Intake(status, {"detail": "as intake says"} if status != 200 else None)
        async with dashboard(intake).client() as client:
            answer = await client.get("/api/disclosures/sr-1", headers={"authorization": f"Bearer {CAPABILITY}"})
        assert answer.status_code == status and answer.json() == intake.body
        assert answer.headers["cache-control"] == "no-store"
        [asked] = intake.asked
        assert asked.url.path == "/internal/v1/disclosures/sr-1"
        assert asked.headers["authorization"] == "Bearer unit-credential"
        assert asked.headers["x-casework-capability"] == CAPABILITY


async def test_without_a_capability_401_and_intake_down_503_naming_nothing() -> None:
    intake = Intake()
    dash = dashboard(intake)
    async with dash.client() as client:
        bare = await client.get("/api/disclosures/sr-1")
        assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer" and not intake.asked
    [recorded] = dash.audited()  # never reached intake: on the trail all the same
    assert recorded["refusal"] == "no_capability" and recorded["service_request_id"] == "sr-1"
    assert recorded["actor"] == {"id": "unknown", "role": "anonymous"}
    broken = Intake(500, {"detail": "boom"})
    async with dashboard(broken).client() as client:
        down = await client.get("/api/disclosures/sr-1", headers={"authorization": f"Bearer {CAPABILITY}"})
    assert down.status_code == 503 and "boom" not in down.text


async def test_links_that_are_not_valid_are_slowed_down_per_address_and_valid_ones_are_not_counted() -> None:
    intake = Intake(404, {"detail": "this disclosure link is not valid"})
    dash = dashboard(intake)
    limit = dash.app.state.disclosure_limit.item.amount
    async with dash.client(peer=("10.0.0.9", 1)) as client:
        for _ in range(limit):
            assert (await client.get("/api/disclosures/sr-x", headers={"authorization": "Bearer cwd_no"})).status_code \
                == 404
        refused = await client.get("/api/disclosures/sr-x", headers={"authorization": "Bearer cwd_no"})
    assert refused.status_code == 429 and len(intake.asked) == limit
    intake.status, intake.body = 200, {"shared": {}}
    async with dash.client(peer=("10.0.0.10", 1)) as client:  # another address is not held back
        for _ in range(limit + 2):
            assert (await client.get("/api/disclosures/sr-1", headers={"authorization": f"Bearer {CAPABILITY}"})
                    ).status_code == 200
    # Intake records what it answers; the dashboard, what never reached intake: the one 429.
    [held_back] = dash.audited()
    assert (held_back["action"], held_back["refusal"], held_back["actor"]["role"], held_back["service_request_id"]) \
        == ("disclosure.refused", "rate_limited", "anonymous", "sr-x")


def test_the_auditors_trail_keeps_what_a_disclosure_showed_or_why_it_showed_nothing() -> None:
    from datetime import UTC, datetime

    from services.status.trail import document, entry
    from shared.contracts.audit import AuditRecorded

    base = {"audit_id": "a-1", "actor": {"id": "pr-1", "role": "service_provider"}, "outcome": "granted",
            "at": datetime(2026, 3, 1, tzinfo=UTC), "case_id": "case-1", "via": "intake_vault"}

    def record(**fields: object) -> AuditRecorded:
        return AuditRecorded.model_validate(base | fields, strict=False)

    shown = record(action="disclosure.read", service_request_id="sr-1", scopes=["identity"])
    refused = record(audit_id="a-2", action="disclosure.refused", service_request_id="sr-1", refusal="consent_ended")
    viewed = record(audit_id="a-3", action="case.viewed")
    assert {k: entry(document(shown))[k] for k in ("service_request_id", "scopes")} == {
        "service_request_id": "sr-1", "scopes": ["identity"]}
    assert entry(document(refused))["refusal"] == "consent_ended" and "scopes" not in entry(document(refused))
    assert not {"service_request_id", "scopes", "refusal"} & set(entry(document(viewed)))
