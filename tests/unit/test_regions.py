"""What a region pattern covers (shared.regions): the one meaning referral and notify share."""

from __future__ import annotations

import pytest

from services.notify.audience import Contact
from services.referral.matching import Specialist
from shared.contracts.notifications import RecipientRole
from shared.regions import covers

CASES = [
    # (why, patterns, region, covered)
    ("'*' covers a subdivision", ["*"], "US-TX", True),
    ("'*' covers a country", ["*"], "MX", True),
    ("a region covers itself", ["US-TX"], "US-TX", True),
    ("a country covers itself", ["US"], "US", True),
    ("a country covers its subdivisions", ["US"], "US-TX", True),
    ("a country covers a numbered subdivision", ["MX"], "MX-CHH", True),
    ("a subdivision does not cover its country", ["US-TX"], "US", False),
    ("a subdivision does not cover a sibling", ["US-TX"], "US-CA", False),
    ("a country does not cover another country", ["US"], "MX-CHH", False),
    ("a prefix of a subdivision is not that subdivision", ["US-T"], "US-TX", False),
    ("a longer code that starts alike is not covered", ["US"], "USA-TX", False),
    ("a country is not covered by a lookalike", ["US"], "UST", False),
    ("any one pattern of several is enough", ["US-CA", "MX"], "MX-CHH", True),
    ("none of several", ["US-CA", "US-NY"], "US-TX", False),
    ("no patterns cover nothing", [], "US-TX", False),
]


@pytest.mark.parametrize(("why", "patterns", "region", "covered"), CASES, ids=[c[0] for c in CASES])
def test_covers(why: str, patterns: list[str], region: str, covered: bool) -> None:
    assert covers(patterns, region) is covered


@pytest.mark.parametrize(("why", "patterns", "region", "covered"), CASES, ids=[c[0] for c in CASES])
def test_referral_and_notify_mean_the_same(why: str, patterns: list[str], region: str, covered: bool) -> None:
    specialist = Specialist(specialist_id="sp-1", languages=frozenset({"en"}), regions=tuple(patterns),
                            on_duty=True, max_active_cases=1)
    contact = Contact(id="sup-1", role=RecipientRole.SUPERVISOR, regions=patterns)
    assert specialist.covers(region) is covered and contact.covers(region) is covered
