"""Choosing a victim specialist (rule 1, rule 3, D2, D4): table tests on the pure matcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.referral.matching import Roster, Specialist, choose

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def sp(specialist_id: str, *, languages: str = "en", regions: str = "US-TX", on_duty: bool = True,
       max_cases: int = 10, load: int = 0, last: int | None = None) -> Specialist:
    return Specialist(specialist_id=specialist_id, languages=frozenset(languages.split()),
                      regions=tuple(regions.split()), on_duty=on_duty, max_active_cases=max_cases, load=load,
                      last_assigned_at=T0 + timedelta(minutes=last) if last is not None else None)


CASES = [
    # (why, roster, region, languages, declined, timed_out, expected)
    ("language match beats a lower load", [sp("a", load=5), sp("b", languages="es", load=8)],
     "US-TX", ["es"], (), (), "b"),
    ("a BCP 47 tag matches on its primary language", [sp("a"), sp("b", languages="es")],
     "US-TX", ["es-MX"], (), (), "b"),
    ("no language match: still assigned, lowest load ratio", [sp("a", load=4), sp("b", load=2)],
     "US-TX", ["vi"], (), (), "b"),
    ("load ratio, not raw load", [sp("a", load=2, max_cases=4), sp("b", load=3, max_cases=10)],
     "US-TX", ["en"], (), (), "b"),
    ("region must match", [sp("a", regions="US-CA"), sp("b", regions="US-TX", load=9)],
     "US-TX", ["en"], (), (), "b"),
    ("nobody covers the region", [sp("a", regions="US-CA")], "US-TX", ["en"], (), (), None),
    ("'*' covers any region", [sp("a", regions="US-CA"), sp("w", regions="*")],
     "US-NY", ["en"], (), (), "w"),
    ("a country covers its subdivisions", [sp("us", regions="US")], "US-NY", ["en"], (), (), "us"),
    ("a country does not cover another country", [sp("us", regions="US")], "MX-CHH", ["en"], (), (), None),
    ("full specialists are skipped", [sp("a", languages="es", load=3, max_cases=3), sp("b")],
     "US-TX", ["es"], (), (), "b"),
    ("max_active_cases 0 takes nothing", [sp("a", max_cases=0)], "US-TX", ["en"], (), (), None),
    ("everyone full: none", [sp("a", load=1, max_cases=1), sp("b", load=2, max_cases=2)],
     "US-TX", ["en"], (), (), None),
    ("off duty is skipped", [sp("a", on_duty=False), sp("b", load=5)], "US-TX", ["en"], (), (), "b"),
    ("tie on ratio: least recently assigned", [sp("a", last=5), sp("b", last=1), sp("c", last=3)],
     "US-TX", ["en"], (), (), "b"),
    ("never assigned counts as least recent", [sp("a", last=1), sp("b")], "US-TX", ["en"], (), (), "b"),
    ("full tie: the id decides", [sp("c"), sp("a"), sp("b")], "US-TX", ["en"], (), (), "a"),
    ("a decline excludes the specialist", [sp("a", languages="es"), sp("b")], "US-TX", ["es"], ("a",), (), "b"),
    ("a decline excludes even the only one", [sp("a")], "US-TX", ["en"], ("a",), (), None),
    ("a timeout excludes from the next choice", [sp("a", languages="es"), sp("b", load=9)],
     "US-TX", ["es"], (), ("a",), "b"),
    ("timed out is the last resort when nobody else can", [sp("a", languages="es"), sp("b", on_duty=False)],
     "US-TX", ["es"], (), ("a",), "a"),
    ("declined stays excluded even as last resort", [sp("a"), sp("b")], "US-TX", ["en"], ("a",), ("b",), "b"),
    ("last resort: the oldest timeout first", [sp("a"), sp("b")], "US-TX", ["en"], (), ("a", "b", "a"), "b"),
]


@pytest.mark.parametrize(("why", "specialists", "region", "languages", "declined", "timed_out", "expected"),
                         CASES, ids=[c[0] for c in CASES])
def test_choose(why, specialists, region, languages, declined, timed_out, expected) -> None:
    chosen = choose(Roster.of(specialists), region, languages, declined=frozenset(declined),
                    timed_out=timed_out)
    assert (chosen.specialist_id if chosen else None) == expected, why


def test_a_batch_spreads_its_cases_as_it_assigns() -> None:
    roster = Roster.of([sp("a", max_cases=2), sp("b", max_cases=2)])
    picks = []
    for minute in range(5):
        chosen = choose(roster, "US-TX", ["en"])
        picks.append(chosen.specialist_id if chosen else None)
        if chosen:
            roster = roster.assigned(chosen.specialist_id, T0 + timedelta(minutes=minute))
    assert picks == ["a", "b", "a", "b", None]
