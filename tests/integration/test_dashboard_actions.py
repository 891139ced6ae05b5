"""The dashboard's action routes on the real broker and FerretDB, over real HTTP.

The status read model is fed the referral events a referral service would publish (none
runs here, so what the routes publish changes nothing and every cell of the matrix meets
the same case). Every route by every kind of caller: exactly the allowed cells answer 202
and publish the inbound event, with the actor from the token; every attempt is audited.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime, timedelta

import httpx

from services.status.access import Role, Tokens, new_token
from services.status.app import bootstrap as status_service
from shared.contracts.inbound import ConsentRecorded
from shared.contracts.referrals import ReleaseReason
from tests.support import status as ev
from tests.support.kafka import Bus, eventually
from tests.support.notifications import service_sent
from tests.support.procs import free_port

CANARY = "Zenobia Quillfeather"  # typed into bodies where it does not belong: never echoed or published
CALLERS = {
    "holder": (Role.SPECIALIST, [], "sp-1"),
    "other_specialist": (Role.SPECIALIST, [], "sp-2"),
    "supervisor_in_scope": (Role.SUPERVISOR, ["TX-DPS"], "sup-tx"),
    "supervisor_out_of_scope": (Role.SUPERVISOR, ["CA-HP"], "sup-ca"),
    "analyst": (Role.ANALYST, ["*"], None),
}
WAITING, HELD, DONE, MISSING = "case-waiting", "case-held", "case-done", "case-nowhere"
NEEDS = {"milestone": {"kind": "needs_assessed", "urgent_needs": ["shelter"]}}
# route, case, body, the inbound topic, and who may: the specialist the referral is offered
# to answers it; the accepting specialist records, closes, hands over; a supervisor in scope
# closes, reopens, moves.
ROUTES = [
    ("referral/accept", WAITING, {}, "referrals.responded", {"holder"}),
    ("referral/decline", WAITING, {"reason": "at_capacity"}, "referrals.responded", {"holder"}),
    ("milestones", HELD, NEEDS, "stabilization.recorded", {"holder"}),
    ("close", HELD, {"reason": "services_completed"}, "cases.closed", {"holder", "supervisor_in_scope"}),
    ("reopen", DONE, {"reason": "re_engaged"}, "cases.reopened", {"holder", "supervisor_in_scope"}),
    ("reassign", HELD, {"reason": "workload"}, "referrals.reassigned", {"holder", "supervisor_in_scope"}),
    ("services", HELD, {"provider_id": "pr-tx-safe-harbor", "need": "shelter", "share": ["identity"]},
     "services.requested", {"holder"}),
    ("consents", HELD, {"scope": ["identity"], "recipient": {"kind": "service_provider", "id": "pr-tx-safe-harbor"},
                        "form": "written", "expires_at": (datetime.now(UTC) + timedelta(days=90)).isoformat()},
     "consents.recorded", {"holder"}),
    ("consents/cs-1/revoke", HELD, {}, "consents.revoked", {"holder"}),
]


def story(now: datetime) -> list[tuple[str, dict]]:
    earlier = now - timedelta(minutes=30)
    payloads = [
        ev.case_opened(WAITING, at=earlier), ev.assigned(WAITING, "r-w", "sp-1", at=earlier),
        ev.case_opened(HELD, at=earlier), ev.assigned(HELD, "r-h", "sp-1", at=earlier),
        ev.accepted(HELD, "r-h", "sp-1", assigned_at=earlier, at=earlier + timedelta(minutes=1)),
        ev.case_opened(DONE, at=earlier), ev.assigned(DONE, "r-d", "sp-1", at=earlier),
        ev.accepted(DONE, "r-d", "sp-1", assigned_at=earlier, at=earlier + timedelta(minutes=1)),
        ev.closed(DONE, at=now, by=ev.specialist("sp-1"), released="sp-1", referral_id="r-d"),
        ev.released(DONE, "r-d", "sp-1", at=now, reason=ReleaseReason.CASE_CLOSED),
    ]
    return [(p.TOPIC, ev.cloudevent(p, at=now)) for p in payloads]


@contextlib.asynccontextmanager
async def dashboard(settings, bus: Bus):
    made = {name: new_token(name.replace("_", "-"), role, agencies, sid)
            for name, (role, agencies, sid) in CALLERS.items()}
    tokens = {name: token for name, (token, _) in made.items()}
    port = free_port()
    status = status_service(settings, tokens=Tokens([p for _, p in made.values()]), dashboard_port=port)
    async with status.app:
        await ev.ready(port)
        for topic, event in story(datetime.now(UTC)):
            await bus.publish(topic, event)
        await eventually(lambda: {WAITING, HELD, DONE} <= set(status.dashboard.board.rows)
                         and status.dashboard.board.rows[DONE].closed)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client, tokens


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def test_exactly_the_allowed_cells_publish_with_the_actor_from_the_token(settings, bus: Bus, logs) -> None:
    granted: dict[str, tuple[str, str, str]] = {}  # event id -> route, caller, topic
    refused = 0
    async with dashboard(settings, bus) as (client, tokens):
        for route, case_id, body, topic, allowed in ROUTES:
            for caller in [*CALLERS, None]:
                answer = await client.post(f"/api/cases/{case_id}/{route}", json=body,
                                           headers=bearer(tokens[caller] if caller else None))
                expected = 401 if caller is None else 202 if caller in allowed else 403
                assert answer.status_code == expected, (route, caller, answer.text)
                if expected == 202:
                    assert answer.json()["topic"] == topic and answer.json()["case_id"] == case_id
                    granted[answer.json()["event_id"]] = (route, caller, topic)
                refused += expected == 403
            # A case that does not exist is refused like one outside the token's scope.
            missing = await client.post(f"/api/cases/{MISSING}/{route}", json=body,
                                        headers=bearer(tokens["supervisor_in_scope"]))
            assert missing.status_code == 403
            assert missing.json() == {"detail": "this token may not do this on this case"}
            refused += 1
        assert len(granted) == sum(len(r[4]) for r in ROUTES)

        published = {}
        for topic in sorted({r[3] for r in ROUTES}):
            due = sum(1 for g in granted.values() if g[2] == topic)
            for event in await bus.events(topic, where=lambda e: e["source"] == "casework/dashboard", count=due,
                                          settle=1.0):
                published[event["id"]] = event
        assert set(published) == set(granted)  # nothing from a refused cell
        roster_ids = {name: sid for name, (_, _, sid) in CALLERS.items()}
        for event_id, (route, caller, _) in granted.items():
            data = published[event_id]["data"]
            actor = (data.get("closed_by") or data.get("reopened_by") or data.get("requested_by")
                     or data.get("recorded_by") or data.get("revoked_by") or {"id": data.get("specialist_id")})
            assert actor["id"] == roster_ids[caller], (route, caller, data)
            if route.startswith("referral/"):
                assert data["referral_id"] == "r-w"
                assert data["response"] == {"referral/accept": "accepted", "referral/decline": "declined"}[route]
        accepted = next(published[i]["data"] for i, g in granted.items() if g[0] == "referral/accept")
        assert accepted == {"case_id": WAITING, "referral_id": "r-w", "specialist_id": "sp-1", "response": "accepted"}

        audit = await bus.events("audit.events", count=len(granted) + refused)
        outcomes = [(e["data"]["outcome"], e["data"].get("event_id")) for e in audit]
        assert sorted(i for o, i in outcomes if o == "granted") == sorted(granted)
        assert sum(o == "refused" for o, _ in outcomes) == refused
        assert {e["data"]["via"] for e in audit} == {"dashboard_api"}
        assert all(e["data"]["actor"]["role"] in {"specialist", "supervisor", "analyst"} for e in audit)


BAD_BODIES = [
    ("close", {"reason": 5}, ["body", "reason"]),
    ("close", {"reason": "services_completed", "closed_by": {"id": "sup-tx", "role": "supervisor"}},
     ["body", "closed_by"]),
    ("close", {"reason": CANARY}, ["body", "reason"]),
    ("close", {"reason": "services_completed\u0000"}, ["body", "reason"]),
    ("close", {"reason": "x" * 20_000}, ["body"]),
    ("close", {}, ["body", "reason"]),
    ("reassign", {"reason": "workload", "to_specialist_id": f"{CANARY}\n"}, ["body", "to_specialist_id"]),
    ("reassign", {"reason": "workload", "to_specialist_id": ["sp-2"]}, ["body", "to_specialist_id"]),
    ("milestones", {"milestone": {"kind": "needs_assessed", "urgent_needs": ["shelter"], "note": CANARY}},
     ["body", "milestone", "needs_assessed", "note"]),
    ("milestones", {"milestone": {"kind": "sang_a_song"}}, ["body", "milestone"]),
    ("milestones", {"milestone": "needs_assessed"}, ["body", "milestone"]),
    ("referral/accept", {"specialist_id": "sp-9"}, ["body", "specialist_id"]),
    ("services", {"provider_id": "pr-1", "need": "spaceship"}, ["body", "need"]),
    ("services", {"provider_id": CANARY, "need": "shelter"}, ["body", "provider_id"]),
    ("services", {"provider_id": "pr-1", "need": "shelter", "share": ["everything"]}, ["body", "share", 0]),
    ("services", {"provider_id": "pr-1", "need": "shelter", "note": CANARY}, ["body", "note"]),
    ("consents", {"scope": ["identity"], "recipient": {"kind": "service_provider", "id": "pr-1"}, "form": "verbally",
                  "expires_at": "2027-01-01T00:00:00Z"}, ["body", "form"]),
    ("consents", {"scope": [], "recipient": {"kind": "service_provider", "id": "pr-1"}, "form": "written",
                  "expires_at": "2027-01-01T00:00:00Z"}, ["body", "scope"]),
    ("consents", {"scope": ["identity"], "recipient": {"kind": "service_provider", "id": "pr-1"}, "form": "written",
                  "expires_at": "2020-01-01T00:00:00Z"}, ["body", "expires_at"]),
    ("consents", {"scope": ["identity"], "recipient": {"kind": "service_provider", "id": "pr-1"}, "form": "written",
                  "expires_at": "2099-01-01T00:00:00Z"}, ["body", "expires_at"]),
    ("consents", {"scope": ["identity"], "recipient": {"kind": "service_provider", "id": "pr-1"}, "form": "written",
                  "expires_at": "tomorrow"}, ["body", "expires_at"]),
]


async def test_bad_bodies_answer_422_naming_the_field_and_publish_nothing(settings, bus: Bus, logs) -> None:
    async with dashboard(settings, bus) as (client, tokens):
        for route, body, loc in BAD_BODIES:
            case_id = WAITING if route.startswith("referral/") else HELD
            answer = await client.post(f"/api/cases/{case_id}/{route}", json=body, headers=bearer(tokens["holder"]))
            assert answer.status_code == 422, (route, body, answer.text)
            assert loc in [d["loc"] for d in answer.json()["detail"]], (route, answer.json())
            assert CANARY not in answer.text
        not_json = await client.post(f"/api/cases/{HELD}/close", content=b"{not json",
                                     headers=bearer(tokens["holder"]) | {"content-type": "application/json"})
        assert not_json.status_code == 422 and not_json.json()["detail"][0]["type"] == "json_invalid"
        for topic in ("cases.closed", "referrals.reassigned", "stabilization.recorded", "referrals.responded",
                      "services.requested", "consents.recorded"):
            assert await bus.events(topic, where=lambda e: e["source"] == "casework/dashboard", timeout=1.0) == []
        audit = await bus.events("audit.events", count=len(BAD_BODIES) + 1)
        assert {e["data"]["outcome"] for e in audit} == {"invalid"}
        everything = json.dumps(audit) + logs.getvalue()
        assert CANARY not in everything


def consent_for(provider_id: str, consent_id: str, form: str, now: datetime) -> ConsentRecorded:
    return ConsentRecorded.model_validate(dict(
        case_id=HELD, consent_id=consent_id, recorded_by={"id": "sp-1", "role": "victim_specialist"},
        scope=["identity", "contact"], recipient={"kind": "service_provider", "id": provider_id}, form=form,
        given_at=now - timedelta(days=1), expires_at=now + timedelta(days=90)), strict=False)


def service_row(page: str, request_id: str) -> str:
    [row] = re.findall(rf'<tr data-service-request-id="{request_id}".*?</tr>', page, re.S)
    return row


async def test_the_holder_sees_what_each_request_shares_with_its_provider_and_why_not(settings, bus: Bus) -> None:
    """A written consent for the shelter, a verbal one for legal aid: the holder's case page
    says, per request and scope, shared or not and why; no one else sees any of it."""
    now = datetime.now(UTC)
    shelter, legal = "pr-tx-safe-harbor", "pr-tx-legal-aid"
    async with dashboard(settings, bus) as (client, tokens):
        for payload in (consent_for(shelter, "cs-written", "written", now),
                        consent_for(legal, "cs-verbal", "verbal", now),
                        service_sent(HELD, shelter, "sp-1", request_id="sr-shelter", share=["identity", "case_status"]),
                        service_sent(HELD, legal, "sp-1", request_id="sr-legal", need="legal", share=["identity"]),
                        service_sent(HELD, shelter, "sp-1", request_id="sr-quiet", need="medical", share=[])):
            await bus.publish(payload.TOPIC, ev.cloudevent(payload, at=now))

        async def holder_page() -> str | None:
            page = await client.get(f"/cases/{HELD}", headers=bearer(tokens["holder"]))
            assert page.status_code == 200
            folded = all(f'data-{k}="{v}"' in page.text for k, v in (
                ("consent-id", "cs-written"), ("consent-id", "cs-verbal"), ("service-request-id", "sr-shelter"),
                ("service-request-id", "sr-legal"), ("service-request-id", "sr-quiet")))
            return page.text if folded else None

        page = await eventually(holder_page)
        until = (now + timedelta(days=90)).strftime("%Y-%m-%d")
        row = service_row(page, "sr-shelter")
        assert f"identity: shared (consent cs-written, until {until})" in row
        assert "case status: not shared: no consent for this provider covers it" in row
        row = service_row(page, "sr-legal")
        assert ("identity: not shared: only a verbal consent (cs-verbal) — a written or electronic one is needed"
                in row) and "shared (consent" not in row
        assert "nothing asked to be shared" in service_row(page, "sr-quiet")

        refused = await client.get(f"/cases/{HELD}", headers=bearer(tokens["other_specialist"]))
        assert refused.status_code == 403
        seen = await client.get(f"/cases/{HELD}", headers=bearer(tokens["supervisor_in_scope"]))
        assert seen.status_code == 200 and 'class="sharing"' not in seen.text  # needs and statuses only
        api = await client.get(f"/api/cases/{HELD}", headers=bearer(tokens["holder"]))
        assert api.status_code == 200 and len(api.json()["case"]["services"]) == 3
        for body in (refused.text, seen.text, api.text):
            # (the timeline, which others may read, names a consent by id, never its recipient)
            assert not [w for w in (shelter, legal, "shared (consent", "not shared") if w in body], body
        # cases.status: each request's need and status, never its provider, consent or scopes (3 + 5 versions).
        snapshots = await bus.events("cases.status", where=lambda e: e["subject"] == HELD, count=8)
        assert {s["service_request_id"] for s in snapshots[-1]["data"]["services"]} == {"sr-shelter", "sr-legal",
                                                                                        "sr-quiet"}
        assert not [w for w in (shelter, legal, "cs-written", "cs-verbal", '"share"')
                    if w in json.dumps([e["data"] for e in snapshots])]
