"""Support services on the status read model (pure): each request's line on the case view and
its need and status on ``cases.status`` — never the provider (a shelter's identity may put a
person in danger); the timeline names the need, not the provider, and a consent's kind of
recipient, never which."""

from __future__ import annotations

from datetime import timedelta

from services.status import domain
from services.status.state import CaseView
from shared.contracts.inbound import Actor, ActorRole, ProviderKind, ServiceDeclineReason
from shared.contracts.support import (
    RequestRefusal,
    ServiceAccepted,
    ServiceCompleted,
    ServiceDeclined,
    ServiceRequestRefused,
    ServiceRequestSent,
    ServiceUnanswered,
)
from tests.support import status as ev
from tests.support.status import T0

M = timedelta(minutes=1)
HOLDER = Actor(id="sp-1", role=ActorRole.VICTIM_SPECIALIST)
COMMON = dict(case_id="case-1", agency_id="TX-DPS", region="US-TX", specialist_id="sp-1")


def sent(request_id: str, provider_id: str, need: ProviderKind, minutes: int) -> ServiceRequestSent:
    return ServiceRequestSent(**COMMON, service_request_id=request_id, provider_id=provider_id, need=need,
                              requested_by=HOLDER, requested_at=T0 + minutes * M,
                              respond_by=T0 + minutes * M + timedelta(hours=4), languages=["es"], share=[])


def fold(*payloads) -> tuple[CaseView, list]:
    view, published = None, []
    for index, payload in enumerate(payloads):
        view, out = domain.decide(view, ev.inbound(payload, at=T0 + index * M, event_id=f"e-{index}"), T0)
        published += out
    assert view is not None
    return view, published


def request(request_id: str, provider_id: str, need: ProviderKind) -> dict:
    return dict(**COMMON, service_request_id=request_id, provider_id=provider_id, need=need)


def test_each_request_is_on_the_snapshot_by_need_and_status_and_never_by_provider() -> None:
    shelter, legal = request("sr-1", "pr-safe-harbor", ProviderKind.SHELTER), request("sr-2", "pr-legal",
                                                                                    ProviderKind.LEGAL)
    view, published = fold(
        ev.case_opened("case-1"), sent("sr-1", "pr-safe-harbor", ProviderKind.SHELTER, 1),
        sent("sr-2", "pr-legal", ProviderKind.LEGAL, 2), ServiceAccepted(**shelter, accepted_at=T0 + 5 * M),
        ServiceDeclined(**legal, declined_at=T0 + 6 * M, reason=ServiceDeclineReason.NO_CAPACITY,
                        next_provider_id="pr-legal-2"),
        ServiceCompleted(**shelter, completed_at=T0 + 9 * M),
        ServiceRequestRefused(case_id="case-1", service_request_id="sr-3", provider_id="pr-x",
                              need=ProviderKind.MEDICAL, requested_by=HOLDER, refusal=RequestRefusal.NOT_HOLDER,
                              request_event_id="x", refused_at=T0 + 10 * M))
    last = published[-1]
    assert [s.model_dump(mode="json") for s in last.services] == [
        {"service_request_id": "sr-1", "need": "shelter", "status": "completed"},
        {"service_request_id": "sr-2", "need": "legal", "status": "declined"}]
    assert len(published) == 6 and last.version == 6  # the refusal: a timeline line, no new snapshot
    assert "pr-safe-harbor" not in last.model_dump_json() and "pr-legal" not in last.model_dump_json()
    assert (view.services["sr-2"].reason, view.services["sr-2"].next_provider_id) == ("no_capacity", "pr-legal-2")
    assert view.services["sr-1"].provider_id == "pr-safe-harbor"  # the case page's, for the accepting specialist
    texts = " | ".join(m.text for m in view.timeline)
    assert "shelter" in texts and "not sent: not holder" in texts and "pr-safe-harbor" not in texts


