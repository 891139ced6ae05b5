"""A case's service requests, pure: who may ask, what is sent on, what each answer does, and
the escalation of an unanswered request (services/referral/support.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.referral import support
from services.referral.support import CaseFacts, CaseServices, Context, Provider
from shared.contracts.inbound import Actor, ActorRole, ServiceRequested, ServiceResponded
from shared.contracts.support import (
    RequestRefusal,
    ResponseRefusal,
    ServiceAccepted,
    ServiceCompleted,
    ServiceDeclined,
    ServiceRequestRefused,
    ServiceRequestSent,
    ServiceResponseRefused,
    ServiceUnanswered,
)
from shared.kit import Inbound

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WITHIN = timedelta(hours=4)
HOLDER = Actor(id="vs-1", role=ActorRole.VICTIM_SPECIALIST)


def provider(pid: str, kinds: set[str], regions: tuple[str, ...] = ("US-TX",), languages: set[str] = frozenset({"en"}),
             accepting: bool = True) -> Provider:
    return Provider(pid, frozenset(kinds), regions, frozenset(languages), accepting)


CONTEXT = Context(
    cases={"case-1": CaseFacts("TX-DPS", "US-TX", ("es",), "vs-1", closed=False),
           "case-closed": CaseFacts("TX-DPS", "US-TX", ("es",), "vs-1", closed=True)},
    providers={p.provider_id: p for p in (
        provider("pr-shelter-a", {"shelter"}), provider("pr-shelter-es", {"shelter", "food"}, languages={"es"}),
        provider("pr-shelter-ca", {"shelter"}, regions=("US-CA",), languages={"es"}),
        provider("pr-shelter-full", {"shelter"}, languages={"es"}, accepting=False),
        provider("pr-legal", {"legal"}, regions=("*",)))})


def ev(data: Any, event_id: str = "e-1") -> Inbound:
    return Inbound(id=event_id, type=data.TYPE, data=data, subject=data.case_id)


def asked(request_id: str = "sr-1", provider_id: str = "pr-shelter-a", need: str = "shelter", case_id: str = "case-1",
          by: Actor = HOLDER, share: list[str] | None = None) -> Inbound:
    return ev(ServiceRequested.model_validate(dict(case_id=case_id, service_request_id=request_id,
                                                   provider_id=provider_id, need=need, requested_by=by,
                                                   share=share or []), strict=False), f"ask-{request_id}")


def answer(response: str, request_id: str = "sr-1", provider_id: str = "pr-shelter-a", **extra: Any) -> Inbound:
    return ev(ServiceResponded.model_validate(dict(case_id="case-1", service_request_id=request_id,
                                                   provider_id=provider_id, response=response, **extra),
                                              strict=False), f"answer-{response}-{request_id}")


def decide(state: CaseServices | None, event: Inbound, now: datetime = T0, context: Context = CONTEXT):
    return support.decide(state, event, now, context=context, respond_within=WITHIN)


def sent(**kwargs: Any) -> CaseServices:
    state, _ = decide(None, asked(**kwargs))
    assert state is not None
    return state


def test_the_holders_request_goes_out_at_once_with_a_deadline_and_nothing_about_the_person() -> None:
    state, [out] = decide(None, asked(share=["identity", "contact", "identity"]))
    assert isinstance(out, ServiceRequestSent)
    assert (out.provider_id, out.need, out.specialist_id, out.respond_by) == ("pr-shelter-a", "shelter", "vs-1",
                                                                             T0 + WITHIN)
    assert out.languages == ["es"] and out.share == ["contact", "identity"] and out.region == "US-TX"
    assert state is not None and state.timers == {"respond:sr-1": T0 + WITHIN}
    assert state.requests["sr-1"].status == "requested"


@pytest.mark.parametrize(("event", "refusal"), [
    (asked(case_id="case-unknown"), RequestRefusal.UNKNOWN_CASE),
    (asked(case_id="case-closed"), RequestRefusal.CASE_CLOSED),
    (asked(by=Actor(id="vs-2", role=ActorRole.VICTIM_SPECIALIST)), RequestRefusal.NOT_HOLDER),
    (asked(by=Actor(id="vs-1", role=ActorRole.SUPERVISOR)), RequestRefusal.NOT_HOLDER),
    (asked(provider_id="pr-nowhere"), RequestRefusal.UNKNOWN_PROVIDER),
    (asked(provider_id="pr-legal"), RequestRefusal.NOT_OFFERED),
    (asked(provider_id="pr-shelter-full"), RequestRefusal.NOT_ACCEPTING),
])
def test_a_request_that_cannot_go_out_is_refused_with_the_reason_and_changes_nothing(
        event: Inbound, refusal: RequestRefusal) -> None:
    state, [out] = decide(None, event)
    assert state is None and isinstance(out, ServiceRequestRefused)
    assert out.refusal == refusal and out.request_event_id == event.id


def test_a_request_id_is_used_once() -> None:
    state = sent()
    again, [out] = decide(state, asked(provider_id="pr-shelter-es"))
    assert again is state and isinstance(out, ServiceRequestRefused)
    assert out.refusal == RequestRefusal.ALREADY_REQUESTED


def test_accepted_then_completed_ends_the_request_and_its_deadline() -> None:
    state, [accepted] = decide(sent(), answer("accepted"), T0 + timedelta(hours=1))
    assert isinstance(accepted, ServiceAccepted) and state is not None and state.timers == {}
    assert decide(state, answer("accepted"))[1] == []  # said twice: nothing new
    state, [done] = decide(state, answer("completed"), T0 + timedelta(days=2))
    assert isinstance(done, ServiceCompleted) and done.completed_at == T0 + timedelta(days=2)
    assert state is not None and state.requests["sr-1"].status == "completed"
    _, [late] = decide(state, answer("declined"))
    assert isinstance(late, ServiceResponseRefused) and late.refusal == ResponseRefusal.ALREADY_ENDED


def test_a_decline_names_the_next_provider_serving_the_region_speaking_the_language_first() -> None:
    state, [declined] = decide(sent(), answer("declined", reason="no_capacity"))
    assert isinstance(declined, ServiceDeclined) and declined.reason == "no_capacity"
    assert declined.next_provider_id == "pr-shelter-es"  # speaks Spanish; the full and the Californian are not
    state, _ = decide(state, asked("sr-2", "pr-shelter-es"))
    _, [second] = decide(state, answer("declined", "sr-2", "pr-shelter-es"))
    assert isinstance(second, ServiceDeclined) and second.next_provider_id is None  # no one else to ask


def offered_after_a_decline(languages: tuple[str, ...], *others: Provider) -> str | None:
    """The next provider a decline of pr-asked's shelter names, for a person speaking ``languages``."""
    asked_one = provider("pr-asked", {"shelter"})
    context = Context(cases={"case-1": CaseFacts("TX-DPS", "US-TX", languages, "vs-1", closed=False)},
                      providers={p.provider_id: p for p in (asked_one, *others)})
    state, _ = decide(None, asked(provider_id="pr-asked"), context=context)
    _, [declined] = decide(state, answer("declined", provider_id="pr-asked"), context=context)
    assert isinstance(declined, ServiceDeclined)
    return declined.next_provider_id


