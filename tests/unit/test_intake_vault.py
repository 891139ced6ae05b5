"""The vault binds each sealed identity to its key id and its case id; records sealed before,
bound to the encounter id, still open. And the vault reader's service credential."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from services.intake import domain, vault
from services.intake.app import SealingDecision, bootstrap
from services.intake.state import CaseFile
from shared.cloudevents import reader
from shared.contracts.inbound import EncounterReported
from shared.credentials import Credential, CredentialMissing, bearer, vault_reader_credential
from shared.crypto import KeyRing, Sealed, VaultKeyError
from shared.kit import Inbound
from shared.settings import IntakeSettings, Settings
from tests.support import events

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RING = KeyRing({"k1": os.urandom(32)}, "k1")


def inbound(event: dict) -> Inbound:
    parsed = reader(EncounterReported).validate_json(events.encode(event))
    return Inbound(id=parsed.id, type=parsed.type, data=parsed.data, subject=parsed.subject, source=parsed.source)


async def decided(state: CaseFile | None, event: dict) -> CaseFile:
    """``decide`` as the workflow runs it: the batch's subjects sealed first."""
    message = inbound(event)
    decide = await SealingDecision(RING).for_batch([message])
    case, _ = decide(state, message, NOW)
    assert case is not None
    return case


async def test_a_case_is_sealed_under_its_case_id_and_opens_only_there() -> None:
    case = await decided(None, events.encounter("ENC-aad"))
    assert case.vault["aad"] == "case" and case.vault["key_id"] == "k1"
    assert case.case_id == domain.case_id_for("TX-DPS", "ENC-aad") == vault.context_of(case)
    assert vault.open_subject(RING, case)["person"]["given_name"] == events.CANARY_GIVEN
    with pytest.raises(VaultKeyError):
        RING.open(Sealed.from_dict(case.vault), "ENC-aad")  # not bound to the encounter id any more
    # The same encounter number from another agency is another case: the record does not open in its file.
    other = await decided(None, events.encounter("ENC-aad", agency={"id": "CA-HP", "name": "CHP", "level": "state"}))
    with pytest.raises(VaultKeyError):
        vault.open_subject(RING, other.model_copy(update={"vault": case.vault}))


async def test_a_correction_reseals_under_the_same_case_id() -> None:
    case = await decided(None, events.encounter("ENC-fix"))
    corrected = events.encounter("ENC-fix", revision=1, person={"given_name": "Corrigenda"})
    fixed = await decided(case, corrected)
    assert fixed.revision == 1 and fixed.vault["aad"] == "case" and fixed.vault["nonce"] != case.vault["nonce"]
    assert vault.open_subject(RING, fixed)["person"]["given_name"] == "Corrigenda"


async def test_a_record_sealed_before_under_the_encounter_id_still_opens() -> None:
    case = await decided(None, events.encounter("ENC-old"))
    legacy = RING.seal({"person": {"given_name": events.CANARY_GIVEN}}, "ENC-old").to_dict()  # no marker
    old = case.model_copy(update={"vault": legacy})
    assert vault.context_of(old) == "ENC-old"
    assert vault.open_subject(RING, old)["person"]["given_name"] == events.CANARY_GIVEN
    # A case opened before the (agency, encounter) identity keeps its earlier case id; corrected,
    # it is sealed under the id its encounter derives, and opens.
    kept_id = old.model_copy(update={"case_id": "case-legacy-1"})
    fixed = await decided(kept_id, events.encounter("ENC-old", revision=1))
    assert fixed.case_id == "case-legacy-1" and vault.open_subject(RING, fixed)["person"]["given_name"]


def test_a_marked_record_whose_marker_is_removed_does_not_open() -> None:
    sealed = RING.seal({"person": {}}, domain.case_id_for("TX-DPS", "ENC-x")).to_dict() | {"aad": "case"}
    case = CaseFile(case_id=domain.case_id_for("TX-DPS", "ENC-x"), encounter_id="ENC-x", agency_id="TX-DPS",
                    region="US-TX", opened_at=NOW, opened_by_event="e", priority="normal", minor=False, vault=sealed)
    assert vault.open_subject(RING, case) == {"person": {}}
    stripped = {k: v for k, v in sealed.items() if k != "aad"}
    with pytest.raises(VaultKeyError):
        vault.open_subject(RING, case.model_copy(update={"vault": stripped}))


def test_the_vault_reader_credential_is_generated_once_privately_in_development(tmp_path) -> None:
    settings = Settings(intake=IntakeSettings(dev_vault_reader_token_path=tmp_path / "reader"))
    first, second = vault_reader_credential(settings), vault_reader_credential(settings)
    assert first == second and first.startswith("cwv_") and len(first) > 40
    assert (tmp_path / "reader").stat().st_mode & 0o077 == 0
    spare = tmp_path / "x"
    configured = Settings(intake=IntakeSettings(vault_reader_token="cwv_set", dev_vault_reader_token_path=spare))
    assert vault_reader_credential(configured) == "cwv_set" and not spare.exists()


def test_production_without_a_vault_reader_credential_does_not_start(tmp_path) -> None:
    settings = Settings(environment="production",
                        intake=IntakeSettings(dev_vault_reader_token_path=tmp_path / "reader", vault_reader_token=" "))
    with pytest.raises(CredentialMissing, match="CASEWORK_VAULT_READER_TOKEN"):
        vault_reader_credential(settings)
    assert not (tmp_path / "reader").exists()
    with pytest.raises(CredentialMissing):
        bootstrap(settings, keyring=RING)


def test_a_credential_admits_only_itself() -> None:
    credential = Credential("cwv_right")
    assert credential.admits("cwv_right")
    for wrong in (None, "", "cwv_wrong", "cwv_right ", "x" * 10_000):
        assert not credential.admits(wrong)
    assert bearer("Bearer cwv_right") == "cwv_right" and bearer("bearer  cwv_right ") == "cwv_right"
    assert bearer("Basic abc") is None and bearer(None) is None and bearer("Bearer ") is None
    with pytest.raises(CredentialMissing):
        Credential("")



async def test_a_reseal_moves_a_record_to_the_active_key_bound_as_it_was() -> None:
    old, new = os.urandom(32), os.urandom(32)
    before, during = KeyRing({"k1": old}, "k1"), KeyRing({"k1": old, "k2": new}, "k2")
    after = KeyRing({"k2": new}, "k2")
    report = events.encounter("ENC-rot")
    case = (await decided(None, report)).model_copy(update={"vault": vault.seal(before, inbound(report).data)})
    subject = vault.open_subject(before, case)
    bound_to_encounter = case.model_copy(update={"vault": before.seal(subject, case.encounter_id).to_dict()})
    for sealed in (case, bound_to_encounter):
        moved = vault.resealed(during, sealed)
        assert moved is not None and moved["key_id"] == "k2" and moved.keys() == sealed.vault.keys()
        assert moved.get("aad") == sealed.vault.get("aad")  # "case", or none: bound to the encounter id
        resealed = sealed.model_copy(update={"vault": moved})
        assert vault.open_subject(after, resealed) == subject
        assert vault.resealed(during, resealed) is None  # nothing to do twice
    with pytest.raises(VaultKeyError, match="no key 'k1'"):
        vault.resealed(after, case)  # the old key already gone: fails loudly
