"""Every service's topic readers, as the services build them (for what a record must become)."""

from __future__ import annotations

import importlib
import tempfile
from functools import cache
from pathlib import Path

from aiokafka import ConsumerRecord

from shared.kit.inbound import Skip, TopicReader
from shared.settings import IntakeSettings, NotifySettings, Settings, StatusSettings

SERVICES = ("intake", "referral", "stabilization", "certification", "notify", "status")


@cache
def readers() -> dict[str, tuple[tuple[str, TopicReader], ...]]:
    """Contract topic -> (service, reader) for each service that reads it."""
    spare = Path(tempfile.mkdtemp(prefix="casework-readers-"))
    settings = Settings(intake=IntakeSettings(dev_keyring_path=spare / "keyring.json",
                                                  dev_vault_reader_token_path=spare / "reader"),
                        notify=NotifySettings(dev_webhook_key_path=spare / "key"),
                        status=StatusSettings(dev_dashboard_tokens_path=spare / "tokens.json"))
    found: dict[str, list[tuple[str, TopicReader]]] = {}
    for name in SERVICES:
        built = importlib.import_module(f"services.{name}.app").bootstrap(settings)
        service = getattr(built, "service", built)  # status wraps its Service
        for consumer in service.consumers:
            found.setdefault(consumer.reader.topic, []).append((name, consumer.reader))
    return {topic: tuple(pairs) for topic, pairs in found.items()}


def outcome(reader: TopicReader, record: ConsumerRecord) -> str:
    """What a reader makes of a record: "valid", "skip" or "dlq"."""
    try:
        reader.read(record)
    except Skip:
        return "skip"
    except Exception:
        return "dlq"
    return "valid"
