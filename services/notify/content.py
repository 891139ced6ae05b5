"""What a notification says: the case reference, what to do, the deadline, a link (pure).

Built from the notification's ids, codes and times only, so no wording here can carry
anything that identifies the person (rule 7, P2). The templates lay it out as text and
HTML; the webhook body carries the same fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .kinds import Kind
from .state import Delivery, Notification

TITLES = {
    Kind.REFERRAL_ASSIGNED: "Referral assigned",
    Kind.REFERRAL_ESCALATED: "Referral escalated",
    Kind.CASE_UNASSIGNED: "Case unassigned",
    Kind.INTERVIEW_DEFERRED: "Interview deferred",
    Kind.INTERVIEW_CLEARED: "Interview cleared",
    Kind.HHS_NOTIFICATION_DUE: "HHS notification due",
    Kind.HHS_NOTIFICATION_OVERDUE: "HHS notification overdue",
    Kind.CERTIFICATION_EXPIRING: "Certification expiring",
    Kind.CERTIFICATION_EXPIRED: "Certification expired",
    Kind.CONTINUED_PRESENCE_ROUTED_TO_HSI: "Continued Presence routed to HSI",
    Kind.ENCOUNTER_UNPROCESSABLE: "Encounter could not be processed",
    Kind.NOTIFICATION_FAILED: "Notification not delivered",
    Kind.REFERRAL_REASSIGNED: "Case reassigned to you",
    Kind.HANDED_OVER: "Handover",
    Kind.CASE_CLOSED: "Case closed",
    Kind.CASE_REOPENED: "Case reopened",
    Kind.CASE_WITHDRAWN: "Case withdrawn",
    Kind.CASE_NEEDS_HOLDER: "Case needs a new specialist",
}
REASONS = {"handover": "a handover", "conflict_of_interest": "a conflict of interest", "workload": "workload",
           "language": "language", "other": "another reason"}
CERTIFICATIONS = {"continued_presence": "Continued Presence",
                  "t_visa_declaration": "T visa declaration (I-914 Supplement B)",
                  "u_visa_certification": "U visa certification (I-918 Supplement B)"}
GATES = {
    "needs_not_assessed": "Assess the person's needs.",
    "urgent_needs_open": "Meet the open urgent needs: {urgent_needs_open}.",
    "interpreter_not_arranged": "Arrange an independent interpreter in the right language and dialect (rule I3).",
    "location_not_neutral": "Propose a neutral location: not a police station or an immigration office (rule I1).",
    "specialist_not_engaged": "The victim specialist must accept the referral first.",
    "stabilization_period": "Give the person time to stabilize (rule D6), until {stabilization_ends_at}.",
}


@dataclass(frozen=True)
class Message:
    subject: str
    title: str
    summary: str
    actions: list[str]
    deadline: str | None
    link: str | None
    facts: list[tuple[str, str]] = field(default_factory=list)


def when(value: Any) -> str:
    """An instant as people read it, in UTC; anything else as it is."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.isoformat()
    return str(value)


def shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return when(value)


class Facts(dict[str, str]):
    """Facts for wording: a missing one reads as "unknown" rather than failing."""

    def __missing__(self, key: str) -> str:
        return "unknown"


Wording = Callable[[Facts, Notification], tuple[str, list[str]]]


def _assigned(f: Facts, n: Notification) -> tuple[str, list[str]]:
    actions = [f"Accept or decline referral {f['referral_id']} before the deadline; an unanswered "
               "referral is escalated to your supervisors."]
    if f["language_match"] == "no":
        actions.append("No assigned specialist speaks the person's language: arrange an interpreter (rule D4).")
    return f"Case {n.reference} ({f['priority']} priority) has been referred to you.", actions