def test_a_late_unanswered_does_not_reopen_an_answered_request() -> None:
    shelter = request("sr-1", "pr-1", ProviderKind.SHELTER)
    view, _ = fold(ev.case_opened("case-1"), sent("sr-1", "pr-1", ProviderKind.SHELTER, 1),
                   ServiceCompleted(**shelter, completed_at=T0 + 3 * M),
                   ServiceUnanswered(**shelter, respond_by=T0 + 2 * M, escalated_at=T0 + 4 * M))
    assert view.services["sr-1"].status == "completed"
    view, _ = fold(ev.case_opened("case-1"), sent("sr-1", "pr-1", ProviderKind.SHELTER, 1),
                   ServiceUnanswered(**shelter, respond_by=T0 + 2 * M, escalated_at=T0 + 4 * M,
                                     next_provider_id="pr-2"))
    assert (view.services["sr-1"].status, view.services["sr-1"].next_provider_id) == ("unanswered", "pr-2")


def test_a_notice_to_a_provider_never_names_it_on_the_timeline() -> None:
    from shared.contracts.notifications import NotificationFailed, NotificationSent

    common = dict(notification_id="n-1", kind="service_requested", case_id="case-1", reference="case-1",
                  recipient_id="pr-safe-harbor", recipient_role="service_provider", channel="email", attempts=1)
    view, _ = fold(ev.case_opened("case-1"),
                   NotificationSent.model_validate(common | {"sent_at": T0}, strict=False),
                   NotificationFailed.model_validate(common | {"failed_at": T0, "error": "refused"}, strict=False))
    texts = [m.text for m in view.timeline]
    assert "Notification service_requested sent to the provider by email" in texts
    assert not [t for t in texts if "pr-safe-harbor" in t]


def test_consents_are_on_the_view_never_on_the_snapshot_and_the_timeline_names_no_recipient() -> None:
    from shared.contracts.inbound import ConsentRecorded, ConsentRevoked

    def recorded(consent_id: str) -> ConsentRecorded:
        return ConsentRecorded.model_validate(dict(
            case_id="case-1", consent_id=consent_id, recorded_by=HOLDER, scope=["identity", "contact"],
            recipient={"kind": "service_provider", "id": "pr-safe-harbor"}, form="written", given_at=T0,
            expires_at=T0 + timedelta(days=30)), strict=False)

    def revoked(consent_id: str) -> ConsentRevoked:
        return ConsentRevoked(case_id="case-1", consent_id=consent_id, revoked_by=HOLDER, at=T0 + M)

    view, published = fold(ev.case_opened("case-1"), recorded("cs-1"), revoked("cs-2"), recorded("cs-2"),
                           recorded("cs-1"), revoked("cs-1"))
    # Each consent event republishes the snapshot (the case page follows it), with nothing of the consent.
    assert len(published) == 6 and published[-1].version == 6
    assert not [p for p in published if "cs-1" in p.model_dump_json() or "pr-safe-harbor" in p.model_dump_json()]
    assert view.consents["cs-1"].revoked_at == T0 + M and view.consents["cs-2"].revoked_at == T0 + M
    assert view.consents["cs-1"].scope == ["contact", "identity"]
    texts = " | ".join(m.text for m in view.timeline)
    assert "Consent cs-1 recorded (written): contact, identity for a service provider" in texts
    assert "pr-safe-harbor" not in texts


# -- what each request shares with its provider, scope by scope (the case page's, holder only) --

DAY = timedelta(days=1)


def consent(consent_id: str, provider_id: str, *, form: str = "written", scope: tuple[str, ...] = ("identity",),
            given: int = -1, days: int = 30):
    from shared.contracts.inbound import ConsentRecorded

    return ConsentRecorded.model_validate(dict(
        case_id="case-1", consent_id=consent_id, recorded_by=HOLDER, scope=list(scope), form=form,
        recipient={"kind": "service_provider", "id": provider_id}, given_at=T0 + given * DAY,
        expires_at=T0 + (given + days) * DAY), strict=False)


def revocation(consent_id: str, days: int = 0):
    from shared.contracts.inbound import ConsentRevoked

    return ConsentRevoked(case_id="case-1", consent_id=consent_id, revoked_by=HOLDER, at=T0 + days * DAY)


