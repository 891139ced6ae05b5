"""Synthetic traffic for the whole system: agencies report, specialists answer, cases move.

The simulation plays every outside party on the real topics: agencies publish encounters
at a steady rate; specialists accept, decline or ignore their referrals by configurable
shares; accepted cases get their stabilization milestones, interview requests and
certification requests; specialists ask providers from the directory for a service for
some urgent needs, and the providers accept and complete, decline (the next one named is
asked) or ignore them; before most requests the person consents to let that provider see
their identity and contact (written or electronic, a few only verbally; a few revoke it
later); certifying officials record signatures and grants. It watches
the services' own events to react and to count. Everything it makes up is synthetic, and
its people have made-up names (the intake vault keeps them; nothing else should).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.cloudevents import CONTENT_TYPE
from shared.contracts.vocabulary import INDICATORS
from shared.kafka import connection, ensure_topics, stopped
from shared.settings import Settings
from shared.topics import CATALOGUE, INBOUND_TOPICS, dlq, spec

REGIONS = {"US-TX": 0.4, "US-CA": 0.25, "US-NY": 0.2, "US-FL": 0.15}
LANGUAGES = {"es": 0.45, "en": 0.25, "zh": 0.08, "vi": 0.07, "ar": 0.05, "fr": 0.05, "ht": 0.05}
AGENCIES = [("TX-DPS", "state", "US-TX"), ("HPD", "local", "US-TX"), ("LAPD", "local", "US-CA"),
            ("NYPD", "local", "US-NY"), ("FBI-MIA", "federal", "US-FL"), ("HSI-NY", "federal", "US-NY")]
NEEDS = ["medical", "shelter", "safety", "food", "clothing", "legal", "childcare"]
GIVEN = ["Ana", "Li", "Minh", "Fatima", "Rosa", "Jean", "Maria", "Wei", "Amal", "Lucia"]
FAMILY = ["Garcia", "Nguyen", "Chen", "Haddad", "Pierre", "Lopez", "Tran", "Ramirez"]
WATCHED = ("cases.opened", "referrals.events", "stabilization.events", "certifications.events", "services.events")
# Every topic a service consumes has a dead-letter topic (the status streams have no reader here).
DLQ_TOPICS = sorted(dlq(t) for t in CATALOGUE if t not in ("cases.status", "certifications.status"))


@dataclass(frozen=True)
class Shares:
    """How the simulated people behave, as shares between 0 and 1."""

    accept: float = 0.75  # of referrals, accepted by the specialist
    decline: float = 0.15  # declined (the rest are ignored: the SLA escalates them)
    minors: float = 0.15
    interviews: float = 0.6  # of accepted cases, an interview is requested
    certifications: float = 0.35  # of accepted cases, a certification is requested
    malformed: float = 0.0  # of encounters, sent broken (the DLQ and an alert)
    services: float = 0.5  # of an accepted case's urgent needs, met through a provider from the directory
    provider_declines: float = 0.2  # of service requests, declined by the provider (the rest: completed)
    consents: float = 0.6  # of service requests, a written or electronic consent for that provider first
    verbal_consents: float = 0.1  # a verbal one (recorded, discloses nothing); the rest: no consent
    revocations: float = 0.07  # of the consents recorded, revoked a little later (about 5 % of requests)


@dataclass
class Summary:
    published: int = 0
    malformed: int = 0
    opened: set[str] = field(default_factory=set)
    assigned: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)
    escalations: int = 0
    unassigned_events: int = 0
    interviews: dict[str, str] = field(default_factory=dict)  # interview id -> cleared/deferred
    certifications: dict[str, str] = field(default_factory=dict)  # certification id -> status
    services: dict[str, str] = field(default_factory=dict)  # service request id -> what became of it
    consents: dict[str, str] = field(default_factory=dict)  # consent id -> its form
    revoked: set[str] = field(default_factory=set)  # consent ids revoked
    dead_letters: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def table(self) -> list[tuple[str, str]]:
        interviews = Counter(self.interviews.values())
        certs = Counter(self.certifications.values())
        consents = ", ".join(f"{k} {v}" for k, v in sorted(Counter(self.consents.values()).items()))
        return [
            ("encounters published", f"{self.published} (+{self.malformed} malformed)"),
            ("cases opened", str(len(self.opened))),
            ("cases assigned a specialist", str(len(self.assigned))),
            ("referrals accepted", str(len(self.accepted))),
            ("escalations (SLA missed)", str(self.escalations)),
            ("unassigned alerts", str(self.unassigned_events)),
            ("interviews cleared / deferred", f"{interviews['cleared']} / {interviews['deferred']}"),
            ("certifications by status", ", ".join(f"{k} {v}" for k, v in sorted(certs.items())) or "none"),
            ("service requests by outcome", ", ".join(f"{k} {v}" for k, v in
                                                      sorted(Counter(self.services.values()).items())) or "none"),
            ("consents by form", consents + (f"; {len(self.revoked)} revoked" if self.revoked else "") or "none"),
            ("dead letters (new)", ", ".join(f"{k} {v}" for k, v in self.dead_letters.items() if v) or "none"),
            ("elapsed", f"{self.elapsed:.1f} s"),
        ]


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def consent_for(rng: random.Random, shares: Shares, case_id: str, provider_id: str, by: dict[str, str],
                now: datetime) -> dict[str, Any] | None:
    """What the person consents to before a request to this provider (``consents.recorded``'s
    data), or None: most let it see their identity and contact, a few their case's status too,
    for 30 to 180 days; some consent only verbally (recorded, discloses nothing); the rest not."""
    roll = rng.random()
    if roll >= shares.consents + shares.verbal_consents:
        return None
    form = rng.choice(["written", "electronic"]) if roll < shares.consents else "verbal"
    scope = ["identity", "contact"] + (["case_status"] if rng.random() < 0.2 else [])
    return {"case_id": case_id, "consent_id": f"cs-{uuid.uuid4().hex[:12]}", "recorded_by": by, "scope": scope,
            "recipient": {"kind": "service_provider", "id": provider_id}, "form": form,
            "given_at": now.isoformat(), "expires_at": (now + timedelta(days=rng.randint(30, 180))).isoformat()}


class Simulation:
    def __init__(self, settings: Settings, encounters: int, rate: float, *, shares: Shares | None = None,
                 seed: int | None = None, respond_within: float = 2.0, run_id: str | None = None) -> None:
        self.settings = settings
        self.count = encounters
        self.rate = rate
        self.shares = shares or Shares()
        self.rng = random.Random(seed)
        # The consents draw from a stream of their own: a seeded run plays the rest as it did without them.
        self.consent_rng = random.Random(None if seed is None else f"consents-{seed}")
        self.respond_within = respond_within
        self.run = run_id or uuid.uuid4().hex[:6]
        self.summary = Summary()
        self.encounters: dict[str, dict[str, Any]] = {}  # encounter id -> data
        self.case_of: dict[str, str] = {}  # case id -> encounter id
        self.answered: set[str] = set()  # referral ids already answered
        self.followed: set[str] = set()  # cases whose follow-up was published
        self.providers: dict[str, dict[str, Any]] = {}  # the directory, read at the start
        self.producer: AIOKafkaProducer | None = None
        self.tasks: set[asyncio.Task[Any]] = set()

    # -- what the outside parties publish ----------------------------------------------

    def encounter(self, index: int) -> dict[str, Any]:
        rng = self.rng
        agency, level, region = rng.choice(AGENCIES)
        minor = rng.random() < self.shares.minors
        languages = [_pick(rng, LANGUAGES)] + (["en"] if rng.random() < 0.3 else [])
        codes = [f"{c}.{code}" for c, codes in INDICATORS.items() for code in sorted(codes) if rng.random() < 0.08]
        if minor and rng.random() < 0.5:
            codes.append("minor.older_partner")
        needs = sorted(set(rng.sample(NEEDS, rng.choice([0, 1, 1, 2, 3]))))
        encounter_id = f"SIM-{self.run}-{index:05d}"
        return {
            "encounter_id": encounter_id, "agency": {"id": agency, "name": f"{agency} (simulated)", "level": level},
            "reported_by": {"officer_id": f"officer-{rng.randint(1, 40)}",
                            "email": f"officer{rng.randint(1, 40)}@{agency.lower()}.example.gov"},
            "occurred_at": datetime.now(UTC).isoformat(), "region": region,
            "person": {"given_name": rng.choice(GIVEN), "family_name": rng.choice(FAMILY),
                       "age_estimate": rng.randint(12, 17) if minor else rng.randint(18, 55),
                       "languages": languages, "interpreter_needed": "en" not in languages},
            "indicators": codes, "urgent_needs": needs,
            "narrative": "Synthetic encounter generated by casework simulate.",
        }

    async def publish(self, topic: str, type_: str, subject: str, data: dict[str, Any]) -> None:
        event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "casework/simulate", "type": type_,
                 "time": datetime.now(UTC).isoformat(), "subject": subject,
                 "datacontenttype": "application/json", "data": data}
        await self.send(topic, subject, json.dumps(event).encode())

    async def send(self, topic: str, key: str, value: bytes) -> None:
        assert self.producer is not None
        await self.producer.send_and_wait(self.settings.topic(topic), value, key=key.encode(),
                                          headers=[("content-type", CONTENT_TYPE.encode())])

    def later(self, delay: float, action: Callable[[], Any]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            await action()
        task = asyncio.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def report_encounters(self, progress: Callable[[int], None]) -> None:
        interval = 1 / self.rate
        start = time.monotonic()
        for index in range(self.count):
            await asyncio.sleep(max(0.0, start + index * interval - time.monotonic()))
            if self.rng.random() < self.shares.malformed:
                await self.send("encounters.reported", f"SIM-{self.run}-bad-{index}",
                                b'{"specversion": "1.0", "type": "casework.encounter.reported.v1", "data": {')
                self.summary.malformed += 1
            else:
                data = self.encounter(index)
                self.encounters[data["encounter_id"]] = data
                await self.publish("encounters.reported", "casework.encounter.reported.v1", data["encounter_id"], data)
                self.summary.published += 1
            progress(index + 1)

    # -- how they react to the services' events ------------------------------------------

    async def on_event(self, topic: str, event: dict[str, Any]) -> None:
        data, kind = event.get("data") or {}, event.get("type", "")
        case_id = data.get("case_id", "")
        if topic == "cases.opened":
            if data.get("encounter_id") in self.encounters:
                self.case_of[case_id] = data["encounter_id"]
                self.summary.opened.add(case_id)
            return
        if case_id not in self.case_of:
            return
        s = self.summary
        if kind == "casework.referral.assigned.v1":
            s.assigned.add(case_id)
            self.answer(data)
        elif kind == "casework.referral.accepted.v1":
            s.accepted.add(case_id)
            if case_id not in self.followed:
                self.followed.add(case_id)
                self.follow_up(case_id, data)
        elif kind == "casework.referral.escalated.v1":
            s.escalations += 1
        elif kind == "casework.case.unassigned.v1":
            s.unassigned_events += 1
        elif kind == "casework.interview.cleared.v1":
            s.interviews[data["interview_id"]] = "cleared"
        elif kind == "casework.interview.deferred.v1":
            s.interviews.setdefault(data["interview_id"], "deferred")
        elif topic == "certifications.events" and "status" in data and data.get("certification_id"):
            s.certifications[data["certification_id"]] = data["status"]
        elif topic == "services.events":
            self.on_service(kind.removeprefix("casework.service.").removesuffix(".v1"), data)

    def answer(self, assigned: dict[str, Any]) -> None:
        referral = assigned["referral_id"]
        if referral in self.answered:
            return
        self.answered.add(referral)
        roll = self.rng.random()
        if roll >= self.shares.accept + self.shares.decline:
            return  # ignored: the acknowledgement SLA will escalate it
        response = "accepted" if roll < self.shares.accept else "declined"
        data = {"case_id": assigned["case_id"], "referral_id": referral, "specialist_id": assigned["specialist_id"],
                "response": response} | ({"reason": "caseload full"} if response == "declined" else {})
        self.later(self.rng.uniform(0.05, self.respond_within), lambda: self.publish(
            "referrals.responded", "casework.referral.responded.v1", assigned["case_id"], data))

    def follow_up(self, case_id: str, accepted: dict[str, Any]) -> None:
        encounter = self.encounters[self.case_of[case_id]]
        by = {"id": accepted["specialist_id"], "role": "victim_specialist"}
        steps: list[dict[str, Any]] = [{"kind": "needs_assessed", "urgent_needs": encounter["urgent_needs"]}]
        steps += [{"kind": "urgent_need_met", "need": need} for need in encounter["urgent_needs"]]
        if encounter["person"]["interpreter_needed"]:
            steps.append({"kind": "interpreter_arranged", "language": encounter["person"]["languages"][0],
                          "mode": self.rng.choice(["in_person", "telephonic"]),
                          "attestations": {"no_relationship_to_person": True, "no_ties_to_trafficker": True,
                                           "not_victim_advocate": True, "gender_preference_respected": True}})
        steps.append({"kind": "rights_explained"})
        if encounter["person"]["age_estimate"] < 18 and self.rng.random() < 0.9:
            steps.insert(0, {"kind": "hhs_notified"})
        through_providers = [need for need in encounter["urgent_needs"] if self.rng.random() < self.shares.services
                             and self.provider_for(need, encounter)]
        steps = [m for m in steps if not (m["kind"] == "urgent_need_met" and m["need"] in through_providers)]
        delay = 0.0
        for need in through_providers:
            provider_id = self.provider_for(need, encounter)
            self.later(0.3, partial(self.request_service, case_id, by, need, provider_id))
        for milestone in steps:
            delay += self.rng.uniform(0.05, 0.4)
            record = {"case_id": case_id, "recorded_by": by, "milestone": milestone}
            self.later(delay, partial(self.publish, "stabilization.recorded", "casework.stabilization.recorded.v1",
                                      case_id, record))
        if self.rng.random() < self.shares.interviews:
            self.later(delay + 0.3, lambda: self.request_interview(case_id, encounter))
        if self.rng.random() < self.shares.certifications:
            self.later(delay + 0.5, lambda: self.request_certification(case_id, encounter))

    def provider_for(self, need: str, encounter: dict[str, Any], asked: frozenset[str] = frozenset()) -> str | None:
        """A provider from the directory serving the need where the person is, accepting, not asked yet."""
        region = encounter["region"]
        for provider_id, p in sorted(self.providers.items()):
            covers = any(r in ("*", region) or region.startswith(f"{r}-") for r in p.get("regions", ()))
            if need in p.get("kinds", ()) and covers and p.get("accepting", True) and provider_id not in asked:
                return provider_id
        return None

    async def request_service(self, case_id: str, by: dict[str, str], need: str, provider_id: str | None) -> None:
        """The specialist asks the provider; the person's consent for it, if any, goes first."""
        if provider_id is None:
            return
        request = {"case_id": case_id, "service_request_id": f"sr-{uuid.uuid4().hex[:12]}", "provider_id": provider_id,
                   "need": need, "requested_by": by,
                   "share": self.rng.choice([[], ["case_status"], ["identity", "contact"]])}
        consent = consent_for(self.consent_rng, self.shares, case_id, provider_id, by, datetime.now(UTC))
        if consent is not None:
            await self.publish("consents.recorded", "casework.consent.recorded.v1", case_id, consent)
            self.summary.consents[consent["consent_id"]] = consent["form"]
            if self.consent_rng.random() < self.shares.revocations:
                self.later(self.consent_rng.uniform(1.0, 5.0) * self.respond_within,
                           partial(self.revoke_consent, case_id, by, consent["consent_id"]))
        await self.publish("services.requested", "casework.service.requested.v1", case_id, request)

    async def revoke_consent(self, case_id: str, by: dict[str, str], consent_id: str) -> None:
        """The person withdraws a consent (the specialist records it)."""
        await self.publish("consents.revoked", "casework.consent.revoked.v1", case_id, {
            "case_id": case_id, "consent_id": consent_id, "revoked_by": by, "at": datetime.now(UTC).isoformat()})
        self.summary.revoked.add(consent_id)

    def on_service(self, kind: str, data: dict[str, Any]) -> None:
        """A provider answers what it was sent; a specialist asks the next provider named after a decline."""
        request_id, case_id = data.get("service_request_id", ""), data["case_id"]
        self.summary.services[request_id] = kind.removeprefix("request_")
        if kind == "request_sent":
            respond = "declined" if self.rng.random() < self.shares.provider_declines else "accepted"
            answer = {"case_id": case_id, "service_request_id": request_id, "provider_id": data["provider_id"]}

            async def answered() -> None:
                await self.publish("services.responded", "casework.service.responded.v1", case_id, answer | (
                    {"response": "declined", "reason": "no_capacity"} if respond == "declined"
                    else {"response": "accepted"}))
                if respond == "accepted":
                    await asyncio.sleep(self.rng.uniform(0.1, self.respond_within))
                    await self.publish("services.responded", "casework.service.responded.v1", case_id,
                                       answer | {"response": "completed"})
            self.later(self.rng.uniform(0.05, self.respond_within), answered)
        elif kind == "declined" and data.get("next_provider_id"):
            by = {"id": data["specialist_id"], "role": "victim_specialist"}
            self.later(0.1, partial(self.request_service, case_id, by, data["need"], data["next_provider_id"]))

    async def read_directory(self) -> None:
        """The provider directory as it stands (``providers.registered``, compacted: the last word wins)."""
        consumer = AIOKafkaConsumer(**connection(self.settings, "operator"), group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            partition = TopicPartition(self.settings.topic("providers.registered"), 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            while await consumer.position(partition) < end:
                for records in (await consumer.getmany(partition, timeout_ms=500)).values():
                    for record in records:
                        key = record.key.decode() if record.key else ""
                        if record.value is None:
                            self.providers.pop(key, None)
                            continue
                        try:
                            self.providers[key] = json.loads(record.value)["data"]
                        except (ValueError, KeyError, TypeError):
                            continue
        finally:
            await stopped(consumer)

    async def request_interview(self, case_id: str, encounter: dict[str, Any]) -> None:
        location = self.rng.choices(["neutral", "shelter", "police_station"], weights=[0.6, 0.25, 0.15])[0]
        await self.publish("interviews.requested", "casework.interview.requested.v1", case_id, {
            "case_id": case_id, "interview_id": f"int-{uuid.uuid4().hex[:10]}",
            "requested_by": {"officer_id": encounter["reported_by"]["officer_id"],
                             "agency_id": encounter["agency"]["id"],
                             "email": encounter["reported_by"]["email"]},
            "proposed_at": (datetime.now(UTC) + timedelta(days=2)).isoformat(), "location_type": location})

    async def request_certification(self, case_id: str, encounter: dict[str, Any]) -> None:
        kind = self.rng.choices(["continued_presence", "t_visa_declaration", "u_visa_certification"],
                                weights=[0.6, 0.2, 0.2])[0]
        certification = f"cert-{uuid.uuid4().hex[:10]}"
        agency = encounter["agency"]
        await self.publish("certifications.requested", "casework.certification.requested.v1", case_id, {
            "case_id": case_id, "certification_id": certification, "kind": kind,
            "requested_by": {"officer_id": encounter["reported_by"]["officer_id"], "agency_id": agency["id"],
                             "agency_level": agency["level"]}})
        signatory = {"name": "Chief A. Official", "title": "Chief of Police", "capacity": "agency_head"}
        steps: dict[str, list[tuple[str, dict[str, str] | None]]] = {
            "continued_presence": [("granted", None)],
            "t_visa_declaration": [("signed", signatory), ("submitted", None)],
            "u_visa_certification": [("signed", signatory), ("submitted", None)]}
        records = steps[kind]
        for step, (status, signed_by) in enumerate(records, start=1):
            data = {"case_id": case_id, "certification_id": certification, "status": status,
                    "at": datetime.now(UTC).isoformat()} | ({"signed_by": signed_by} if signed_by else {})
            self.later(0.3 * step, partial(self.publish, "certifications.recorded",
                                           "casework.certification.recorded.v1", case_id, data))

    # -- the run ---------------------------------------------------------------------------

    async def dlq_offsets(self, consumer: AIOKafkaConsumer) -> dict[str, int]:
        """Each dead-letter topic's end; one the services have not made (nothing dead-lettered there) is 0."""
        existing = await consumer.topics()
        parts = [TopicPartition(self.settings.topic(t), 0) for t in DLQ_TOPICS if self.settings.topic(t) in existing]
        ends = await consumer.end_offsets(parts) if parts else {}
        return {t: ends.get(TopicPartition(self.settings.topic(t), 0), 0) for t in DLQ_TOPICS}

    async def execute(self, progress: Callable[[int], None] = lambda _: None, *, settle: float = 10.0) -> Summary:
        await ensure_topics(self.settings, sorted(INBOUND_TOPICS), principal="operator")  # the services make the rest
        started = time.monotonic()
        self.producer = AIOKafkaProducer(**connection(self.settings, "operator"), acks="all",
                                         enable_idempotence=True)
        consumer = AIOKafkaConsumer(**connection(self.settings, "operator"),
                                    group_id=f"{self.settings.topic_prefix}casework.simulate.{self.run}",
                                    auto_offset_reset="latest", enable_auto_commit=False)
        await self.producer.start()
        await self.read_directory()
        await consumer.start()
        try:
            before = await self.dlq_offsets(consumer)
            topics = {self.settings.topic(t): t for t in WATCHED}
            consumer.subscribe(list(topics))
            while len(consumer.assignment()) < sum(spec(t).partitions for t in WATCHED):
                await consumer.getmany(timeout_ms=100)  # joins the group; a new group starts at the end
            watcher = asyncio.create_task(self.watch(consumer, topics))
            await self.report_encounters(progress)
            await self.quiesce(settle)
            if watcher.done():
                watcher.result()  # the watcher died: say why instead of a summary that looks quiet
            watcher.cancel()
            after = await self.dlq_offsets(consumer)
            self.summary.dead_letters = {t: after[t] - before[t] for t in DLQ_TOPICS}
        finally:
            for task in list(self.tasks):
                task.cancel()
            await stopped(consumer)
            await self.producer.stop()
        self.summary.elapsed = time.monotonic() - started
        return self.summary

    async def watch(self, consumer: AIOKafkaConsumer, topics: dict[str, str]) -> None:
        while True:
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                for record in records:
                    try:
                        await self.on_event(topics[tp.topic], json.loads(record.value))
                    except (ValueError, KeyError, TypeError):
                        continue

    async def quiesce(self, settle: float) -> None:
        """Wait until every case is opened and the reactions are out, then ``settle`` more."""
        deadline = time.monotonic() + max(60.0, self.count / max(self.rate, 1) * 2)
        while time.monotonic() < deadline and (len(self.summary.opened) < self.summary.published or self.tasks):
            await asyncio.sleep(0.2)
        await asyncio.sleep(settle)