def _reassigned(f: Facts, n: Notification) -> tuple[str, list[str]]:
    by = "its specialist" if f["requested_by_role"] == "victim_specialist" else "a supervisor"
    why = REASONS.get(f["reassignment_reason"], "another reason")
    actions = [f"Accept or decline referral {f['referral_id']} before the deadline."]
    if "handover_from" in f:
        actions.append(f"Specialist {f['handover_from']} stays responsible for the case until you accept; "
                       "if you decline, they keep it.")
    else:
        actions.append("An unanswered referral is escalated to your supervisors.")
    if f["language_match"] == "no":
        actions.append("No assigned specialist speaks the person's language: arrange an interpreter (rule D4).")
    return f"Case {n.reference} ({f['priority']} priority) has been reassigned to you by {by} ({why}).", actions


def _handed_over(f: Facts, n: Notification) -> tuple[str, list[str]]:
    if f["outcome"] == "accepted":
        return (f"The new specialist accepted case {n.reference}: you are no longer responsible for it.",
                ["Pass on anything the new specialist still needs through the case system."])
    if f["outcome"] == "reassigned":
        return (f"A supervisor moved case {n.reference} (referral {f['referral_id']}) to another specialist: you are "
                "no longer responsible for it.", ["Nothing more is needed; do not answer the referral."])
    return (f"The handover of case {n.reference} was not taken up (referral {f['declined_referral_id']}): "
            "you keep the case.", ["Carry on with the case, or ask a supervisor to reassign it."])


def _closed(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"Case {n.reference} was closed by a supervisor ({f['reason'].replace('_', ' ')}); it no longer "
            "counts against your capacity.", ["Nothing more is needed; a case can be reopened if the person "
                                              "re-engages."])


def _withdrawn(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"The reporting agency withdrew the encounter behind case {n.reference}: the case is closed.",
            ["Stop work on the case; nothing was deleted, and a supervisor can reopen it if needed."])


def _reopened(f: Facts, n: Notification) -> tuple[str, list[str]]:
    by = "you" if f["reopened_by_role"] == "victim_specialist" else "a supervisor"
    return (f"Case {n.reference} ({f['priority']} priority), which you held, was reopened by {by} "
            f"({f['reason'].replace('_', ' ')}).",
            ["If it is referred to you again, accept or decline it before the deadline; otherwise it is "
             "matched to another specialist."])


def _needs_holder(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"Specialist {f['specialist_id']}, who accepted case {n.reference} ({f['priority']} priority), has "
            "left the roster or gone off duty.", ["Reassign the case to a specialist now: until then nobody holds it."])


def _escalated(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"Referral {f['referral_id']} on case {n.reference} ({f['priority']} priority) was not accepted "
            f"by {f['ack_due_at']} by specialist {f['specialist_id']} (escalation {f['escalations']}).",
            ["Make sure a victim specialist takes the case now; it is being reassigned."])


def _unassigned(f: Facts, n: Notification) -> tuple[str, list[str]]:
    again = f" It is still unassigned: alert {f['alert']}." if f["alert"] not in ("1", "unknown") else ""
    return (f"No on-duty victim specialist with capacity covers case {n.reference} "
            f"({f['priority']} priority, region {n.region or 'unknown'}).{again}",
            ["Bring a specialist on duty for the region or raise a specialist's capacity; the case is "
             "assigned as soon as someone can take it."])


def _deferred(f: Facts, n: Notification) -> tuple[str, list[str]]:
    gates = [GATES[r].format_map(f) for r in n.facts.get("reasons", []) if r in GATES]
    return (f"Interview {f['interview_id']} proposed for {f['proposed_at']} ({f['location_type']}) is "
            "deferred until every stabilization gate passes.",
            [*gates, "It is cleared automatically once the last gate passes; you will be told."])


def _cleared(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"Interview {f['interview_id']} proposed for {f['proposed_at']} ({f['location_type']}) may go "
            "ahead: every stabilization gate has passed.",
            ["Confirm the time and place with the victim specialist; keep the participants few (rule I1)."])


def _hhs(f: Facts, n: Notification) -> tuple[str, list[str]]:
    if n.kind is Kind.HHS_NOTIFICATION_OVERDUE:
        return (f"The 24-hour deadline to notify HHS about case {n.reference} has passed (rule M1).",
                ["Notify HHS (Office on Trafficking in Persons) now and record it."])
    return (f"Case {n.reference} concerns a person who may be under 18: HHS must be notified within "
            "24 hours (rule M1).", ["Notify HHS (Office on Trafficking in Persons) and record it before the deadline."])