def test_of_two_providers_serving_the_region_the_one_speaking_the_persons_language_is_offered_first() -> None:
    # Both serve US-TX, accept and offer shelter; by id alone pr-a-english would come first.
    english, spanish = provider("pr-a-english", {"shelter"}), provider("pr-b-spanish", {"shelter"}, languages={"es"})
    assert offered_after_a_decline(("es-MX",), english, spanish) == "pr-b-spanish"  # by its primary subtag
    assert offered_after_a_decline(("en",), english, spanish) == "pr-a-english"
    assert offered_after_a_decline(("vi",), spanish, english) == "pr-a-english"  # neither: by id
    # Only the kind asked for: a Spanish-speaking food bank, first by id, is not offered for a shelter.
    food = provider("pr-0-spanish-food", {"food"}, languages={"es"})
    assert offered_after_a_decline(("es",), food, english) == "pr-a-english"
    assert offered_after_a_decline(("es",), food) is None


@pytest.mark.parametrize(("event", "refusal"), [
    (answer("accepted", request_id="sr-nothing"), ResponseRefusal.UNKNOWN_REQUEST),
    (answer("accepted", provider_id="pr-shelter-es"), ResponseRefusal.WRONG_PROVIDER),
])
def test_an_answer_that_does_not_fit_is_refused(event: Inbound, refusal: ResponseRefusal) -> None:
    state = sent()
    after, [out] = decide(state, event)
    assert after is state and isinstance(out, ServiceResponseRefused) and out.refusal == refusal


def test_an_answer_for_a_case_without_requests_is_refused() -> None:
    state, [out] = decide(None, answer("completed"))
    assert state is None and isinstance(out, ServiceResponseRefused)


def test_an_unanswered_request_is_escalated_once_and_may_still_be_answered() -> None:
    timer = Inbound.timer("case-1", "respond:sr-1", T0 + WITHIN)
    state, [late] = decide(sent(), timer, T0 + WITHIN)
    assert isinstance(late, ServiceUnanswered) and late.next_provider_id == "pr-shelter-es"
    assert state is not None and state.timers == {} and state.requests["sr-1"].status == "unanswered"
    assert decide(state, timer, T0 + WITHIN)[1] == []  # fired again (a redelivery): nothing twice
    _, [accepted] = decide(state, answer("accepted"), T0 + WITHIN + timedelta(minutes=5))
    assert isinstance(accepted, ServiceAccepted)


def test_a_deadline_after_the_answer_does_nothing() -> None:
    state, _ = decide(sent(), answer("accepted"))
    assert decide(state, Inbound.timer("case-1", "respond:sr-1", T0 + WITHIN), T0 + WITHIN)[1] == []


def test_a_directory_document_becomes_a_provider() -> None:
    found = support.provider_of({"_id": "pr-1", "kinds": ["shelter"], "regions": ["US"], "languages": ["es-MX", "EN"],
                                 "accepting": False, "offset": 3, "removed": False})
    assert found == Provider("pr-1", frozenset({"shelter"}), ("US",), frozenset({"es", "en"}), False)
    assert not found.serves("shelter", "US-TX")  # not accepting
    reopened = Provider(found.provider_id, found.kinds, found.regions, found.languages, accepting=True)
    assert reopened.serves("shelter", "US-TX")  # a country covers its states
