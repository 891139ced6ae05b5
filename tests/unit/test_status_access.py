"""Dashboard tokens: stored hashed, matched in constant time, each with a role and a scope."""

from __future__ import annotations

import json
import stat

import pytest
from pydantic import ValidationError

from services.status.access import Principal, Role, Tokens, dev_tokens, digest, new_token
from shared.settings import Settings, StatusSettings


def test_only_the_hash_is_kept_and_the_token_authenticates() -> None:
    token, principal = new_token("sup-tx", Role.SUPERVISOR, ["TX-DPS"])
    assert token not in principal.model_dump_json() and principal.sha256 == digest(token)
    tokens = Tokens([principal])
    assert tokens.authenticate(token) == principal
    assert tokens.authenticate(token + "x") is None and tokens.authenticate("") is None
    assert tokens.authenticate(None) is None and tokens.authenticate("x" * 10_000) is None


def test_scopes() -> None:
    _, tx = new_token("sup-tx", Role.SUPERVISOR, ["TX-DPS"])
    _, everyone = new_token("sup-all", Role.SUPERVISOR, ["*"])
    _, mine = new_token("sp-1", Role.SPECIALIST, [], "sp-1")
    _, analyst = new_token("analyst", Role.ANALYST, ["*"])
    assert tx.may_see("TX-DPS", None) and not tx.may_see("CA-HP", "sp-1")
    assert everyone.may_see("CA-HP", None)
    assert mine.may_see("CA-HP", "sp-1") and not mine.may_see("TX-DPS", "sp-2") and not mine.may_see("TX-DPS", None)
    assert not analyst.may_see("TX-DPS", None) and analyst.may_count("TX-DPS") and not mine.may_count("TX-DPS")


def test_configuration_is_validated() -> None:
    entry = {"sha256": digest("t"), "name": "sp", "role": "specialist", "agencies": []}
    with pytest.raises(ValidationError):
        Tokens.from_json(json.dumps([entry]))  # a specialist token needs its specialist_id
    with pytest.raises(ValidationError):
        Tokens.from_json(json.dumps([{**entry, "role": "admin", "specialist_id": "sp-1"}]))
    assert Tokens.from_json(json.dumps([{**entry, "specialist_id": "sp-1"}])).authenticate("t").role == Role.SPECIALIST


def test_production_requires_configured_tokens(tmp_path) -> None:
    with pytest.raises(ValueError, match="CASEWORK_DASHBOARD_TOKENS"):
        Tokens.from_settings(Settings(environment="production",
                                      status=StatusSettings(dev_dashboard_tokens_path=tmp_path / "t.json")))


def test_development_tokens_are_generated_once_and_private(tmp_path) -> None:
    settings = Settings(status=StatusSettings(dev_dashboard_tokens_path=tmp_path / "tokens.json"))
    first, second = dev_tokens(settings), dev_tokens(settings)
    assert first == second
    assert set(first["tokens"]) == {"dev-supervisor", "dev-specialist", "dev-specialist-2", "dev-analyst",
                                    "dev-auditor"}
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600
    tokens = Tokens.from_settings(settings)
    assert tokens.authenticate(first["tokens"]["dev-analyst"]).role == Role.ANALYST
    assert all(isinstance(p, Principal) for p in tokens.principals)
    assert tokens.authenticate(first["tokens"]["dev-auditor"]).role == Role.AUDITOR


def test_a_development_token_file_from_before_the_auditor_gains_one_and_keeps_the_rest(tmp_path) -> None:
    path = tmp_path / "tokens.json"
    settings = Settings(status=StatusSettings(dev_dashboard_tokens_path=path))
    old = dev_tokens(settings)
    old = {"tokens": {k: v for k, v in old["tokens"].items() if k != "dev-auditor"},
           "principals": [p for p in old["principals"] if p["name"] != "dev-auditor"]}
    path.write_text(json.dumps(old))
    now = dev_tokens(settings)
    assert {k: v for k, v in now["tokens"].items() if k != "dev-auditor"} == old["tokens"]
    assert Tokens.from_settings(settings).authenticate(now["tokens"]["dev-auditor"]).role == Role.AUDITOR
    assert json.loads(path.read_text()) == now == dev_tokens(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_auditor_token_is_made_like_any_other() -> None:
    token, auditor = new_token("aud-1", Role.AUDITOR, [])
    assert Tokens([auditor]).authenticate(token).audits and not auditor.sees_cases and not auditor.reads_aggregates
