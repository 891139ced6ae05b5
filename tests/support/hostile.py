"""Hostile Kafka records for every topic a service reads, interleaved with valid ones (pure, seeded).

A :class:`Fuzz` made with a seed gives the same records every time. Each record says what
must become of it: ``valid`` (processed: its effect exactly once), ``dlq`` (dead-lettered
by every service that reads the topic) or ``skip`` (a well-formed event of another
``casework.`` type on an internal topic, which readers pass over). ``valid`` records are
hostile too where the contract allows it: bidirectional and zero-width characters in free
text, duplicate JSON keys whose last value is valid, whitespace up to the size limit,
hostile Kafka headers, an event id another source also used, an exact repeat.

The canary (a person's name) is seeded in the payloads of hostile and valid records and in
hostile header values; it may appear only in the dead letters' copies of what came in.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from shared.contracts.audit import AuditRecorded
from shared.contracts.certifications import CERTIFICATION_EVENTS
from shared.contracts.consents import CONSENT_EVENTS
from shared.contracts.intake import CaseCorrected, CaseOpened, CaseWithdrawn, EncounterUnprocessable
from shared.contracts.notifications import NOTIFICATION_EVENTS
from shared.contracts.referrals import REFERRAL_EVENTS
from shared.contracts.stabilization import STABILIZATION_EVENTS
from shared.contracts.support import SERVICE_EVENTS
from shared.topics import CATALOGUE, INBOUND_TOPICS
from tests.support import events

CANARY = events.CANARY_GIVEN  # what is searched for
SEEDED = f"{events.CANARY_GIVEN} {events.CANARY_FAMILY}"  # what is seeded: a name, never an id
MAX_BYTES = 256 * 1024  # the services' default record limit (KitSettings.max_message_bytes)
AT = "2026-11-30T08:15:00+00:00"  # every event's time: the same seed gives the same bytes

# Every topic some service reads, with the types its readers expect there.
INTERNAL_TYPES: dict[str, tuple[str, ...]] = {
    "cases.opened": (CaseOpened.TYPE, CaseCorrected.TYPE, CaseWithdrawn.TYPE),
    "intake.events": (EncounterUnprocessable.TYPE,),
    "referrals.events": tuple(p.TYPE for p in REFERRAL_EVENTS),
    "stabilization.events": tuple(p.TYPE for p in STABILIZATION_EVENTS),
    "services.events": tuple(p.TYPE for p in SERVICE_EVENTS),
    "consents.events": tuple(p.TYPE for p in CONSENT_EVENTS),
    "certifications.events": tuple(p.TYPE for p in CERTIFICATION_EVENTS),
    "notifications.events": tuple(p.TYPE for p in NOTIFICATION_EVENTS),
    "audit.events": (AuditRecorded.TYPE,),
}
INBOUND_TYPES: dict[str, str] = {
    "encounters.reported": "casework.encounter.reported.v1",
    "roster.specialists": "casework.specialist.registered.v1",
    "referrals.responded": "casework.referral.responded.v1",
    "stabilization.recorded": "casework.stabilization.recorded.v1",
    "interviews.requested": "casework.interview.requested.v1",
    "certifications.requested": "casework.certification.requested.v1",
    "certifications.recorded": "casework.certification.recorded.v1",
}
# A case's life: hostile records only (a valid close would end the cases the follow-ups need);
# their valid effects are tested in the case-life tests.
CASE_LIFE_TYPES: dict[str, str] = {
    "cases.closed": "casework.case.closed.v1",
    "cases.reopened": "casework.case.reopened.v1",
    "referrals.reassigned": "casework.referral.reassigned.v1",
}
# The provider directory and service requests: hostile records only here (their valid effects:
# the support-services tests).
DIRECTORY_TYPES: dict[str, str] = {"providers.registered": "casework.provider.registered.v1"}
SERVICE_TYPES: dict[str, str] = {"services.requested": "casework.service.requested.v1",
                                 "services.responded": "casework.service.responded.v1"}
CONSENT_TYPES: dict[str, str] = {"consents.recorded": "casework.consent.recorded.v1",
                                 "consents.revoked": "casework.consent.revoked.v1"}
HOSTILE_ONLY: dict[str, str] = CASE_LIFE_TYPES | DIRECTORY_TYPES | SERVICE_TYPES | CONSENT_TYPES
TOPICS: tuple[str, ...] = (*INBOUND_TYPES, *HOSTILE_ONLY, *INTERNAL_TYPES)
assert set(INBOUND_TYPES) | set(HOSTILE_ONLY) == INBOUND_TOPICS

BIDI = ("\u202e", "\u202d", "\u2066", "\u2069", "\u200f", "\u061c")
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
CONTROL = ("\x00", "\x1b[31m", "\x07", "\x08", "\r", "\n", "\x7f", "\x1f")

Headers = list[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Record:
    """One record to publish, and what must become of it."""

    topic: str  # the contract name
    value: bytes | None
    key: bytes | None
    headers: Headers
    expect: str  # "valid", "dlq" or "skip"
    kind: str  # what makes it hostile (or "valid")
    effect: tuple[str, str] | None = None  # for a valid record: (what, whose), e.g. ("case", "TX-DPS/ENC-1")


@dataclass(frozen=True)
class CaseRef:
    """A case the system opened, for the events that refer to it."""

    case_id: str
    referral_id: str
    specialist_id: str


def _dumps(event: Any) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


@dataclass
class Fuzz:
    seed: int
    rng: random.Random = field(init=False)
    counter: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- what can be valid ----------------------------------------------------------------

    def _n(self) -> int:
        self.counter += 1
        return self.counter

    def _id(self) -> str:
        return f"fz-{self.seed}-{self._n()}-{self.rng.getrandbits(32):08x}"

    def encounter(self, *, agency: str = "TX-DPS", event_id: str | None = None,
                  source: str | None = None) -> dict[str, Any]:
        event = events.encounter(f"ENC-{self._id()}", event_id=event_id or self._id(),
                                 agency={"id": agency, "name": f"{agency} agency", "level": "state"},
                                 region="US-TX", person={"given_name": SEEDED})
        event["source"] = source or f"agency/{agency}"
        event["time"] = AT
        return event

    def specialist(self, *, event_id: str | None = None, source: str = "casework/roster") -> dict[str, Any]:
        event = events.specialist(f"fz-vs-{self._id()}", on_duty=False, regions=["US-TX", "*"])
        event["id"] = event_id or self._id()
        event["source"] = source
        event["time"] = AT
        return event

    def follow_ups(self, case: CaseRef) -> list[dict[str, Any]]:
        """One valid event for each of the other inbound topics, about a case that exists."""
        def ce(type_: str, data: dict[str, Any]) -> dict[str, Any]:
            return events.cloudevent(type_, {"case_id": case.case_id} | data, subject=case.case_id,
                                     event_id=self._id(), source="app/fuzz") | {"time": AT}
        cp = f"cp-{self._id()}"
        return [
            ce(INBOUND_TYPES["referrals.responded"], {"referral_id": case.referral_id,
                                                      "specialist_id": case.specialist_id,
                                                      "response": "accepted"}),
            ce(INBOUND_TYPES["stabilization.recorded"], {"recorded_by": {"id": case.specialist_id,
                                                                         "role": "victim_specialist"},
                                                         "milestone": {"kind": "rights_explained"}}),
            ce(INBOUND_TYPES["interviews.requested"], {
                "interview_id": f"int-{self._id()}", "proposed_at": "2026-12-03T15:00:00Z",
                "location_type": "neutral", "requested_by": {"officer_id": "officer-17", "agency_id": "TX-DPS"}}),
            ce(INBOUND_TYPES["certifications.requested"], {
                "certification_id": cp, "kind": "continued_presence",
                "requested_by": {"officer_id": "agent-3", "agency_id": "FBI-MIA", "agency_level": "federal"}}),
            ce(INBOUND_TYPES["certifications.recorded"], {"certification_id": cp, "status": "granted",
                                                          "at": "2026-11-30T12:00:00Z"}),
        ]

    # -- the mix ------------------------------------------------------------------------

    def opening(self, count: int, *, valid_share: float = 0.08) -> list[Record]:
        """Phase one: hostile records on every topic, valid encounters and roster entries among them."""
        out: list[Record] = []
        while len(out) < count:
            if self.rng.random() < valid_share:
                out += self._valid_opening()
            else:
                out.append(self.hostile(self.rng.choice(TOPICS)))
        return out

    def following(self, cases: Sequence[CaseRef], count: int) -> list[Record]:
        """Phase two: the cases' follow-up events (with hostile headers) among hostile records."""
        valid = [self._valid(e["type"], e, "valid", effect=(topic_of(e["type"]), e["data"]["case_id"]))
                 for case in cases for e in self.follow_ups(case)]
        hostile = [self.hostile(self.rng.choice(TOPICS)) for _ in range(max(0, count - len(valid)))]
        # valid ones keep their order (a grant follows its request); hostile ones fall between them
        out: list[Record] = []
        spots = sorted(self.rng.randrange(len(valid) + 1) for _ in hostile)
        h = 0
        for i, record in enumerate(valid):
            while h < len(spots) and spots[h] <= i:
                out.append(hostile[h])
                h += 1
            out.append(record)
        return out + hostile[h:]

    def _valid_opening(self) -> list[Record]:
        pick = self.rng.random()
        if pick < 0.55:
            e = self.encounter(agency=self.rng.choice(["TX-DPS", "HPD", "FBI-MIA"]))
            variant = self.rng.choice(VALID_VARIANTS)
            return [self._valid_encounter(e, variant)]
        if pick < 0.7:  # an exact repeat: one case
            e = self.encounter()
            first = self._valid_encounter(e, "valid")
            return [first, replace(first, kind="repeat", headers=self.headers(valid=True))]
        if pick < 0.8:  # the same event id from two agencies: two cases
            shared_id = self._id()
            a, b = (self.encounter(agency=agency, event_id=shared_id) for agency in ("TX-DPS", "HPD"))
            return [self._valid_encounter(a, "reused-id"), self._valid_encounter(b, "reused-id")]
        s = self.specialist()
        return [self._valid(s["type"], s, "valid-roster", effect=("specialist", s["data"]["specialist_id"]))]

    def _valid_encounter(self, e: dict[str, Any], variant: str) -> Record:
        d = e["data"]
        effect = ("case", f"{d['agency']['id']}/{d['encounter_id']}")
        if variant == "bidi-text":
            d["narrative"] = f"{self.rng.choice(BIDI)}{SEEDED}{self.rng.choice(ZERO_WIDTH)} {d['narrative']}"
            d["setting"] = f"{self.rng.choice(BIDI)}traffic stop{self.rng.choice(ZERO_WIDTH)}"
            d["person"]["aliases"] = [f"{SEEDED}{z}" for z in ZERO_WIDTH]
        elif variant == "duplicate-keys":
            text = _dumps(e).decode()
            # the first "region" is wrong, the last is valid: a JSON parser keeps the last
            text = text.replace('"region": "US-TX"', f'"region": "{SEEDED}", "region": "US-TX"', 1)
            return Record("encounters.reported", text.encode(), d["encounter_id"].encode(),
                          self.headers(valid=True), "valid", variant, effect)
        elif variant == "near-limit":
            body = _dumps(e)
            pad = MAX_BYTES - len(body) - self.rng.randint(0, 64)
            value = body[:-1] + b" " * pad + b"}"
            return Record("encounters.reported", value, d["encounter_id"].encode(), self.headers(valid=True),
                          "valid", variant, effect)
        elif variant == "long-text":
            d["narrative"] = (SEEDED + " ") * (19_000 // (len(SEEDED) + 1))
        elif variant == "hostile-attributes":  # what the envelope allows: any printable text, extensions
            e["subject"] = f"{self.rng.choice(BIDI)}{SEEDED}"
            e["correlationid"] = f"{SEEDED}{self.rng.choice(ZERO_WIDTH)}"
            e["dataschema"] = f"urn:{SEEDED}"
            e["agencynote"] = SEEDED
            e["priority7"] = 10**18
        elif variant == "hostile-key":  # the key is the producer's: any bytes
            return Record("encounters.reported", _dumps(e), self.rng.choice([b"\xff\xfe" + SEEDED.encode("utf-16"),
                                                                            None, b"k" * 4096, SEEDED.encode()]),
                          self.headers(valid=True), "valid", variant, effect)
        return self._valid("casework.encounter.reported.v1", e, variant, effect=effect)

    def _valid(self, type_: str, event: dict[str, Any], kind: str, *, effect: tuple[str, str]) -> Record:
        topic = topic_of(type_)
        key = (event.get("subject") or "").encode() or None
        return Record(topic, _dumps(event), key, self.headers(valid=True), "valid", kind, effect)

    # -- hostile --------------------------------------------------------------------------

    def headers(self, *, valid: bool = False) -> Headers:
        """Kafka headers: often hostile, whether the record is valid or not."""
        r = self.rng
        out: Headers = [("content-type", b"application/cloudevents+json")] if r.random() < 0.5 else []
        for _ in range(r.choice([0, 0, 1, 2, 3])):
            name = r.choice(["correlation_id", "content-type", "traceparent", "x-dlq-error", "x-dlq-source",
                             "reply_to", f"x-{r.choice(BIDI)}h", f"h{r.choice(CONTROL)}", SEEDED, "ce_id"])
            value = r.choice([
                lambda: b"\xff\xfe\xfa" + SEEDED.encode("utf-16"),  # not UTF-8
                lambda: SEEDED.encode() + b"\xc3\x28",  # a broken sequence
                lambda: None,  # a header with no value
                lambda: b"x" * r.choice([1024, 64 * 1024]),  # huge
                lambda: f"{r.choice(BIDI)}{SEEDED}{r.choice(CONTROL)}".encode(),
                lambda: bytes(r.getrandbits(8) for _ in range(r.randint(0, 40))),
                lambda: b"",
                lambda: r.choice(ZERO_WIDTH).encode() * 3,
            ])()
            out.append((name, value))
        return out

    def hostile(self, topic: str) -> Record:
        maker = self.rng.choice(MUTATIONS)
        value, expect, kind = maker(self, topic)
        key_choice = self.rng.random()
        key: bytes | None
        if key_choice < 0.2:
            key = None
        elif key_choice < 0.3:
            key = b"\xff\xfe" + SEEDED.encode("utf-16")
        elif key_choice < 0.35:
            key = b"k" * 4096
        else:
            key = f"fz-key-{self.rng.getrandbits(24)}".encode()
        if key is None and (value is None or CATALOGUE[topic].compacted):
            key = b"\xff"  # Kafka takes no record without both, and none without a key on a compacted topic
        return Record(topic, value, key, self.headers(), expect, kind)

    def template(self, topic: str) -> dict[str, Any]:
        """A valid-looking event for the topic, about no case that exists."""
        case_id = f"CASE-{self._id()}"
        if topic == "encounters.reported":
            return self.encounter()
        if topic == "roster.specialists":
            return self.specialist()
        if topic in DIRECTORY_TYPES:
            provider_id = f"fz-pr-{self._id()}"
            data = {"provider_id": provider_id, "name": f"Provider {provider_id}", "kinds": ["shelter"],
                    "regions": ["US-TX"], "languages": ["en"], "email": f"{provider_id}@providers.example.org"}
            return events.cloudevent(DIRECTORY_TYPES[topic], data, subject=provider_id, event_id=self._id(),
                                     source="casework/providers") | {"time": AT}
        if topic in SERVICE_TYPES:
            data = {"case_id": case_id, "service_request_id": f"sr-{self._id()}", "provider_id": "pr-fz"}
            data |= ({"need": "shelter", "requested_by": {"id": "vs-any-1", "role": "victim_specialist"},
                      "share": ["identity"]} if topic == "services.requested" else {"response": "accepted"})
            return events.cloudevent(SERVICE_TYPES[topic], data, subject=case_id, event_id=self._id(),
                                     source="app/fuzz") | {"time": AT}
        if topic in CONSENT_TYPES:
            actor = {"id": "vs-any-1", "role": "victim_specialist"}
            data = {"case_id": case_id, "consent_id": f"cs-{self._id()}"}
            data |= ({"recorded_by": actor, "scope": ["identity"], "form": "written",
                      "recipient": {"kind": "service_provider", "id": "pr-fz"},
                      "given_at": AT, "expires_at": "2027-05-30T08:15:00+00:00"}
                     if topic == "consents.recorded" else {"revoked_by": actor, "at": AT})
            return events.cloudevent(CONSENT_TYPES[topic], data, subject=case_id, event_id=self._id(),
                                     source="app/fuzz") | {"time": AT}
        if topic in CASE_LIFE_TYPES:
            actor = {"id": "vs-any-1", "role": "victim_specialist"}
            data = {"cases.closed": {"closed_by": actor, "reason": "services_completed"},
                    "cases.reopened": {"reopened_by": actor, "reason": "re_engaged"},
                    "referrals.reassigned": {"requested_by": actor, "reason": "handover"}}[topic]
            return events.cloudevent(CASE_LIFE_TYPES[topic], {"case_id": case_id} | data, subject=case_id,
                                     event_id=self._id(), source="app/fuzz") | {"time": AT}
        if topic in INBOUND_TYPES:
            ref = CaseRef(case_id, f"ref-{self._id()}", "vs-any-1")
            [e] = [e for e in self.follow_ups(ref) if e["type"] == INBOUND_TYPES[topic]]
            return e
        type_ = self.rng.choice(INTERNAL_TYPES[topic])
        data = {"case_id": case_id, "region": "US-TX", "agency_id": "TX-DPS", "encounter_id": f"ENC-{self._id()}",
                "opened_at": "2026-11-30T08:15:00Z", "minor": False, "priority": "normal"}
        return events.cloudevent(type_, data, subject=case_id, source="casework/fuzz", event_id=self._id()) | {
            "time": AT}


def topic_of(type_: str) -> str:
    for topic, t in INBOUND_TYPES.items():
        if t == type_:
            return topic
    raise KeyError(type_)


# -- mutations: each returns (value, expect, kind) -----------------------------------------

Mutation = Callable[[Fuzz, str], tuple[bytes | None, str, str]]


def _not_json(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    r = f.rng
    body = _dumps(f.template(topic))
    return r.choice([
        lambda: body[: r.randrange(1, len(body) - 1)],  # truncated
        lambda: b"{" + SEEDED.encode() + b"}",
        lambda: bytes(r.getrandbits(8) for _ in range(r.randint(1, 300))),
        lambda: b"",
        lambda: b"NaN",
        lambda: body.replace(b":", b"=", 1),
        lambda: b"\xef\xbb\xbf" + body,  # a byte-order mark first
        lambda: body + b"\n" + body,  # two documents
    ])(), "dlq", "not-json"


def _non_utf8(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    body = _dumps(f.template(topic))
    bad = f.rng.choice([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"])
    at = body.find(b'"', body.find(b'"id"') + 5) + 1  # inside the id's string
    return body[:at] + bad + SEEDED.encode("latin-1") + body[at:], "dlq", "non-utf8"


def _tombstone(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    # on a compacted registration topic a tombstone with a key is valid (it unregisters); Fuzz.hostile
    # may give it one, so only topics without tombstones get this mutation's "dlq"
    if CATALOGUE[topic].compacted:
        return _not_json(f, topic)
    return None, "dlq", "tombstone"


def _wrong_type(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    e = f.template(topic)
    target = f.rng.choice(["envelope", "data"])
    holder = e if target == "envelope" or not isinstance(e.get("data"), dict) else e["data"]
    name = f.rng.choice([k for k in holder if k not in {"datacontenttype", "time", "subject"}] or ["id"])
    holder[name] = f.rng.choice([
        10**400, -(2**63) - 1, 1.7976931348623157e308, [SEEDED], {"v": SEEDED}, 3.5, SEEDED + "\x00",
    ])
    if holder is e and name == "data":
        holder[name] = SEEDED  # data must be an object
    return _dumps_lenient(e), "dlq", f"wrong-type:{target}.{name}"


def _dumps_lenient(e: Any) -> bytes:
    try:
        return _dumps(e)
    except ValueError:  # an int too long for str(): written by hand
        return json.dumps(e, default=str).encode()


def _unknown_field(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    e = f.template(topic)
    r = f.rng
    name = r.choice([SEEDED, f"given{r.choice(CONTROL)}name", f"{r.choice(BIDI)}type", f"id{r.choice(ZERO_WIDTH)}",
                     "data_base64", "Upper", "x" * 21, "", "\x00", "$where", "a.b", "__proto__"])
    where = r.choice(["envelope", "data", "nested"])
    if where == "envelope":
        if name == "":
            name = "\x01"
        e[name] = SEEDED
    elif where == "data":
        e["data"][name or "unknownfield"] = SEEDED
    else:
        nested = next((v for v in e["data"].values() if isinstance(v, dict)), None)
        if nested is None:
            e["data"]["givenname"] = {name: SEEDED}
        else:
            nested[name or "unknownfield"] = SEEDED
    return _dumps(e), "dlq", f"unknown-field:{where}"


def _hostile_id(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    """Identifiers with control, bidirectional or zero-width characters, or too long."""
    e = f.template(topic)
    r = f.rng
    ids = [k for k, v in e["data"].items() if k.endswith("_id") and isinstance(v, str)] if isinstance(
        e.get("data"), dict) else []
    bad = r.choice([f"{r.choice(BIDI)}ENC-1", f"ENC{r.choice(ZERO_WIDTH)}1", f"ENC{r.choice(CONTROL)}1",
                    "E" * 129, SEEDED, f"../{SEEDED}", "-leading"])
    if ids and r.random() < 0.7:
        e["data"][r.choice(ids)] = bad
        return _dumps(e), "dlq", "hostile-id:data"
    e["id"] = r.choice([f"\x00{SEEDED}", "i" * 257, f"{SEEDED}\n", ""])
    return _dumps(e), "dlq", "hostile-id:envelope"


def _deep(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    depth = f.rng.choice([64, 1000, 20_000])
    e = f.template(topic)
    holder = e["data"] if isinstance(e.get("data"), dict) else e
    holder[f.rng.choice(["person", "milestone", "screening", "plan", "nested"])] = "@@DEEP@@"
    nest = f.rng.choice([("[" * depth, "]" * depth), ('{"a":' * depth, "}" * depth)])
    text = _dumps(e).decode().replace('"@@DEEP@@"', nest[0] + json.dumps(SEEDED) + nest[1])
    return text.encode(), "dlq", f"deep-{depth}"


def _huge(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    e = f.template(topic)
    r = f.rng
    choice = r.choice(["over-limit", "long-string", "many-items", "huge-number"])
    if choice == "over-limit":  # whitespace past the byte limit: refused before parsing
        body = _dumps(e)
        value = body[:-1] + b" " * (MAX_BYTES - len(body) + r.randint(1, 4096)) + b"}"
        return value, "dlq", "over-limit"
    holder = e["data"] if isinstance(e.get("data"), dict) else e
    if choice == "long-string":
        name = r.choice([k for k, v in holder.items() if isinstance(v, str)] or ["case_id"])
        holder[name] = SEEDED * r.choice([2000, 20_000])  # past every string limit
    elif choice == "many-items":
        holder[r.choice(["languages", "regions", "indicators", "urgent_needs", "reasons"])] = [SEEDED] * 5000
    else:
        text = _dumps(e).decode()
        at = text.find("{", 1)
        digits = "9" * r.choice([400, 5000, 100_000])
        return (text[:at + 1] + f'"{SEEDED}": {digits}, ' + text[at + 1:]).encode(), "dlq", "huge-number"
    return _dumps(e), "dlq", f"huge:{choice}"


def _duplicate_keys(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    """The first value valid, the last not: a parser that kept the first would accept it."""
    e = f.template(topic)
    text = _dumps(e).decode()
    text = text.replace('"specversion": "1.0"', f'"specversion": "1.0", "specversion": "{SEEDED}"', 1)
    return text.encode(), "dlq", "duplicate-keys"


def _wrong_type_attribute(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    """A valid CloudEvent of a type this topic does not carry."""
    e = f.template(topic)
    others = [t for t in (*INBOUND_TYPES.values(), *HOSTILE_ONLY.values(),
                          *(t for ts in INTERNAL_TYPES.values() for t in ts))
              if t not in INTERNAL_TYPES.get(topic, ()) and t not in (INBOUND_TYPES.get(topic),
                                                                       HOSTILE_ONLY.get(topic))]
    foreign = f.rng.random() < 0.3
    e["type"] = f.rng.choice(["com.example.other.v1", "casework", "CASEWORK.ENCOUNTER.REPORTED.V1",
                              f"casework.{SEEDED}"]) if foreign else f.rng.choice(others)
    e["data"] = {"note": SEEDED} if f.rng.random() < 0.5 else e["data"]
    internal = topic not in INBOUND_TYPES and topic not in HOSTILE_ONLY
    expect = "skip" if internal and e["type"].startswith("casework.") and _well_formed(e) else "dlq"
    return _dumps(e), expect, "wrong-ce-type"


def _well_formed(e: dict[str, Any]) -> bool:
    from shared.cloudevents import CloudEvent

    try:
        CloudEvent.model_validate_json(_dumps(e))
    except ValueError:
        return False
    return True


def _envelope(f: Fuzz, topic: str) -> tuple[bytes | None, str, str]:
    """The envelope itself is wrong: its version, a missing attribute, not an object."""
    e = f.template(topic)
    r = f.rng
    choice = r.choice(["specversion", "missing", "time", "datacontenttype", "array", "data_base64"])
    if choice == "specversion":
        e["specversion"] = r.choice(["0.3", "1", 1.0, "1.0 "])
    elif choice == "missing":
        del e[r.choice(["id", "source", "type", "specversion", "data"])]
    elif choice == "time":
        e["time"] = r.choice(["2026-11-30T08:15:00", "yesterday", SEEDED, "9999-99-99T00:00:00Z"])
    elif choice == "datacontenttype":
        e["datacontenttype"] = r.choice(["text/plain", "application/xml", f"{SEEDED}/json"])
    elif choice == "array":
        return _dumps([e]), "dlq", "envelope:array"
    else:
        e["data_base64"] = SEEDED
    return _dumps(e), "dlq", f"envelope:{choice}"


MUTATIONS: tuple[Mutation, ...] = (
    _not_json, _non_utf8, _tombstone, _wrong_type, _unknown_field, _hostile_id, _deep, _huge,
    _duplicate_keys, _wrong_type_attribute, _envelope,
)
VALID_VARIANTS = ("valid", "valid", "bidi-text", "duplicate-keys", "near-limit", "long-text", "hostile-attributes",
                  "hostile-key")
