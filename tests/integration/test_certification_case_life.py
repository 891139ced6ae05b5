"""A closed case keeps its certification deadlines: Continued Presence expiry and the U-visa
filing window keep their reminders (docs/design.md, Case life). Certification does not read
``referrals.events`` or ``cases.closed`` at all; this shows its reminders go on after a close."""

from __future__ import annotations

from collections import Counter

from services.certification.app import bootstrap
from shared.kit import FakeClock
from tests.integration.test_certification_reminders import CP_RENEWAL, CP_UNTIL, REMIND_30, START, wait_for
from tests.integration.test_stabilization_case_life import closure
from tests.support import events
from tests.support.events import cloudevent
from tests.support.kafka import Bus


async def test_a_closure_does_not_silence_continued_presence_or_u_visa_reminders(settings, bus: Bus) -> None:
    clock = FakeClock(START)
    service = bootstrap(settings, clock=clock)
    consumed = {t.name.removeprefix(settings.topic_prefix) for s in service.broker.subscribers for t in s.topics}
    assert consumed == {"certifications.requested", "certifications.recorded"}  # no case-life topic
    async with service.app:
        await bus.publish("certifications.requested", events.certification_requested("case-C", "u-C"))
        await bus.publish("certifications.requested", events.certification_requested(
            "case-C", "cp-C", "continued_presence", agency_level="federal"))
        await bus.publish("certifications.recorded", events.certification_recorded(
            "case-C", "u-C", "signed", "2026-08-31T22:00:00-06:00", signed_by=events.SIGNATORY))
        await bus.publish("certifications.recorded", events.certification_recorded(
            "case-C", "cp-C", "granted", "2026-09-01T10:00:00Z", valid_until=CP_UNTIL))
        assert await bus.events("certifications.status", count=1, where=lambda e: {
            c["certification_id"]: c["status"] for c in e["data"]["certifications"]} == {
            "u-C": "signed", "cp-C": "granted"})
        # The case is closed: the request, and the referral service's applied closure.
        await bus.ensure("cases.closed", "referrals.events")  # no service under test creates them
        await bus.publish("cases.closed", cloudevent("casework.case.closed.v1", {
            "case_id": "case-C", "closed_by": {"id": "spec-1", "role": "victim_specialist"},
            "reason": "services_completed"}, subject="case-C", source="app/specialist"))
        await bus.publish("referrals.events", closure("case-C", "services_completed"))
        clock.set(CP_RENEWAL)
        assert len(await wait_for(bus, 1)) == 1
        clock.set(REMIND_30)
        published = await wait_for(bus, 2)
    seen = Counter((e["data"]["certification_id"], e["data"].get("days_left")) for e in published)
    assert seen == Counter({("cp-C", 90): 1, ("u-C", 30): 1})
