"""Each service's Policy is built from its settings group, and a default Policy is the default settings'."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from services.certification.state import Policy as CertificationPolicy
from services.notify.state import Policy as NotifyPolicy
from services.referral.state import Policy as ReferralPolicy
from services.stabilization.state import Policy as StabilizationPolicy
from shared.contracts.common import Priority
from shared.settings import (
    CertificationSettings,
    DeliverySettings,
    NotifySettings,
    ReferralSettings,
    StabilizationSettings,
)


@pytest.fixture(autouse=True)
def bare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("CASEWORK_")]:
        monkeypatch.delenv(name)


def test_a_default_policy_is_the_default_settings_policy() -> None:
    assert CertificationPolicy.from_settings(CertificationSettings()) == CertificationPolicy()
    assert StabilizationPolicy.from_settings(StabilizationSettings()) == StabilizationPolicy()
    assert NotifyPolicy.from_settings(NotifySettings()) == NotifyPolicy()


def test_the_referral_policy_follows_its_settings() -> None:
    policy = ReferralPolicy.from_settings(ReferralSettings(ack_sla_seconds_urgent=60, max_escalations=3,
                                                           retry_unassigned_seconds=30))
    assert policy.ack_sla == {Priority.URGENT: timedelta(seconds=60), Priority.HIGH: timedelta(seconds=900),
                              Priority.NORMAL: timedelta(seconds=1800)}
    assert (policy.max_escalations, policy.retry_every) == (3, timedelta(seconds=30))
    assert ReferralPolicy.from_settings(ReferralSettings()).retry_every == ReferralPolicy({}, 0).retry_every  # defaults


def test_the_other_policies_follow_their_settings() -> None:
    assert CertificationPolicy.from_settings(CertificationSettings(cp_duration_days=365, cp_renewal_lead_days=30)) \
        == CertificationPolicy(cp_duration=timedelta(days=365), cp_renewal_lead=timedelta(days=30))
    assert StabilizationPolicy.from_settings(StabilizationSettings(min_stabilization_hours=6)) \
        == StabilizationPolicy(min_stabilization_hours=6)
    delivery = DeliverySettings(max_attempts=2, retry_base_seconds=1, retry_max_seconds=9, lease_seconds=3)
    assert NotifyPolicy.from_settings(NotifySettings(delivery=delivery)) == NotifyPolicy(2, 1, 9, 3)
