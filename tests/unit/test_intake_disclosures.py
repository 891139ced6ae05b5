"""Disclosure's pure rules: which of the asked scopes a link shows now, or why none (P2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.consents import CaseConsents
from services.intake.consents import decide as keep
from services.intake.disclosures import Open, Refusal, SentRequest, decide, fields, judge
from services.intake.holders import Holding
from shared.contracts.inbound import ConsentRecorded, ConsentRevoked, ConsentScope
from shared.kit import Inbound
from tests.support import notifications as n

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
SUBJECT = {"person": {"given_name": "Ana", "family_name": "Lopez", "languages": ["es"], "interpreter_needed": True,
                      "contact": {"phone": "+1 555 0100"}},
           "narrative": "what happened", "setting": "where", "reported_by": {"officer_id": "o-1"}}


def inbound(payload: object, event_id: str = "e-1") -> Inbound:
    return Inbound(id=event_id, type=type(payload).TYPE, source="casework/test", subject="case-1",  # type: ignore[attr-defined]
                   data=payload, topic="t", partition=0, offset=0)


def consents(*records: dict) -> CaseConsents:
    file = None
    for i, data in enumerate(records):
        model = ConsentRevoked if "revoked_by" in data else ConsentRecorded
        file, _ = keep(file, inbound(model.model_validate(data, strict=False), f"c-{i}"), NOW)
    assert file is not None
    return file


def consent(consent_id: str, provider_id: str = "pr-1", *, form: str = "written",
            scope: tuple[str, ...] = ("identity", "contact"), expires: datetime = NOW + 30 * DAY,
            given: datetime = NOW - DAY, by: str = "vs-1") -> dict:
    return {"case_id": "case-1", "consent_id": consent_id, "recorded_by": {"id": by, "role": "victim_specialist"},
            "scope": list(scope), "recipient": {"kind": "service_provider", "id": provider_id}, "form": form,
            "given_at": given, "expires_at": expires}


def revoked(consent_id: str) -> dict:
    return {"case_id": "case-1", "consent_id": consent_id, "revoked_by": {"id": "vs-1", "role": "victim_specialist"},
            "at": NOW}


def request(share: list[str], status: Open = Open.OPEN, provider_id: str = "pr-1") -> SentRequest:
    return SentRequest(service_request_id="sr-1", case_id="case-1", provider_id=provider_id, share=share,
                       status=status)


HELD = Holding(case_id="case-1", case_file="ag|enc", accepted_by=["vs-1"])


def test_only_the_asked_scopes_a_consent_covers_are_shown_until_the_first_of_them_ends() -> None:
    file = consents(consent("c-1", scope=("identity",), expires=NOW + 10 * DAY),
                    consent("c-2", scope=("contact",), form="electronic", expires=NOW + 5 * DAY))
    scopes, until, why = judge(request(["case_status", "contact", "identity"]), HELD, file, NOW)
    assert (set(scopes), until, why) == ({ConsentScope.IDENTITY, ConsentScope.CONTACT}, NOW + 5 * DAY, None)
    shown = fields(SUBJECT, scopes, HELD)
    assert shown == {"identity": {"given_name": "Ana", "family_name": "Lopez", "languages": ["es"],
                                  "interpreter_needed": True}, "contact": {"phone": "+1 555 0100"}}
    assert "what happened" not in str(shown) and "o-1" not in str(shown)


@pytest.mark.parametrize(("records", "share", "refusal"), [
    ([], ["identity"], Refusal.NOT_CONSENTED),
    ([consent("c-1", form="verbal")], ["identity"], Refusal.NOT_CONSENTED),
    ([consent("c-1", provider_id="pr-other")], ["identity"], Refusal.NOT_CONSENTED),
    ([consent("c-1", scope=("contact",))], ["identity"], Refusal.NOT_CONSENTED),
    ([consent("c-1")], [], Refusal.NOT_CONSENTED),
    ([consent("c-1", expires=NOW)], ["identity"], Refusal.CONSENT_ENDED),
    ([consent("c-1"), revoked("c-1")], ["identity"], Refusal.CONSENT_ENDED),
    ([revoked("c-1"), consent("c-1")], ["identity"], Refusal.CONSENT_ENDED),  # revoked before it arrived
    ([consent("c-1", form="verbal"), revoked("c-1")], ["identity"], Refusal.NOT_CONSENTED),  # it never disclosed
    ([consent("c-1", expires=NOW), consent("c-2", given=NOW + DAY, expires=NOW + 9 * DAY)], ["identity"],
     Refusal.NOT_CONSENTED),  # one ended, one to come: not closed for good
    ([consent("c-1", by="someone-else")], ["identity"], Refusal.NOT_CONSENTED),  # not by a specialist of the case
])
def test_without_a_consent_in_force_for_this_provider_nothing_is_shown(records, share, refusal) -> None:
    file = consents(*records) if records else None
    assert judge(request(share), HELD, file, NOW) == ([], None, refusal)


def test_a_request_that_ended_or_a_withdrawn_case_closes_the_link_whatever_the_consent() -> None:
    file = consents(consent("c-1"))
    for status in (Open.DECLINED, Open.COMPLETED):
        assert judge(request(["identity"], status), HELD, file, NOW)[2] is Refusal.REQUEST_ENDED
    withdrawn = HELD.model_copy(update={"withdrawn": True})
    assert judge(request(["identity"]), withdrawn, file, NOW)[2] is Refusal.CASE_WITHDRAWN
    closed = HELD.model_copy(update={"closed": True})
    assert judge(request(["identity"]), closed, file, NOW)[2] is Refusal.CASE_CLOSED


def test_a_consent_counts_when_recorded_by_any_specialist_who_accepted_the_case() -> None:
    file = consents(consent("c-1", by="vs-2"))
    assert judge(request(["identity"]), HELD, file, NOW)[2] is Refusal.NOT_CONSENTED
    handed_over = HELD.model_copy(update={"accepted_by": ["vs-1", "vs-2"]})
    assert judge(request(["identity"]), handed_over, file, NOW)[0] == [ConsentScope.IDENTITY]


def test_the_case_status_scope_says_only_whether_the_case_is_open_and_held() -> None:
    assert fields(SUBJECT, [ConsentScope.CASE_STATUS], HELD) == {
        "case_status": {"open": True, "specialist_assigned": False}}
    closed = HELD.model_copy(update={"closed": True})
    assert fields(SUBJECT, [ConsentScope.CASE_STATUS], closed)["case_status"]["open"] is False


def test_requests_are_folded_once_and_an_answer_to_an_unseen_request_keeps_nothing() -> None:
    first = n.service_sent("case-1", "pr-1", request_id="sr-1", share=["identity", "contact"])
    state, out = decide(None, inbound(first), NOW)
    assert state == request(["contact", "identity"]) and out == []
    again, _ = decide(state, inbound(n.service_sent("case-1", "pr-2", request_id="sr-1", share=[])), NOW)
    assert again == state  # the first word on a request stands
    declined = n.service_declined("case-1", "pr-1").model_copy(update={"service_request_id": "sr-1"})
    assert decide(state, inbound(declined), NOW)[0].status is Open.DECLINED  # type: ignore[union-attr]
    assert decide(None, inbound(declined), NOW) == (None, [])
