"""``start-<service>`` failpoints: one service refuses to start, the others start as usual."""

from __future__ import annotations

import pytest

from shared.kit import failpoints
from shared.kit.failpoints import FailpointError, refuse_start
from shared.kit.service import Service


def test_only_the_armed_service_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failpoints, "_ARMED", {"start-referral"})
    with pytest.raises(FailpointError, match="failpoint start-referral: referral refuses to start"):
        Service("referral")
    assert Service("intake").name == "intake"


def test_unarmed_nothing_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(failpoints, "_ARMED", set())
    refuse_start("referral")
    monkeypatch.setattr(failpoints, "_ARMED", {"after-write"})
    refuse_start("referral")
