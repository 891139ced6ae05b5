"""``casework simulate`` without a broker: what the simulated specialists publish for their
service requests — the person's consents, in realistic shares, each for a provider asked on
that case and ahead of the request to it, valid against the v1 contract."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from casework.simulation import Shares, Simulation, consent_for
from shared.contracts.inbound import ConsentRecorded, ConsentRevoked, ServiceRequested
from shared.settings import Settings

CONTRACTS = {"consents.recorded": ConsentRecorded, "consents.revoked": ConsentRevoked,
             "services.requested": ServiceRequested}


class Recording(Simulation):
    """The simulation with its producer replaced by a list, in the order it published."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(Settings(), 0, 1.0, **kwargs)
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, topic: str, type_: str, subject: str, data: dict[str, Any]) -> None:
        if topic in CONTRACTS:
            CONTRACTS[topic].model_validate(data, strict=False)  # what publish would send is valid
        self.sent.append((topic, data))

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [data for t, data in self.sent if t == topic]


async def settled(simulation: Simulation) -> None:
    for _ in range(600):
        if not simulation.tasks:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the simulated reactions did not finish")


# Two providers for each need in Texas: a declined request names the other.
DIRECTORY = {f"pr-{kind}-{n}": {"provider_id": f"pr-{kind}-{n}", "kinds": [kind], "regions": ["US-TX"]}
             for kind in ("shelter", "medical", "legal") for n in (1, 2)}


async def simulate_requests(cases: int, seed: int) -> Recording:
    """Accepted cases whose urgent needs all go to providers; a quarter of the requests are
    declined with the next provider named (asked in turn)."""
    simulation = Recording(seed=seed, respond_within=0.01,
                           shares=Shares(services=1.0, interviews=0.0, certifications=0.0))
    simulation.providers = dict(DIRECTORY)
    for index in range(cases):
        encounter = simulation.encounter(index) | {"region": "US-TX", "urgent_needs": ["shelter", "medical", "legal"]}
        simulation.encounters[encounter["encounter_id"]] = encounter
        simulation.case_of[f"case-{index}"] = encounter["encounter_id"]
        await simulation.on_event("referrals.events", {"type": "casework.referral.accepted.v1", "data": {
            "case_id": f"case-{index}", "referral_id": f"ref-{index}", "specialist_id": f"vs-{index % 7}"}})
    await settled(simulation)
    for request in simulation.of("services.requested")[::4]:
        encounter = simulation.encounters[simulation.case_of[request["case_id"]]]
        following = simulation.provider_for(request["need"], encounter, frozenset({request["provider_id"]}))
        simulation.on_service("declined", request | {"specialist_id": request["requested_by"]["id"],
                                                     "next_provider_id": following})
    await settled(simulation)
    return simulation


async def test_consents_come_in_realistic_shares_each_for_a_provider_asked_on_its_case_and_first() -> None:
    simulation = await simulate_requests(250, seed=3)
    requests, recorded = simulation.of("services.requested"), simulation.of("consents.recorded")
    assert len(requests) > 800  # three needs a case, and the next providers asked after declines
    forms = Counter(c["form"] for c in recorded)
    assert 0.5 < (forms["written"] + forms["electronic"]) / len(requests) < 0.7, forms
    assert forms["written"] > 0 and forms["electronic"] > 0
    assert 0.06 < forms["verbal"] / len(requests) < 0.14, forms
    assert 0.22 < 1 - len(recorded) / len(requests) < 0.38
    revoked = simulation.of("consents.revoked")
    assert 0.02 < len(revoked) / len(requests) < 0.09, len(revoked)

    asked: dict[str, set[str]] = defaultdict(set)
    holder = {f"case-{i}": f"vs-{i % 7}" for i in range(250)}
    for topic, data in simulation.sent:  # in the order published: a consent before its request
        if topic == "services.requested":
            asked[data["case_id"]].add(data["provider_id"])
        elif topic == "consents.recorded":
            assert data["recipient"]["kind"] == "service_provider"
            assert data["recorded_by"] == {"id": holder[data["case_id"]], "role": "victim_specialist"}
    for consent in recorded:
        assert consent["recipient"]["id"] in asked[consent["case_id"]]
    positions = {(t, d["case_id"], d.get("provider_id") or d["recipient"]["id"]): i
                 for i, (t, d) in reversed(list(enumerate(simulation.sent)))
                 if t in ("consents.recorded", "services.requested")}
    assert all(positions[("consents.recorded", c["case_id"], c["recipient"]["id"])]
               < positions[("services.requested", c["case_id"], c["recipient"]["id"])] for c in recorded)
    assert len({c["consent_id"] for c in recorded}) == len(recorded)
    ids = {c["consent_id"]: c for c in recorded}
    assert all(r["consent_id"] in ids and r["case_id"] == ids[r["consent_id"]]["case_id"] for r in revoked)
    assert simulation.summary.consents == {c["consent_id"]: c["form"] for c in recorded}
    assert simulation.summary.revoked == {r["consent_id"] for r in revoked}
    assert dict(simulation.summary.table())["consents by form"].endswith(f"; {len(revoked)} revoked")


def test_a_consent_is_given_now_lets_the_provider_see_identity_and_contact_and_lasts_30_to_180_days() -> None:
    rng, now = random.Random(1), datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    by = {"id": "vs-1", "role": "victim_specialist"}
    made = [consent_for(rng, Shares(), "case-1", "pr-1", by, now) for _ in range(2000)]
    given = [c for c in made if c is not None]
    assert {c["given_at"] for c in given} == {now.isoformat()}
    lasting = {datetime.fromisoformat(c["expires_at"]) - now for c in given}
    assert min(lasting) >= timedelta(days=30) and max(lasting) <= timedelta(days=180)
    scopes = Counter(tuple(c["scope"]) for c in given)
    assert set(scopes) == {("identity", "contact"), ("identity", "contact", "case_status")}
    assert 0.1 < scopes[("identity", "contact", "case_status")] / len(given) < 0.3  # a few
    assert consent_for(rng, Shares(consents=0.0, verbal_consents=0.0), "case-1", "pr-1", by, now) is None
    assert consent_for(rng, Shares(consents=0.0, verbal_consents=1.0), "case-1", "pr-1", by, now)["form"] == "verbal"
