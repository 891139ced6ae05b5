"""Every transition of every certification kind, valid and invalid (C1-C3, T1-T2, U1-U4).

Each starting status is reached through real events (and the expiry timer), then every
recorded status is tried. An accepted record publishes the change and the snapshot; a
refused one publishes only ``CertificationUpdateRejected`` and leaves the state untouched.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.certification.state import Policy
from shared.contracts.certifications import (
    CaseCertifications,
    CertificationStatusChanged,
    CertificationUpdateRejected,
)
from tests.support import events
from tests.support.certification import T0, Desk

CP, T, U = "continued_presence", "t_visa_declaration", "u_visa_certification"
RECORDED = ("signed", "submitted", "granted", "denied", "withdrawn", "renewed")
DAY = timedelta(days=1)

# The expected table, written out independently of the service's own.
VALID: dict[str, dict[str, set[str]]] = {
    CP: {"requested": {"submitted", "granted", "denied", "withdrawn"},
         "submitted": {"granted", "denied", "withdrawn"},
         "granted": {"renewed", "withdrawn"},
         "renewed": {"renewed", "withdrawn"},
         "expired": {"renewed"},  # only a renewal made before the lapse, recorded late
         "denied": set(), "withdrawn": set()},
    T: {"requested": {"signed", "denied", "withdrawn"},
        "signed": {"submitted", "withdrawn"},
        "submitted": {"granted", "denied", "withdrawn"},
        "granted": set(), "denied": set(), "withdrawn": set()},
    U: {"requested": {"signed", "denied", "withdrawn"},
        "signed": {"signed", "submitted", "withdrawn"},  # re-signing starts a new six months
        "submitted": {"granted", "denied", "withdrawn"},
        "expired": {"signed", "submitted"},  # a filing made in time, recorded late
        "granted": set(), "denied": set(), "withdrawn": set()},
}

# How each starting status is reached: records after the request, "expire" = the timer.
PATHS: dict[str, list[str]] = {
    "requested": [], "submitted": ["submitted"], "granted": ["granted"], "denied": ["denied"],
    "withdrawn": ["withdrawn"], "renewed": ["granted", "renewed"], "signed": ["signed"],
}
PATHS_BY_KIND = {
    CP: PATHS | {"expired": ["granted", "expire"]},
    T: PATHS | {"submitted": ["signed", "submitted"], "granted": ["signed", "submitted", "granted"]},
    U: PATHS | {"submitted": ["signed", "submitted"], "granted": ["signed", "submitted", "granted"],
                "expired": ["signed", "expire"]},
}


def reach(kind: str, status: str) -> Desk:
    desk = Desk()
    desk.send(events.certification_requested("case-1", "cert-1", kind))
    for step, record in enumerate(PATHS_BY_KIND[kind][status], start=1):
        if record == "expire":
            desk.advance_to(desk.cert("cert-1").lapses_at())
        else:
            desk.send(record_event(record, T0 + step * DAY))
    assert desk.cert("cert-1").status == status
    return desk


def record_event(status: str, at) -> dict:
    return events.certification_recorded("case-1", "cert-1", status, at, signed_by=events.SIGNATORY)


CASES = [(kind, start, wanted) for kind, table in VALID.items() for start in table for wanted in RECORDED]


@pytest.mark.parametrize(("kind", "start", "wanted"), CASES, ids=[f"{k}:{s}->{w}" for k, s, w in CASES])
def test_transition(kind: str, start: str, wanted: str) -> None:
    desk = reach(kind, start)
    before = desk.state
    out = desk.send(record_event(wanted, T0 + 10 * DAY))  # before any deadline: only the table decides
    if wanted in VALID[kind][start]:
        change, snapshot = out
        assert isinstance(change, CertificationStatusChanged) and isinstance(snapshot, CaseCertifications)
        assert (change.previous_status, change.status, change.kind) == (start, wanted, kind)
        assert desk.cert("cert-1").status == wanted
        assert snapshot.version == before.version + 1
        assert [c.status for c in snapshot.certifications] == [wanted]
    else:
        [rejected] = out
        assert isinstance(rejected, CertificationUpdateRejected)
        assert (rejected.reason, rejected.status, rejected.attempted, rejected.kind) == (
            "invalid_transition", start, wanted, kind)
        assert desk.state == before  # never applied


@pytest.mark.parametrize("wanted", RECORDED)
def test_anything_on_an_unknown_certification_is_rejected_once_its_request_never_came(wanted: str) -> None:
    grace = Policy().orphan_grace
    desk = Desk()
    assert desk.send(record_event(wanted, T0)) == []  # an unknown case: waits for its request
    desk.send(events.certification_requested("case-1", "cert-other", U))
    before = desk.cert("cert-other")
    assert desk.send(record_event(wanted, T0)) == []  # e.g. granted before it was requested
    assert desk.advance_to(T0 + grace - timedelta(seconds=1)) == []
    refusals = desk.advance_to(T0 + grace)
    assert len(refusals) == 2 and all(isinstance(r, CertificationUpdateRejected) for r in refusals)
    for refusal in refusals:
        assert (refusal.reason, refusal.kind, refusal.status, refusal.attempted) == (
            "unknown_certification", None, None, wanted)
    assert desk.state.parked == [] and desk.state.timers == {}
    assert [c.certification_id for c in desk.state.certifications] == ["cert-other"]
    assert desk.cert("cert-other") == before  # nothing applied anywhere
    assert desk.advance_to(T0 + 10 * grace) == []  # rejected once


def test_records_that_overtake_their_request_are_applied_when_it_arrives() -> None:
    # The inbound topics are not ordered with each other: a backlog may deliver these first.
    desk = Desk()
    assert desk.send(record_event("signed", T0 + DAY)) == []
    assert desk.send(record_event("submitted", T0 + 2 * DAY)) == []
    out = desk.send(events.certification_requested("case-1", "cert-1", U))
    changes = [e for e in out if isinstance(e, CertificationStatusChanged)]
    assert [(c.previous_status, c.status) for c in changes] == [
        (None, "requested"), ("requested", "signed"), ("signed", "submitted")]
    [snapshot] = [e for e in out if isinstance(e, CaseCertifications)]  # one snapshot per event
    assert snapshot.version == 1 and snapshot.certifications[0].status == "submitted"
    assert desk.state.parked == [] and desk.state.timers == {}


def test_an_overtaking_record_the_rules_refuse_is_rejected_when_the_request_arrives() -> None:
    desk = Desk()
    desk.send(events.certification_recorded("case-1", "cert-1", "signed", T0,
                                            signed_by=events.SIGNATORY | {"capacity": "other"}))
    out = desk.send(events.certification_requested("case-1", "cert-1", U))
    [refusal] = [e for e in out if isinstance(e, CertificationUpdateRejected)]
    assert (refusal.reason, refusal.status) == ("invalid_signatory", "requested")
    assert desk.cert("cert-1").status == "requested"


def test_a_second_request_under_the_same_id_is_rejected_not_applied() -> None:
    desk = Desk()
    desk.send(events.certification_requested("case-1", "cert-1", CP, agency_level="federal"))
    before = desk.state
    [rejected] = desk.send(events.certification_requested("case-1", "cert-1", U))
    assert isinstance(rejected, CertificationUpdateRejected)
    assert (rejected.reason, rejected.kind, rejected.attempted) == ("already_requested", CP, "requested")
    assert desk.state == before
