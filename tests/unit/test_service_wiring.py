"""Subscriber wiring without servers: FastStream's ``TestKafkaBroker`` in front of the in-memory kit.

The services are built by the same ``bootstrap`` as in production; only the backend (the
in-memory store) and the publisher (a recording one) differ, and the broker is FastStream's
in-memory test broker. A record published on a topic must reach the right consumer, its
workflow, the outbox and, when it cannot be read, the dead-letter topic.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker

from services.certification.app import bootstrap as certification
from services.intake.app import bootstrap as intake
from services.stabilization.app import bootstrap as stabilization
from shared.crypto import KeyRing
from shared.kit.memory import MemoryBackend, RecordingPublisher
from shared.kit.service import Service
from shared.settings import IntakeSettings, Settings
from tests.support import events

PREFIX = "unit."


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    spare = IntakeSettings(dev_keyring_path=tmp_path / "keyring.json", dev_vault_reader_token_path=tmp_path / "reader")
    return Settings(topic_prefix=PREFIX, intake=spare)


@pytest.fixture
def recorded() -> RecordingPublisher:
    return RecordingPublisher()


async def publish(service: Service, topic: str, value: dict | bytes, key: str) -> None:
    body = json.dumps(value).encode() if isinstance(value, dict) else value
    await service.broker.publish(body, PREFIX + topic, key=key.encode(),
                                 headers={"content-type": "application/cloudevents+json"})


@pytest.fixture
async def intake_service(settings: Settings, recorded: RecordingPublisher) -> AsyncIterator[Service]:
    ring = KeyRing({"k1": os.urandom(32)}, "k1")
    service = intake(settings, keyring=ring, backend=MemoryBackend(), publisher=recorded)
    async with TestKafkaBroker(service.broker):
        yield service


async def test_an_encounter_opens_a_case_through_the_subscriber(intake_service: Service,
                                                                 recorded: RecordingPublisher) -> None:
    encounter = events.encounter("ENC-1")
    await publish(intake_service, "encounters.reported", encounter, "ENC-1")
    await publish(intake_service, "encounters.reported", encounter, "ENC-1")  # redelivered
    opened = recorded.on("cases.opened")
    assert len(opened) == 1 and json.loads(opened[0]["value"])["data"]["encounter_id"] == "ENC-1"
    assert not any(canary in opened[0]["value"] for canary in events.CANARIES)


async def test_an_unreadable_encounter_is_dead_lettered_and_alerted(intake_service: Service,
                                                                    recorded: RecordingPublisher) -> None:
    await publish(intake_service, "encounters.reported", b"{not json", "ENC-2")
    assert [(r.topic, r.value) for r in recorded.raw] == [(PREFIX + "encounters.reported.dlq", b"{not json")]
    assert recorded.raw[0].headers["x-dlq-error-type"] == "ValidationError"
    assert [e["type"] for e in recorded.on("intake.events")] == ["casework.encounter.unprocessable.v1"]


async def test_each_service_reads_its_own_topics(settings: Settings, recorded: RecordingPublisher) -> None:
    plans = stabilization(settings, backend=MemoryBackend(), publisher=recorded)
    files = certification(settings, backend=MemoryBackend(), publisher=recorded)
    case_id = "case-1"
    milestone = events.cloudevent("casework.stabilization.recorded.v1",
                                  {"case_id": case_id, "recorded_by": {"id": "sp-1", "role": "victim_specialist"},
                                   "milestone": {"kind": "rights_explained"}}, subject=case_id)
    async with TestKafkaBroker(plans.broker), TestKafkaBroker(files.broker):
        await publish(plans, "stabilization.recorded", milestone, case_id)
        await publish(files, "certifications.requested", b"[]", case_id)
    assert [e["type"] for e in recorded.on("stabilization.events")] == ["casework.stabilization.progressed.v1"]
    assert [r.topic for r in recorded.raw] == [PREFIX + "certifications.requested.dlq"]
