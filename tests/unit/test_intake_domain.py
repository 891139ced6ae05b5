"""Intake rules as pure functions: screening, minors, priority, one case per encounter."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.intake import domain
from shared.cloudevents import reader
from shared.contracts.common import Priority, UrgentNeed
from shared.contracts.inbound import EncounterReported, EncounterWithdrawn, Person
from shared.contracts.intake import CaseCorrected, CaseWithdrawn
from shared.contracts.vocabulary import INDICATORS, MINOR_SIGNS
from shared.errors import InvalidEvent
from shared.kit import Inbound
from tests.support import events

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
OCCURRED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
OCCURRED_REPORTED = datetime(2026, 11, 30, 8, 15, tzinfo=UTC)  # the test encounters' occurred_at
ALL_CODES = sorted(f"{c}.{code}" for c, codes in INDICATORS.items() for code in codes)


def person(**fields) -> Person:
    return Person(languages=["en"], interpreter_needed=False, **fields)


def inbound(event: dict) -> Inbound:
    parsed = reader(EncounterReported).validate_json(events.encode(event))
    return Inbound(id=parsed.id, type=parsed.type, data=parsed.data, subject=parsed.subject)


@pytest.mark.parametrize(("born", "minor"), [
    (date(2008, 11, 30), False),  # 18 today
    (date(2008, 12, 1), True),  # 18 tomorrow
    (date(2008, 2, 29), False),
    (date(1990, 1, 1), False),
])
def test_minor_by_birth_date_at_the_encounter(born: date, minor: bool) -> None:
    assert domain.is_minor(person(date_of_birth=born), [], OCCURRED) is minor


@pytest.mark.parametrize(("estimate", "minor"), [(17, True), (18, False), (0, True), (None, False)])
def test_minor_by_age_estimate(estimate, minor) -> None:
    assert domain.is_minor(person(age_estimate=estimate), [], OCCURRED) is minor


@pytest.mark.parametrize("code", sorted(MINOR_SIGNS))
def test_minor_specific_indicators_make_a_minor(code: str) -> None:
    assert domain.is_minor(person(date_of_birth=date(1980, 1, 1)), [code], OCCURRED)


@pytest.mark.parametrize(("minor", "needs", "priority"), [
    (True, [], Priority.URGENT),
    (False, [UrgentNeed.MEDICAL], Priority.URGENT),
    (False, [UrgentNeed.SAFETY, UrgentNeed.FOOD], Priority.URGENT),
    (False, [UrgentNeed.SHELTER], Priority.HIGH),
    (False, [], Priority.NORMAL),
])
def test_priority(minor, needs, priority) -> None:
    assert domain.priority_of(minor, needs) is priority


def test_screening_counts_categories_and_keeps_unknown_codes() -> None:
    screening, unknown = domain.screen(["control.monitored_or_escorted", "control.cannot_contact_family",
                                        "labor.excessive_hours", "nonsense", "control.not_a_code"])
    assert screening.categories["control"] == 2 and screening.categories["labor"] == 1
    assert screening.categories["minor"] == 0 and screening.indicator_count == 3
    assert unknown == ["control.not_a_code", "nonsense"]


def test_case_opened_carries_no_identity_and_a_second_report_opens_nothing() -> None:
    event = inbound(events.encounter("ENC-1"))
    state, opened = domain.decide(None, event, NOW, sealed={"key_id": "k", "nonce": "n", "ciphertext": "c"})
    assert len(opened) == 1 and opened[0].case_id == state.case_id
    dumped = opened[0].model_dump_json() + state.model_dump_json()
    assert not [c for c in events.CANARIES if c in dumped]
    again, nothing = domain.decide(state, inbound(events.encounter("ENC-1")), NOW, sealed={})
    assert nothing == [] and again.case_id == state.case_id and again.reports == 2


@given(codes=st.lists(st.sampled_from([*ALL_CODES, "x.y", "unknown_code"]), max_size=30),
       needs=st.lists(st.sampled_from(list(UrgentNeed)), max_size=8, unique=True),
       estimate=st.none() | st.integers(0, 130))
def test_every_valid_encounter_opens_one_case_never_labelled(codes, needs, estimate) -> None:
    """Rule 1 and 2: whatever the screening says, a case opens, and nothing labels the person."""
    event = events.encounter(indicators=codes, urgent_needs=[n.value for n in needs],
                             person={"age_estimate": estimate, "date_of_birth": None})
    _state, opened = domain.decide(None, inbound(event), NOW, sealed={})
    assert len(opened) == 1
    data = opened[0].model_dump()
    assert "victim" not in str(data).lower()
    assert data["screening"]["indicator_count"] == sum(1 for c in codes if c in ALL_CODES)
    urgent = data["minor"] or bool({UrgentNeed.MEDICAL, UrgentNeed.SAFETY} & set(needs))
    assert (data["priority"] == Priority.URGENT) == urgent


SEALED = {"key_id": "k", "nonce": "n1", "ciphertext": "first"}
RESEALED = {"key_id": "k", "nonce": "n2", "ciphertext": "second"}
ADULT = {"date_of_birth": "1990-01-01", "age_estimate": None}
CHILD = {"date_of_birth": "2012-05-01", "age_estimate": None}


def withdrawn(encounter_id: str, **kw) -> Inbound:
    parsed = reader(EncounterReported, EncounterWithdrawn).validate_json(
        events.encode(events.withdrawal(encounter_id, **kw)))
    return Inbound(id=parsed.id, type=parsed.type, data=parsed.data, subject=parsed.subject,
                   source=parsed.source)


def test_the_first_revision_goes_on_case_opened() -> None:
    state, [opened] = domain.decide(None, inbound(events.encounter("ENC-r", revision=3)), NOW, sealed=SEALED)
    assert opened.revision == 3 and state.revision == 3


def test_a_higher_revision_corrects_and_reveals_a_minor_once() -> None:
    state, _ = domain.decide(None, inbound(events.encounter("ENC-c", person=ADULT, urgent_needs=[])), NOW,
                             sealed=SEALED)
    assert state.priority is Priority.NORMAL and not state.minor
    later = datetime(2026, 11, 30, 13, 0, tzinfo=UTC)
    child = events.encounter("ENC-c", revision=1, person=CHILD, urgent_needs=["food"])
    state, [corrected] = domain.decide(state, inbound(child), later, sealed=RESEALED)
    assert isinstance(corrected, CaseCorrected)
    assert corrected.minor and corrected.minor_revealed and corrected.priority is Priority.URGENT
    assert corrected.revision == 1 and corrected.corrected_at == later and corrected.urgent_needs == ["food"]
    assert corrected.occurred_at == OCCURRED_REPORTED and corrected.case_id == state.case_id
    assert state.vault == RESEALED and state.revision == 1 and state.minor and state.priority is Priority.URGENT
    assert not [c for c in events.CANARIES if c in corrected.model_dump_json() + state.model_dump_json()]
    # Still a minor in the next correction: not revealed again.
    state, [again] = domain.decide(state, inbound(events.encounter("ENC-c", revision=2, person=CHILD)), later,
                                   sealed=SEALED)
    assert again.minor and not again.minor_revealed
    # A correction back to an adult, then to a minor: the minor was shown before, not revealed.
    state, [adult] = domain.decide(state, inbound(events.encounter("ENC-c", revision=3, person=ADULT)), later,
                                   sealed=SEALED)
    assert not adult.minor and not state.minor and state.showed_minor
    state, [child_again] = domain.decide(state, inbound(events.encounter("ENC-c", revision=4, person=CHILD)),
                                         later, sealed=SEALED)
    assert child_again.minor and not child_again.minor_revealed


@pytest.mark.parametrize("revision", [0, 1, 2])
def test_a_lower_or_equal_revision_is_a_repeat(revision: int) -> None:
    state, _ = domain.decide(None, inbound(events.encounter("ENC-s", revision=2, person=ADULT)), NOW, sealed=SEALED)
    stale = events.encounter("ENC-s", revision=revision, person=CHILD)
    after, emitted = domain.decide(state, inbound(stale), NOW, sealed=RESEALED)
    assert emitted == [] and after.vault == SEALED and not after.minor and after.revision == 2
    assert after.model_dump(exclude={"reports"}) == state.model_dump(exclude={"reports"})


def test_a_withdrawal_withdraws_once_and_an_unknown_one_is_refused() -> None:
    state, _ = domain.decide(None, inbound(events.encounter("ENC-w")), NOW, sealed=SEALED)
    state, [gone] = domain.decide(state, withdrawn("ENC-w", reason="duplicate"), NOW, sealed=None)
    assert isinstance(gone, CaseWithdrawn) and gone.reason == "duplicate" and gone.case_id == state.case_id
    assert state.withdrawn == "duplicate" and state.vault == SEALED  # nothing is deleted
    again, nothing = domain.decide(state, withdrawn("ENC-w", reason="other"), NOW, sealed=None)
    assert nothing == [] and again == state
    with pytest.raises(InvalidEvent) as refused:
        domain.decide(None, withdrawn("ENC-none"), NOW, sealed=None)
    assert refused.value.kind == "UnknownEncounter"


def test_a_withdrawal_is_keyed_by_its_agency_and_encounter() -> None:
    assert domain.aggregate_of(withdrawn("E-1", agency_id="CA-HP").data) == "CA-HP|E-1"
    assert domain.aggregate_of(inbound(events.encounter("E-1")).data) == "TX-DPS|E-1"