def _expiring(f: Facts, n: Notification) -> tuple[str, list[str]]:
    what = f"{CERTIFICATIONS.get(f['certification'], 'Certification')} {f['certification_id']}"
    if f["action"] == "file":
        return (f"{what} for case {n.reference} can be filed until {f['deadline']} ({f['days_left']} days left).",
                ["File the I-918 with this Supplement B before it lapses (rule U3)."])
    return (f"{what} for case {n.reference} is valid until {f['deadline']} ({f['days_left']} days left).",
            ["Request the renewal before it lapses (rule C3)."])


def _expired(f: Facts, n: Notification) -> tuple[str, list[str]]:
    what = f"{CERTIFICATIONS.get(f['certification'], 'Certification')} {f['certification_id']}"
    return (f"{what} for case {n.reference} lapsed on {f['deadline']}.",
            ["Decide with the victim specialist whether a new request or signature is needed."])


def _hsi(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"Continued Presence request {f['certification_id']} for case {n.reference} comes from a "
            f"{f['agency_level']} agency: it goes through the local HSI office (rule C1).",
            ["Send the request to your local HSI office; never make it depend on cooperation (rule C2)."])


def _unprocessable(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"An encounter reported by agency {f['agency_id']} (region {n.region or 'unknown'}) could not be "
            f"read ({f['error_type']}), so no case was opened. A person may be waiting for help.",
            ["Contact the reporting agency, have the encounter reported again, and make sure the person "
             "is connected to a victim specialist now (rule D2)."])


WORDING: dict[Kind, Wording] = {
    Kind.REFERRAL_ASSIGNED: _assigned, Kind.REFERRAL_ESCALATED: _escalated,
    Kind.CASE_UNASSIGNED: _unassigned, Kind.INTERVIEW_DEFERRED: _deferred,
    Kind.INTERVIEW_CLEARED: _cleared, Kind.HHS_NOTIFICATION_DUE: _hhs,
    Kind.HHS_NOTIFICATION_OVERDUE: _hhs, Kind.CERTIFICATION_EXPIRING: _expiring,
    Kind.CERTIFICATION_EXPIRED: _expired, Kind.CONTINUED_PRESENCE_ROUTED_TO_HSI: _hsi,
    Kind.ENCOUNTER_UNPROCESSABLE: _unprocessable,
    Kind.REFERRAL_REASSIGNED: _reassigned, Kind.HANDED_OVER: _handed_over, Kind.CASE_CLOSED: _closed,
    Kind.CASE_WITHDRAWN: _withdrawn, Kind.CASE_REOPENED: _reopened, Kind.CASE_NEEDS_HOLDER: _needs_holder,
}


def _failed(n: Notification, failed: Delivery) -> tuple[str, list[str]]:
    return (f"The {TITLES[n.kind].lower()} notification for {n.reference} could not be delivered to "
            f"{failed.recipient_id} by {failed.channel.value} after {failed.attempts} attempt(s): "
            f"{failed.last_error or 'unknown error'}.",
            [f"Reach {failed.recipient_id} another way, and check their contact details in the roster."])


def compose(n: Notification, d: Delivery, link_base: str) -> Message:
    facts = Facts({k: shown(v) for k, v in n.facts.items() if v is not None})
    if d.about is not None:
        summary, actions = _failed(n, n.deliveries[d.about])
    else:
        summary, actions = WORDING[n.kind](facts, n)
    title = TITLES[d.kind]
    return Message(
        subject=f"{title}: {n.reference}", title=title, summary=summary, actions=actions,
        deadline=when(n.deadline) if n.deadline else None,
        link=f"{link_base}{n.case_id}" if n.case_id else None,
        facts=[(k.replace("_", " ").capitalize(), v) for k, v in facts.items()])
