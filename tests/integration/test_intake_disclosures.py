"""Disclosure to a provider on the real broker and FerretDB: a service request's link shows
exactly the scopes a written or electronic consent for that provider covers now — nothing
without one, nothing under a verbal one, one for another provider or an expired one; after a
revocation, a decline or a withdrawal the same link is closed (410). Every answer is on
``audit.events``; the person's fields are in the one response and nowhere else (topics,
logs, audit records); the capability is in no log line. Intake keeps its requests across a
redelivery and a restart, and dead-letters a service event it cannot read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.intake.app import bootstrap
from services.status.identity import IdentityReader, IdentityUnavailable
from shared import disclosure
from shared.kit.clock import FakeClock
from shared.settings import Settings
from tests.support import events
from tests.support import notifications as n
from tests.support import status as ev
from tests.support.kafka import Bus, eventually
from tests.support.procs import free_port

CREDENTIAL = "cwv_test-credential-for-the-vault-reader"
KEY = "test-disclosure-key-0123456789"
NOW = datetime.now(UTC).replace(microsecond=0)
BY = {"id": "vs-1", "role": "victim_specialist"}


def configured(settings: Settings) -> Settings:
    return settings.amended(intake={"vault_reader_token": CREDENTIAL, "disclosure_key": KEY})


def consent(case_id: str, consent_id: str, provider_id: str, *, form: str = "written",
            scope: tuple[str, ...] = ("identity", "contact"), days: float = 30) -> dict[str, Any]:
    data = {"case_id": case_id, "consent_id": consent_id, "recorded_by": BY, "scope": list(scope),
            "recipient": {"kind": "service_provider", "id": provider_id}, "form": form,
            "given_at": (NOW - timedelta(hours=1)).isoformat(),
            "expires_at": (NOW + timedelta(days=days)).isoformat()}
    return events.cloudevent("casework.consent.recorded.v1", data, subject=case_id, source="casework/dashboard")


def revocation(case_id: str, consent_id: str) -> dict[str, Any]:
    data = {"case_id": case_id, "consent_id": consent_id, "revoked_by": BY, "at": NOW.isoformat()}
    return events.cloudevent("casework.consent.revoked.v1", data, subject=case_id, source="casework/dashboard")


def sent(case_id: str, request_id: str, provider_id: str, share: list[str]) -> dict[str, Any]:
    return ev.cloudevent(n.service_sent(case_id, provider_id, "vs-1", request_id=request_id, share=share,
                                        requested_at=NOW, respond_by=NOW + timedelta(hours=4)))


class Provider:
    """A provider following its link through the dashboard's client."""

    def __init__(self, client: httpx.AsyncClient, port: int) -> None:
        self.reader = IdentityReader(f"http://127.0.0.1:{port}", CREDENTIAL, client)
        self.client, self.base = client, f"http://127.0.0.1:{port}"

    async def read(self, request_id: str, provider_id: str, *, for_request: str | None = None) -> tuple[int, Any]:
        capability = disclosure.capability(KEY.encode(), for_request or request_id, provider_id)
        return await self.reader.disclose(request_id, capability)

    async def until(self, request_id: str, provider_id: str, status: int) -> dict[str, Any]:
        async def answered() -> dict[str, Any] | None:
            try:
                code, body = await self.read(request_id, provider_id)
            except IdentityUnavailable:  # intake starting
                return None
            return body if code == status else None
        found: dict[str, Any] = await eventually(answered, timeout=20)
        return found


async def opened_and_held(bus: Bus, encounter_id: str) -> str:
    await bus.publish("encounters.reported", events.encounter(encounter_id))
    [opened] = await bus.events("cases.opened", count=1, where=lambda e: e["data"]["encounter_id"] == encounter_id)
    case_id = str(opened["data"]["case_id"])
    assigned = ev.assigned(case_id, "r1", "vs-1", at=NOW)
    await bus.publish("referrals.events", ev.cloudevent(assigned))
    await bus.publish("referrals.events", ev.cloudevent(ev.accepted(case_id, "r1", "vs-1", assigned_at=NOW, at=NOW)))
    return case_id


