"""The provider directory: the picker's filter (pure) and the directory file's checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from casework.commands.providers import parse
from casework.registrations import RegistrationError
from services.status.providers import ProviderQuery, matching
from shared.contracts.inbound import ProviderKind

ROOT = Path(__file__).resolve().parents[2]


def doc(pid: str, name: str, kinds: list[str], regions: list[str], languages: list[str], *,
        accepting: bool = True, removed: bool = False) -> dict:
    return {"_id": pid, "name": name, "kinds": kinds, "regions": regions, "languages": languages,
            "accepting": accepting, "removed": removed, "offset": 1}


DIRECTORY = [
    doc("p-shelter-tx", "Safe Harbor", ["shelter", "food"], ["US-TX"], ["en", "es"]),
    doc("p-shelter-full", "Another Roof", ["shelter"], ["US"], ["es"], accepting=False),
    doc("p-legal-any", "Legal Line", ["legal"], ["*"], ["en", "fr"]),
    doc("p-gone", "Closed Down", ["shelter"], ["US-TX"], ["es"], removed=True),
]


@pytest.mark.parametrize(("query", "expected"), [
    (ProviderQuery(), ["p-legal-any", "p-shelter-tx", "p-shelter-full"]),
    (ProviderQuery(kind=ProviderKind.SHELTER), ["p-shelter-tx", "p-shelter-full"]),
    (ProviderQuery(kind=ProviderKind.SHELTER, region="US-TX", language="es-MX"), ["p-shelter-tx", "p-shelter-full"]),
    (ProviderQuery(kind=ProviderKind.SHELTER, region="US-CA"), ["p-shelter-full"]),  # a country covers its states
    (ProviderQuery(kind=ProviderKind.SHELTER, language="fr"), []),
    (ProviderQuery(region="US-NY", language="FR"), ["p-legal-any"]),  # * covers any region; tags match on case
    (ProviderQuery(kind=ProviderKind.MEDICAL), []),
])
def test_the_picker_finds_by_kind_region_and_language_accepting_first(query: ProviderQuery,
                                                                      expected: list[str]) -> None:
    assert [p["provider_id"] for p in matching(DIRECTORY, query)] == expected


def test_an_entry_shows_what_a_specialist_picks_by_and_nothing_else() -> None:
    [found] = matching([DIRECTORY[0] | {"email": "x@example.org"}], ProviderQuery())
    assert found == {"provider_id": "p-shelter-tx", "name": "Safe Harbor", "kinds": ["shelter", "food"],
                     "regions": ["US-TX"], "languages": ["en", "es"], "accepting": True}


def test_the_demo_directory_is_valid_and_covers_the_urgent_needs_in_texas() -> None:
    entries = parse((ROOT / "examples" / "providers.yaml").read_text())
    providers = [p for _, p in entries if p is not None]
    texas = {k for p in providers if "US-TX" in p.regions or "*" in p.regions for k in p.kinds}
    assert {"shelter", "medical", "legal", "safety", "food", "interpretation"} <= texas
    assert any(not p.accepting for p in providers)


@pytest.mark.parametrize(("change", "expected"), [
    (("kinds: [legal]", "kinds: [spaceship]"), "entry 3 ('pr-tx-immigrant-legal'): field 'kinds.0'"),
    (("kinds: [legal]", "kinds: []"), "entry 3 ('pr-tx-immigrant-legal'): field 'kinds'"),
    (("email: casework@tx-legal-aid.example.org", "email: nobody"), "field 'email'"),
    (("provider_id: pr-ca-casa-esperanza", "provider_id: pr-tx-safe-harbor"), "provider_id appears more than once"),
])
def test_a_wrong_directory_entry_is_named(change: tuple[str, str], expected: str) -> None:
    text = (ROOT / "examples" / "providers.yaml").read_text().replace(*change)
    with pytest.raises(RegistrationError) as caught:
        parse(text)
    assert any(expected in p for p in caught.value.problems), caught.value.problems
