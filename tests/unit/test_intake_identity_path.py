"""The identity endpoint's answers, on the in-memory kit: what every request is answered and
recorded, and that nothing is shown when the read cannot be recorded or the vault not opened."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.intake import domain
from services.intake.app import bootstrap
from services.status.identity import IdentityReader, IdentityUnavailable
from shared.cloudevents import reader
from shared.contracts.inbound import EncounterReported
from shared.crypto import KeyRing
from shared.kit import Inbound
from shared.kit.memory import MemoryBackend, RecordingPublisher
from shared.kit.service import Service
from shared.settings import IntakeSettings, Settings
from tests.support import events
from tests.support import status as ev
from tests.support.status import T0

CREDENTIAL = "cwv_unit-credential"
CASE = domain.case_id_for("TX-DPS", "ENC-path")


@dataclass
class Intake:
    service: Service
    published: RecordingPublisher
    client: httpx.AsyncClient

    def audit(self) -> list[dict]:
        return [json.loads(e["value"])["data"] for e in self.published.on("audit.events")]

    async def get(self, headers: dict[str, str], case_id: str = CASE) -> httpx.Response:
        return await self.client.get(f"/internal/v1/cases/{case_id}/person", headers=headers)


def case_file(intake: Intake) -> dict:
    """The stored case file's state, to alter in place (the in-memory store's own document)."""
    cases, *_ = intake.service.workflows
    state: dict = cases.store.docs["TX-DPS|ENC-path"]["state"]
    return state


def holder_headers(actor: str = "sp-1", role: str = "specialist") -> dict[str, str]:
    return {"Authorization": f"Bearer {CREDENTIAL}", "X-Casework-Actor-Id": actor, "X-Casework-Actor-Role": role}


async def seed(service: Service) -> None:
    """A case opened from a canary report, accepted by sp-1."""
    cases, held, *_ = service.workflows
    parsed = reader(EncounterReported).validate_json(events.encode(events.encounter("ENC-path")))
    await cases.handle([Inbound(id=parsed.id, type=parsed.type, data=parsed.data, subject=parsed.subject,
                                source=parsed.source)])
    story = [ev.case_opened(CASE, encounter_id="ENC-path"), ev.assigned(CASE, "r1", "sp-1", at=T0),
             ev.accepted(CASE, "r1", "sp-1", assigned_at=T0, at=T0)]
    await held.handle([ev.inbound(p) for p in story])


@pytest.fixture
async def intake(tmp_path: Path) -> AsyncIterator[Intake]:
    settings = Settings(topic_prefix="u.", intake=IntakeSettings(vault_reader_token=CREDENTIAL,
                                                                 dev_keyring_path=tmp_path / "k"))
    published = RecordingPublisher()
    service = bootstrap(settings, keyring=KeyRing({"k": os.urandom(32)}, "k"), backend=MemoryBackend(),
                        publisher=published)
    await seed(service)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service.http), base_url="http://intake") as client:
        yield Intake(service, published, client)


async def test_the_holder_reads_and_the_read_is_recorded_before(intake: Intake) -> None:
    answer = await intake.get(holder_headers() | {"X-Casework-Via": "dashboard_page"})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["person"]["person"]["given_name"] == events.CANARY_GIVEN and body["case_id"] == CASE
    [record] = intake.audit()
    assert record["audit_id"] == body["audit_id"] and record["case_id"] == CASE
    assert (record["action"], record["outcome"], record["via"]) == ("identity.read", "granted", "intake_vault")
    assert record["actor"] == {"id": "sp-1", "role": "specialist"}
    assert not [c for c in events.CANARIES if c in json.dumps(intake.audit())]


@pytest.mark.parametrize("headers", [
    holder_headers("sp-2"), holder_headers(role="supervisor"), holder_headers(role="auditor"),
    holder_headers(role="anonymous"), holder_headers(role="victim_specialist"),
    {"Authorization": f"Bearer {CREDENTIAL}", "X-Casework-Actor-Role": "specialist"},  # no actor id
    holder_headers("sp 1\x1b[31m"),  # not an id
])
async def test_every_refusal_is_answered_alike_and_recorded(intake: Intake, headers: dict[str, str]) -> None:
    answer = await intake.get(headers)
    elsewhere = await intake.get(headers, case_id="case-unknown")
    assert answer.status_code == elsewhere.status_code == 403 and answer.json() == elsewhere.json()
    records = intake.audit()
    assert [(r["action"], r["outcome"]) for r in records] == [("identity.refused", "refused")] * 2
    assert [r["case_id"] for r in records] == [CASE, "case-unknown"]


@pytest.mark.parametrize("authorization", [None, "Bearer cwv_wrong", f"Basic {CREDENTIAL}", "Bearer "])
async def test_without_the_service_credential_the_answer_is_401_and_recorded(intake: Intake,
                                                                              authorization: str | None) -> None:
    headers = {k: v for k, v in holder_headers().items() if k != "Authorization"}
    if authorization is not None:
        headers["Authorization"] = authorization
    answer = await intake.get(headers)
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    [record] = intake.audit()
    assert record["actor"] == {"id": "unknown", "role": "anonymous"} and record["outcome"] == "refused"


async def test_a_read_that_cannot_be_recorded_shows_nothing(intake: Intake) -> None:
    intake.published.fail_next = 1
    answer = await intake.get(holder_headers())
    assert answer.status_code == 503 and not [c for c in events.CANARIES if c in answer.text]
    assert intake.audit() == []
    assert (await intake.get(holder_headers())).status_code == 200  # the broker back: read and recorded
    assert len(intake.audit()) == 1


async def test_a_vault_that_cannot_open_the_record_shows_nothing_and_says_so_without_it(intake: Intake) -> None:
    vault = case_file(intake)["vault"]
    vault["ciphertext"] = vault["ciphertext"][::-1]  # altered at rest
    answer = await intake.get(holder_headers())
    assert answer.status_code == 500 and set(answer.json()) == {"detail"}
    assert intake.audit() == []


async def test_a_case_withdrawn_in_its_file_is_refused_before_the_withdrawal_is_folded(intake: Intake) -> None:
    case_file(intake)["withdrawn"] = "entered_in_error"
    assert (await intake.get(holder_headers())).status_code == 403


async def test_the_dashboards_client_reads_refuses_and_raises(intake: Intake) -> None:
    client = IdentityReader("http://intake/", CREDENTIAL, intake.client)
    granted = await client.read(CASE, "sp-1", "specialist", via="dashboard_api")
    assert granted is not None and granted["person"]["person"]["family_name"] == events.CANARY_FAMILY
    assert await client.read(CASE, "sp-2", "specialist") is None
    assert await client.read("case/../../healthz", "sp-1", "specialist") is None  # the id stays one path segment
    with pytest.raises(IdentityUnavailable, match="401"):
        await IdentityReader("http://intake", "cwv_wrong", intake.client).read(CASE, "sp-1", "specialist")
    intake.published.fail_next = 1
    with pytest.raises(IdentityUnavailable, match="503") as raised:
        await client.read(CASE, "sp-1", "specialist")
    assert not [c for c in events.CANARIES if c in str(raised.value)]
    async with httpx.AsyncClient() as nowhere:
        with pytest.raises(IdentityUnavailable, match="did not answer"):
            await IdentityReader("http://127.0.0.1:9", CREDENTIAL, nowhere).read(CASE, "sp-1", "specialist")