async def test_a_link_shows_exactly_what_a_written_consent_for_its_provider_covers_and_closes_with_it(
        settings, bus: Bus, mongo, logs) -> None:
    settings = configured(settings)
    clock = FakeClock(NOW)
    port = free_port()
    async with bootstrap(settings, clock=clock, ops_port=port).app, httpx.AsyncClient(timeout=10) as client:
        provider = Provider(client, port)
        case_id = await opened_and_held(bus, "ENC-disclose")
        for record in (consent(case_id, "c-shelter", "pr-shelter"),
                       consent(case_id, "c-legal-verbal", "pr-legal", form="verbal"),
                       consent(case_id, "c-med-other", "pr-other"),  # another provider's
                       consent(case_id, "c-short", "pr-short", scope=("contact",), days=2),
                       consent(case_id, "c-status", "pr-status", form="electronic", scope=("case_status",))):
            await bus.publish("consents.recorded", record)
        requests = {"sr-shelter": ("pr-shelter", ["identity", "contact", "case_status"]),
                    "sr-legal": ("pr-legal", ["identity"]), "sr-med": ("pr-med", ["identity", "contact"]),
                    "sr-short": ("pr-short", ["contact"]), "sr-status": ("pr-status", ["case_status"]),
                    "sr-nothing": ("pr-shelter", [])}
        for request_id, (provider_id, share) in requests.items():
            await bus.publish("services.events", sent(case_id, request_id, provider_id, share))
        first = sent(case_id, "sr-first", "pr-shelter", ["identity"])
        await bus.publish("services.events", first)
        await bus.publish("services.events", first)  # redelivered: the same event
        await bus.publish("services.events", sent(case_id, "sr-shelter", "pr-shelter", ["identity"]) |
                          {"id": "redelivered-other-id"})  # a second word on a request changes nothing

        shown = await provider.until("sr-shelter", "pr-shelter", 200)
        assert shown["case_id"] == case_id and shown["audit_id"]
        assert set(shown["shared"]) == {"identity", "contact"}  # case_status was asked, not consented
        assert shown["shared"]["identity"]["given_name"] == events.CANARY_GIVEN
        assert shown["shared"]["identity"]["family_name"] == events.CANARY_FAMILY
        assert shown["shared"]["contact"] == {"phone": events.CANARY_PHONE, "email": events.CANARY_EMAIL}
        assert "contact" not in shown["shared"]["identity"]
        assert events.CANARY_NARRATIVE not in str(shown) and "Bluewater" not in str(shown)
        assert shown["until"] == (NOW + timedelta(days=30)).isoformat()

        status = await provider.until("sr-status", "pr-status", 200)
        assert status["shared"] == {"case_status": {"open": True, "specialist_assigned": True}}
        assert not [c for c in events.CANARIES if c in str(status)]
        assert (await provider.read("sr-legal", "pr-legal"))[0] == 403  # verbal: nothing
        assert (await provider.read("sr-med", "pr-med"))[0] == 403  # a consent for another provider only
        assert (await provider.read("sr-nothing", "pr-shelter"))[0] == 403  # nothing asked
        assert (await provider.read("sr-short", "pr-short"))[0] == 200
        assert set((await provider.until("sr-first", "pr-shelter", 200))["shared"]) == {"identity"}
        # Another request's capability, a provider's own capability for another request, nonsense:
        # the same 404 whether the request exists or not.
        wrong = await provider.read("sr-shelter", "pr-shelter", for_request="sr-legal")
        forged = await provider.reader.disclose("sr-shelter", "cwd_" + "A" * 43)
        unknown = await provider.read("sr-never", "pr-shelter")
        assert wrong == forged == unknown and wrong[0] == 404 and set(wrong[1]) == {"detail"}
        bare = await client.get(f"{provider.base}/internal/v1/disclosures/sr-shelter",
                                headers={"X-Casework-Capability": disclosure.capability(KEY.encode(), "sr-shelter",
                                                                                        "pr-shelter")})
        assert bare.status_code == 401  # the dashboard's service credential is needed too

        clock.advance(days=3)  # c-short has expired
        assert (await provider.read("sr-short", "pr-short"))[0] == 410
        await bus.publish("consents.revoked", revocation(case_id, "c-shelter"))
        closed = await provider.until("sr-shelter", "pr-shelter", 410)
        assert closed == {"detail": "this disclosure link is closed"}
        declined = n.service_declined(case_id, "pr-status", "vs-1", declined_at=NOW)
        await bus.publish("services.events", ev.cloudevent(declined.model_copy(
            update={"service_request_id": "sr-status"})))
        await provider.until("sr-status", "pr-status", 410)

    port = free_port()
    async with bootstrap(settings, clock=clock, ops_port=port).app, httpx.AsyncClient(timeout=10) as client:
        provider = Provider(client, port)  # restarted: the folded requests and consents are kept
        await provider.until("sr-shelter", "pr-shelter", 410)
        assert (await provider.read("sr-legal", "pr-legal"))[0] == 403
        await bus.publish("consents.recorded", consent(case_id, "c-shelter-2", "pr-shelter", scope=("identity",)))
        again = await provider.until("sr-shelter", "pr-shelter", 200)  # a new consent: the same link works
        assert set(again["shared"]) == {"identity"}

    trail = [e["data"] for e in await bus.events("audit.events", count=1, settle=1.0)
             if e["data"].get("action", "").startswith("disclosure.")]
    granted = [a for a in trail if a["action"] == "disclosure.read"]
    refused = {(a["service_request_id"], a["refusal"]) for a in trail if a["action"] == "disclosure.refused"}
    assert {(a["service_request_id"], tuple(a["scopes"])) for a in granted} >= {
        ("sr-shelter", ("contact", "identity")), ("sr-status", ("case_status",)), ("sr-shelter", ("identity",))}
    assert all(a["actor"]["role"] == "service_provider" for a in granted)
    assert {a["actor"]["id"] for a in granted} == {"pr-shelter", "pr-status", "pr-short"}
    assert {("sr-legal", "not_consented"), ("sr-med", "not_consented"), ("sr-short", "consent_ended"),
            ("sr-shelter", "consent_ended"), ("sr-status", "request_ended"), ("sr-shelter", "invalid_link"),
            ("sr-never", "invalid_link")} <= refused
    invalid = [a for a in trail if a.get("refusal") == "invalid_link"]
    assert all(a["actor"]["role"] == "anonymous" and a.get("case_id") is None for a in invalid)

    everything = [r for topic in ("audit.events", "services.events", "consents.recorded", "cases.opened")
                  for r in await bus.read(topic, timeout=2)]
    assert not [c for c in events.CANARIES for r in everything if r.value and c.encode() in r.value]
    text = logs.getvalue()
    assert not [c for c in events.CANARIES if c in text]
    assert disclosure.PREFIX not in text  # no capability in any log line


async def test_a_service_event_intake_cannot_read_is_dead_lettered_and_the_next_is_folded(
        settings, bus: Bus, mongo) -> None:
    settings = configured(settings)
    port = free_port()
    async with bootstrap(settings, ops_port=port).app, httpx.AsyncClient(timeout=10) as client:
        provider = Provider(client, port)
        case_id = await opened_and_held(bus, "ENC-disclose-bad")
        await bus.publish("services.events", b"{not json")
        bad = sent(case_id, "sr-bad", "pr-x", ["identity"])
        bad["data"].pop("provider_id")
        await bus.publish("services.events", bad)
        await bus.publish("consents.recorded", consent(case_id, "c-after", "pr-after"))
        await bus.publish("services.events", sent(case_id, "sr-after", "pr-after", ["identity"]))
        shown = await provider.until("sr-after", "pr-after", 200)
        assert shown["shared"]["identity"]["given_name"] == events.CANARY_GIVEN
        dead = await bus.read("services.events.dlq", until=lambda recs: len(recs) >= 2, settle=1.0)
        assert len(dead) == 2 and all(dict(r.headers)["x-dlq-error-type"] for r in dead)
