"""The person's consents as intake keeps them (pure): recorded once, revoked also before they
arrive, and which one — if any — lets a recipient see a scope now (P2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.consents import CaseConsents, Uncovered, covering, decide, why_not
from shared.contracts.inbound import ConsentRecorded, ConsentRevoked, ConsentScope, RecipientKind
from shared.kit import Inbound

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SHELTER = (RecipientKind.SERVICE_PROVIDER, "pr-shelter")
BY = {"id": "vs-1", "role": "victim_specialist"}


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


def fold(*events: Inbound) -> CaseConsents:
    state = None
    for event in events:
        state, out = decide(state, event, T0)
        assert out == []  # nothing published: consent gates what a recipient sees, nothing else
    assert state is not None
    return state


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
