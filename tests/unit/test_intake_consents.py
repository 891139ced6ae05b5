"""The person's consents as intake keeps them (pure): recorded once, revoked also before they
arrive, which one — if any — lets a recipient see a scope now (P2), and the two timers of a
disclosing consent (a reminder before it lapses, then its lapse), each firing once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.consents import CaseConsents, Policy, Uncovered, covering, decide, timer_name, why_not
from shared.contracts.common import Payload
from shared.contracts.consents import ConsentExpiring, ConsentLapsed
from shared.contracts.inbound import ConsentRecorded, ConsentRevoked, ConsentScope, RecipientKind
from shared.kit import Inbound

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SHELTER = (RecipientKind.SERVICE_PROVIDER, "pr-shelter")
BY = {"id": "vs-1", "role": "victim_specialist"}
POLICY = Policy(reminder=7 * DAY)


def recorded(consent_id: str, *, scope: tuple[str, ...] = ("identity", "contact"), form: str = "written",
             recipient: tuple[RecipientKind, str] = SHELTER, given: datetime = T0, days: int = 90) -> Inbound:
    data = ConsentRecorded.model_validate(dict(
        case_id="case-1", consent_id=consent_id, recorded_by=BY, scope=list(scope), form=form,
        recipient={"kind": recipient[0].value, "id": recipient[1]}, given_at=given,
        expires_at=given + days * DAY), strict=False)
    return Inbound(id=f"rec-{consent_id}-{form}", type=data.TYPE, data=data, subject="case-1")


def revoked(consent_id: str) -> Inbound:
    data = ConsentRevoked.model_validate(dict(case_id="case-1", consent_id=consent_id, revoked_by=BY,
                                              at=T0 + DAY), strict=False)
    return Inbound(id=f"rev-{consent_id}", type=data.TYPE, data=data, subject="case-1")


def fold(*events: Inbound, now: datetime = T0) -> CaseConsents:
    state = None
    for event in events:
        state, out = decide(state, event, now, policy=POLICY)
        assert out == []  # nothing published on a record or a revocation: only a timer tells
    assert state is not None
    return state


class Consents:
    """One case's consents as the kit drives them: events in order, due timers fired earliest
    first (each leaves the state before it is decided, as the sweep takes it), the state stored
    as JSON between steps (as in Mongo)."""

    def __init__(self, now: datetime = T0, policy: Policy = POLICY) -> None:
        self.now, self.policy = now, policy
        self.state: CaseConsents | None = None
        self.published: list[Payload] = []

    def send(self, event: Inbound) -> list[Payload]:
        return self._decide(event)

    def advance_to(self, moment: datetime) -> list[Payload]:
        self.now, out = moment, []
        while self.state is not None:
            due = sorted((at, name) for name, at in self.state.timers.items() if at <= moment)
            if not due:
                break
            at, name = due[0]
            self.state = self.state.model_copy(update={"timers": {k: v for k, v in self.state.timers.items()
                                                                  if k != name}})
            out += self._decide(Inbound.timer("case-1", name, at))
        return out

    def _decide(self, event: Inbound) -> list[Payload]:
        state, out = decide(self.state, event, self.now, policy=self.policy)
        self.state = CaseConsents.model_validate(state.model_dump(mode="json")) if state is not None else None
        self.published += out
        return list(out)

    @property
    def timers(self) -> dict[str, datetime]:
        return dict(self.state.timers) if self.state else {}


def test_a_written_consent_covers_its_recipient_and_scopes_until_it_expires() -> None:
    file = fold(recorded("c-1"))
    assert covering(file, *SHELTER, ConsentScope.IDENTITY, T0 + DAY).consent_id == "c-1"
    assert why_not(file, *SHELTER, ConsentScope.CONTACT, T0 + DAY) is None
    assert why_not(file, *SHELTER, ConsentScope.CASE_STATUS, T0 + DAY) == Uncovered.NO_CONSENT
    assert why_not(file, RecipientKind.SERVICE_PROVIDER, "pr-other", ConsentScope.IDENTITY, T0) == Uncovered.NO_CONSENT
    assert why_not(file, RecipientKind.TASK_FORCE, "pr-shelter", ConsentScope.IDENTITY, T0) == Uncovered.NO_CONSENT
    assert why_not(file, *SHELTER, ConsentScope.IDENTITY, T0 + 90 * DAY) == Uncovered.EXPIRED
    assert why_not(file, *SHELTER, ConsentScope.IDENTITY, T0 - DAY) == Uncovered.NOT_YET


@pytest.mark.parametrize(("form", "covered"), [("written", True), ("electronic", True), ("verbal", False)])
def test_only_a_written_or_electronic_consent_discloses(form: str, covered: bool) -> None:
    file = fold(recorded("c-1", form=form))
    assert (covering(file, *SHELTER, ConsentScope.IDENTITY, T0) is not None) is covered
    assert why_not(file, *SHELTER, ConsentScope.IDENTITY, T0) == (None if covered else Uncovered.NOT_WRITTEN)


def test_a_revocation_ends_a_consent_also_when_it_arrives_first() -> None:
    assert why_not(fold(recorded("c-1"), revoked("c-1")), *SHELTER, ConsentScope.IDENTITY, T0) == Uncovered.REVOKED
    early = fold(revoked("c-1"), recorded("c-1"))
    assert covering(early, *SHELTER, ConsentScope.IDENTITY, T0) is None
    assert why_not(early, *SHELTER, ConsentScope.IDENTITY, T0) == Uncovered.REVOKED


def test_a_consent_id_is_recorded_once_and_another_consent_may_still_cover() -> None:
    file = fold(recorded("c-1", days=10), recorded("c-1", form="verbal", days=400), recorded("c-2", days=30))
    assert file.consents["c-1"].form == "written" and file.consents["c-1"].expires_at == T0 + 10 * DAY
    assert covering(file, *SHELTER, ConsentScope.IDENTITY, T0).consent_id == "c-2"  # the one lasting longest
    after_revocation = fold(recorded("c-1", days=10), recorded("c-2", days=30), revoked("c-2"))
    assert covering(after_revocation, *SHELTER, ConsentScope.IDENTITY, T0).consent_id == "c-1"


def test_a_consent_must_end_after_it_is_given() -> None:
    with pytest.raises(ValueError, match="expires_at must be after given_at"):
        recorded("c-1", days=0)


# -- the timers: a reminder before a consent lapses, then its lapse ------------------------


def test_a_written_consent_arms_a_reminder_a_week_before_and_its_lapse() -> None:
    desk = Consents()
    desk.send(recorded("c-1", days=90))
    assert desk.timers == {"c-1#remind": T0 + 83 * DAY, "c-1#lapse": T0 + 90 * DAY}
    assert desk.advance_to(T0 + 83 * DAY - timedelta(seconds=1)) == []
    [reminder] = desk.advance_to(T0 + 83 * DAY)
    assert isinstance(reminder, ConsentExpiring)
    assert reminder.model_dump(mode="json") == {
        "case_id": "case-1", "consent_id": "c-1", "recipient_kind": "service_provider", "recipient_id": "pr-shelter",
        "scope": ["contact", "identity"], "form": "written", "expires_at": "2027-03-01T09:00:00Z",
        "remind_at": "2027-02-22T09:00:00Z"}
    assert desk.timers == {"c-1#lapse": T0 + 90 * DAY}  # the fired reminder left the state
    [lapsed] = desk.advance_to(T0 + 200 * DAY)
    assert isinstance(lapsed, ConsentLapsed) and lapsed.expired_at == T0 + 90 * DAY
    assert lapsed.scope == [ConsentScope.CONTACT, ConsentScope.IDENTITY]
    assert desk.timers == {} and desk.advance_to(T0 + 400 * DAY) == []
    assert [type(p) for p in desk.published] == [ConsentExpiring, ConsentLapsed]  # each once


def test_the_reminder_window_is_the_policy() -> None:
    desk = Consents(policy=Policy(reminder=30 * DAY))
    desk.send(recorded("c-1", days=90))
    assert desk.timers["c-1#remind"] == T0 + 60 * DAY


def test_an_electronic_consent_is_reminded_of_too_and_a_verbal_one_arms_nothing() -> None:
    desk = Consents()
    desk.send(recorded("c-e", form="electronic"))
    desk.send(recorded("c-v", form="verbal"))
    assert set(desk.timers) == {"c-e#remind", "c-e#lapse"}  # verbal discloses nothing: nothing to end
    assert [(type(p), p.consent_id) for p in desk.advance_to(T0 + 84 * DAY) + desk.advance_to(T0 + 400 * DAY)] \
        == [(ConsentExpiring, "c-e"), (ConsentLapsed, "c-e")]


def test_a_consent_expired_before_it_was_recorded_arms_nothing() -> None:
    desk = Consents(now=T0 + 100 * DAY)
    desk.send(recorded("c-1", days=90))
    assert desk.timers == {} and desk.advance_to(T0 + 400 * DAY) == []
    assert "c-1" in desk.state.consents  # still kept: the dashboard shows it expired


def test_a_consent_shorter_than_the_window_has_no_reminder_but_lapses() -> None:
    desk = Consents()
    desk.send(recorded("c-1", days=5))
    assert desk.timers == {"c-1#lapse": T0 + 5 * DAY}
    assert [type(p) for p in desk.advance_to(T0 + 6 * DAY)] == [ConsentLapsed]


def test_a_consent_recorded_after_its_reminder_was_due_is_reminded_of_at_once() -> None:
    """Backdated (a paper consent entered late), or recorded while intake was down."""
    desk = Consents(now=T0 + 85 * DAY)
    desk.send(recorded("c-1", days=90))
    assert desk.timers == {"c-1#remind": T0 + 83 * DAY, "c-1#lapse": T0 + 90 * DAY}
    [reminder] = desk.advance_to(desk.now)
    assert isinstance(reminder, ConsentExpiring) and reminder.remind_at == T0 + 83 * DAY


def test_a_reminder_due_only_once_the_consent_lapsed_is_not_sent_the_lapse_tells() -> None:
    desk = Consents()
    desk.send(recorded("c-1", days=90))
    assert [type(p) for p in desk.advance_to(T0 + 95 * DAY)] == [ConsentLapsed]  # down over both
    assert desk.timers == {}


def test_a_revocation_disarms_both_and_one_before_its_consent_means_it_never_arms() -> None:
    desk = Consents()
    desk.send(recorded("c-1"))
    desk.send(recorded("c-2"))
    desk.send(revoked("c-1"))
    assert set(desk.timers) == {"c-2#remind", "c-2#lapse"}
    desk.send(revoked("c-3"))
    desk.send(recorded("c-3"))
    assert set(desk.timers) == {"c-2#remind", "c-2#lapse"}
    assert {p.consent_id for p in desk.advance_to(T0 + 400 * DAY)} == {"c-2"}


def test_a_revocation_after_the_reminder_stops_the_lapse_notice() -> None:
    desk = Consents()
    desk.send(recorded("c-1", days=90))
    assert [type(p) for p in desk.advance_to(T0 + 84 * DAY)] == [ConsentExpiring]
    desk.send(revoked("c-1"))
    assert desk.timers == {} and desk.advance_to(T0 + 400 * DAY) == []


def test_a_consent_id_recorded_again_arms_nothing_again() -> None:
    """A later record under the same id changes nothing (shared.consent.fold): not after its
    reminder fired, nor after it lapsed, nor with other dates or form."""
    desk = Consents()
    desk.send(recorded("c-1", days=90))
    assert len(desk.advance_to(T0 + 84 * DAY)) == 1
    again = recorded("c-1", days=200)
    desk.send(Inbound(id="rec-c-1-again", type=again.type, data=again.data, subject="case-1"))
    assert desk.timers == {"c-1#lapse": T0 + 90 * DAY}
    assert [type(p) for p in desk.advance_to(T0 + 400 * DAY)] == [ConsentLapsed]
    desk.send(Inbound(id="rec-c-1-late", type=again.type, data=again.data, subject="case-1"))
    assert desk.timers == {} and [type(p) for p in desk.published] == [ConsentExpiring, ConsentLapsed]


def test_a_timer_fired_twice_or_for_nothing_says_nothing_more() -> None:
    """The kit fires a timer once; ``decide`` on its own is idempotent too."""
    state, _ = decide(None, recorded("c-1", days=90), T0, policy=POLICY)
    remind = Inbound.timer("case-1", "c-1#remind", T0 + 83 * DAY)
    state, first = decide(state, remind, T0 + 83 * DAY, policy=POLICY)
    state, second = decide(state, remind, T0 + 83 * DAY, policy=POLICY)
    assert len(first) == 1 and second == [] and state is not None and "c-1#remind" not in state.timers
    assert state.told == ["c-1#remind"]
    assert decide(None, remind, T0, policy=POLICY) == (None, [])
    assert decide(state, Inbound.timer("case-1", "c-9#lapse", T0), T0, policy=POLICY)[1] == []


def test_a_reminder_is_not_sent_when_a_newer_consent_already_covers_every_scope() -> None:
    desk = Consents()
    desk.send(recorded("c-1", days=90))
    desk.send(recorded("c-2", days=300))  # the person renewed it in time
    desk.send(recorded("c-3", scope=("identity",), days=60, recipient=(RecipientKind.AGENCY, "HPD")))
    out = desk.advance_to(T0 + 55 * DAY) + desk.advance_to(T0 + 95 * DAY)
    assert [(type(p).__name__, p.consent_id) for p in out] == [  # c-1's reminder, at day 83: c-2 covers it
        ("ConsentExpiring", "c-3"), ("ConsentLapsed", "c-3"), ("ConsentLapsed", "c-1")]


def test_a_consent_id_with_dots_reads_back_from_its_timer_name() -> None:
    desk = Consents()
    desk.send(recorded("c.1.2026"))
    assert set(desk.timers) == {timer_name("c.1.2026", "remind"), timer_name("c.1.2026", "lapse")}
    assert not [name for name in desk.timers if "." in name]  # a document key holds no '.'
    assert {p.consent_id for p in desk.advance_to(T0 + 400 * DAY)} == {"c.1.2026"}


def test_the_events_name_the_recipient_by_kind_and_id_and_nothing_of_the_person() -> None:
    desk = Consents()
    desk.send(recorded("c-1"))
    for payload in desk.advance_to(T0 + 400 * DAY):
        assert set(payload.model_dump()) <= {"case_id", "consent_id", "recipient_kind", "recipient_id", "scope",
                                             "form", "expires_at", "remind_at", "expired_at"}