def asking(request_id: str, provider_id: str, *share: str) -> ServiceRequestSent:
    return ServiceRequestSent.model_validate(sent(request_id, provider_id, ProviderKind.LEGAL, 1).model_dump()
                                             | {"share": list(share)}, strict=False)


def shared_lines(view: CaseView, request_id: str, now=T0) -> list[tuple[str, bool, str | None, str]]:
    from services.status.sharing import sharing

    return [(s.scope, s.shared, s.reason, s.text) for s in sharing(view, view.services[request_id], now)]


def test_a_request_keeps_the_scopes_it_asked_to_share_off_the_snapshot() -> None:
    view, published = fold(ev.case_opened("case-1"), asking("sr-1", "pr-legal", "contact", "identity", "contact"),
                           ServiceAccepted(**request("sr-1", "pr-legal", ProviderKind.LEGAL), accepted_at=T0))
    assert view.services["sr-1"].share == ["contact", "identity"]  # kept through the answer, once each
    assert not [p for p in published if "identity" in p.model_dump_json()]
    stored = view.services["sr-1"].model_dump(mode="json")
    del stored["share"]  # a view stored before requests kept their scopes still loads
    assert type(view.services["sr-1"]).model_validate(stored).share == []


def test_a_scope_is_shared_only_where_a_written_or_electronic_consent_for_that_provider_covers_it_now() -> None:
    view, _ = fold(ev.case_opened("case-1"),
                   consent("cs-w", "pr-legal", scope=("identity", "contact")),
                   consent("cs-e", "pr-legal", form="electronic", scope=("case_status",), days=90),
                   consent("cs-v", "pr-clinic", form="verbal", scope=("identity", "contact")),
                   consent("cs-other", "pr-clinic", scope=("case_status",)),
                   asking("sr-1", "pr-legal", "case_status", "identity", "contact"),
                   asking("sr-2", "pr-clinic", "identity", "contact"),
                   asking("sr-3", "pr-nobody", "identity"), asking("sr-4", "pr-legal"))
    assert shared_lines(view, "sr-1") == [  # in the contract's order
        ("identity", True, None, "shared (consent cs-w, until 2026-12-29)"),
        ("contact", True, None, "shared (consent cs-w, until 2026-12-29)"),
        ("case_status", True, None, "shared (consent cs-e, until 2027-02-27)")]
    only_verbal = "not shared: only a verbal consent (cs-v) — a written or electronic one is needed"
    assert shared_lines(view, "sr-2") == [("identity", False, "not_written", only_verbal),
                                          ("contact", False, "not_written", only_verbal)]
    assert shared_lines(view, "sr-3") == [
        ("identity", False, "no_consent", "not shared: no consent for this provider covers it")]
    assert shared_lines(view, "sr-4") == []  # nothing asked to be shared: the page says so


def test_each_reason_a_scope_is_not_shared_is_said_in_words_with_its_consent_and_day() -> None:
    view, _ = fold(ev.case_opened("case-1"),
                   consent("cs-old", "pr-legal", given=-40, days=30),
                   consent("cs-soon", "pr-clinic", given=3),
                   revocation("cs-gone", days=-2), consent("cs-gone", "pr-shelter"),
                   asking("sr-1", "pr-legal", "identity"), asking("sr-2", "pr-clinic", "identity"),
                   asking("sr-3", "pr-shelter", "identity"))
    assert shared_lines(view, "sr-1") == [
        ("identity", False, "expired", "not shared: consent cs-old expired on 2026-11-20")]
    assert shared_lines(view, "sr-2") == [
        ("identity", False, "not_yet", "not shared: consent cs-soon is not yet in force (from 2026-12-03)")]
    assert shared_lines(view, "sr-3") == [
        ("identity", False, "revoked", "not shared: consent cs-gone was revoked on 2026-11-28")]
    # The same request read later: the consent that was not yet in force is, and then expires.
    assert shared_lines(view, "sr-2", T0 + 4 * DAY)[0][:3] == ("identity", True, None)
    assert shared_lines(view, "sr-2", T0 + 40 * DAY)[0][2] == "expired"


def test_the_line_names_the_consent_why_not_speaks_of() -> None:
    from shared import consent as rules
    from shared.contracts.inbound import ConsentScope, RecipientKind

    view, _ = fold(ev.case_opened("case-1"), consent("cs-verbal", "pr-legal", form="verbal", days=300),
                   consent("cs-expired", "pr-legal", given=-60, days=30), consent("cs-expired-2", "pr-legal",
                                                                                  given=-60, days=40),
                   asking("sr-1", "pr-legal", "identity"))
    # An expiry ranks before a verbal form; of two expired, the one that lasted longest.
    assert shared_lines(view, "sr-1") == [
        ("identity", False, "expired", "not shared: consent cs-expired-2 expired on 2026-11-10")]
    args = (view.consents, view.revoked_consents, RecipientKind.SERVICE_PROVIDER, "pr-legal", ConsentScope.IDENTITY)
    assert rules.why_not(*args, T0) == rules.reason(rules.nearest(*args, T0), view.revoked_consents, T0)
    view, _ = fold(ev.case_opened("case-1"), consent("cs-short", "pr-legal", days=10),
                   consent("cs-long", "pr-legal", days=60), revocation("cs-gone"), consent("cs-gone", "pr-legal"))
    args = (view.consents, view.revoked_consents, RecipientKind.SERVICE_PROVIDER, "pr-legal", ConsentScope.IDENTITY)
    assert rules.nearest(*args, T0) == rules.covering(*args, T0)  # covered: the consent intake discloses by
    assert rules.nearest(*args, T0).consent_id == "cs-long"


def test_a_declined_or_completed_request_shares_nothing_more_whatever_the_consents() -> None:
    legal, clinic = request("sr-1", "pr-legal", ProviderKind.LEGAL), request("sr-2", "pr-clinic", ProviderKind.LEGAL)
    view, _ = fold(ev.case_opened("case-1"), consent("cs-1", "pr-legal"), consent("cs-2", "pr-clinic"),
                   asking("sr-1", "pr-legal", "identity"), asking("sr-2", "pr-clinic", "identity"),
                   asking("sr-3", "pr-clinic", "identity"),
                   ServiceAccepted(**legal, accepted_at=T0), ServiceCompleted(**legal, completed_at=T0),
                   ServiceDeclined(**clinic, declined_at=T0, reason=ServiceDeclineReason.NO_CAPACITY),
                   ServiceUnanswered(**request("sr-3", "pr-clinic", ProviderKind.LEGAL), respond_by=T0,
                                     escalated_at=T0))
    # As intake answers the provider's link: closed once the request ended (request_ended).
    assert shared_lines(view, "sr-1") == [
        ("identity", False, "request_ended", "not shared: the request was completed — its disclosure link is closed")]
    assert shared_lines(view, "sr-2") == [
        ("identity", False, "request_ended", "not shared: the request was declined — its disclosure link is closed")]
    assert shared_lines(view, "sr-3")[0][:3] == ("identity", True, None)  # unanswered: still open, still shared


def test_a_consent_s_reminder_and_lapse_are_timeline_lines_naming_no_recipient() -> None:
    from shared.contracts.consents import ConsentExpiring, ConsentLapsed

    facts = dict(case_id="case-1", consent_id="cs-1", recipient_kind="service_provider",
                 recipient_id="pr-safe-harbor", scope=["identity"])
    expiring = ConsentExpiring.model_validate(facts | dict(form="written", expires_at=T0 + timedelta(days=7),
                                                           remind_at=T0), strict=False)
    lapsed = ConsentLapsed.model_validate(facts | dict(expired_at=T0 + timedelta(days=7)), strict=False)
    view, published = fold(ev.case_opened("case-1"), expiring, lapsed)
    texts = [m.text for m in view.timeline]
    assert "Consent cs-1 expires on 2026-12-07 08:30 UTC: the specialist is told" in texts
    assert "Consent cs-1 lapsed: nothing more is shared under it" in texts
    assert "pr-safe-harbor" not in " | ".join(texts) + view.model_dump_json(exclude={"consents"})
    # The lapse republishes the snapshot (the case page shows the consent expired); the reminder does not.
    assert len(published) == 2 and not [p for p in published if "cs-1" in p.model_dump_json()]
