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

from shared import disclosure
from shared.contracts.inbound import ServiceDeclineReason, ServiceResponded
from shared.contracts.notifications import RecipientRole

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
    Kind.SERVICE_REQUESTED: "Service requested",
    Kind.SERVICE_DECLINED: "Service request declined",
    Kind.SERVICE_UNANSWERED: "Service request unanswered",
    Kind.CONSENT_EXPIRING: "Consent expiring",
    Kind.CONSENT_LAPSED: "Consent lapsed",
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
SERVICE_DECLINES = {"no_capacity": "no capacity", "not_eligible": "not eligible", "language": "language",
                    "out_of_area": "out of its area", "unreachable": "could not reach the person",
                    "other": "another reason"}
# The footnote under every message: to the team working the case, or to a provider outside it.
TEAM_NOTE = ("casework notifications. This message names the case, never the person: look people up only in "
             "the case system, and do not forward it outside the team working the case.")
PROVIDER_NOTE = ("casework notifications. This message names the case, never the person: the victim "
                 "specialist shares more only where the person consents to it. Do not forward it beyond "
                 "the staff who will provide the service.")


@dataclass(frozen=True)
class Message:
    subject: str
    title: str
    summary: str
    actions: list[str]
    deadline: str | None
    link: str | None  # the case in the dashboard: only for the team working the case
    facts: list[tuple[str, str]] = field(default_factory=list)
    note: str = TEAM_NOTE
    # A provider's disclosure link (docs/design.md, Disclosure): where it reads, while a
    # written consent for it lasts, what the person agreed to share; it shows nothing else.
    disclosure_link: str | None = None


# Kept for the message's making, never told: what the specialist asked to share (beside a
# refused link it would tell a provider what the person declined, and consent is never a
# condition of service).
UNTOLD_FACTS = frozenset({"asked_to_share"})


def told(n: Notification) -> dict[str, Any]:
    """The facts a message shows (the mail's table, the webhook's ``facts``)."""
    return {k: v for k, v in n.facts.items() if v is not None and k not in UNTOLD_FACTS}


@dataclass(frozen=True)
class Links:
    """Where a message may point: the case in the dashboard (for the team), and a provider's
    disclosure link (its capability minted with the disclosure key; never stored)."""

    dashboard_url: str
    disclosure_key: bytes

    def case(self, case_id: str) -> str:
        return f"{self.dashboard_url.rstrip('/')}/cases/{case_id}"

    def disclosure(self, service_request_id: str, provider_id: str) -> str:
        return disclosure.link(self.dashboard_url, self.disclosure_key, service_request_id, provider_id)


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


# What a provider is asked for, in words ("provide legal help", "provide shelter").
NEED_WORDS = {"legal": "legal help", "medical": "medical care", "safety": "safety planning",
              "mental_health": "mental health care", "interpretation": "interpretation", "other": "a service"}


def _need(f: Facts) -> str:
    return NEED_WORDS.get(f["need"], f["need"].replace("_", " "))


def _service_requested(f: Facts, n: Notification) -> tuple[str, list[str]]:
    languages = f"The person's languages: {f['languages']}." if f["languages"] not in ("none", "unknown") \
        else "No language of the person is on record yet."
    reasons = ", ".join(r.value for r in ServiceDeclineReason)
    return (f"A victim specialist asks you to provide {_need(f)} for case {n.reference} (service request "
            f"{f['service_request_id']}). {languages}",
            [f"Answer before the deadline with a {ServiceResponded.TYPE} event on {ServiceResponded.TOPIC} "
             f"naming case {n.reference}, service request {f['service_request_id']} and your provider id "
             f"{f['provider_id']}: response accepted, or declined with a reason ({reasons}).",
             "Once the service has been provided, answer again with response completed.",
             "Unanswered by the deadline, the request goes back to the specialist, who may ask another provider."])


def _next_provider(f: Facts) -> str:
    if "next_provider_id" in f:
        return (f"The next matching provider not yet asked is {f['next_provider_id']}: request the service "
                "from them if it still fits.")
    return "No other matching provider is left to ask: find another way to meet the need, or ask a supervisor."


def _service_declined(f: Facts, n: Notification) -> tuple[str, list[str]]:
    reason = SERVICE_DECLINES.get(f["reason"], "no reason given")
    return (f"Provider {f['provider_id']} declined service request {f['service_request_id']} ({_need(f)}) "
            f"on case {n.reference}: {reason}.", [_next_provider(f)])


def _service_unanswered(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"Provider {f['provider_id']} did not answer service request {f['service_request_id']} "
            f"({_need(f)}) on case {n.reference} by {f['respond_by']}.",
            [_next_provider(f), f"Provider {f['provider_id']} may still answer; the request stays open until then."])


# Who a consent lets see, by kind only: which provider (a shelter, say) is on the case page.
RECIPIENTS = {"service_provider": "the service provider", "task_force": "the task force", "agency": "the agency"}
SCOPES = {"identity": "the person's identity", "contact": "their contact details", "case_status": "the case's status"}


def _consented(f: Facts, n: Notification) -> str:
    """What a consent lets whom see: its id, the kind of recipient and the scopes, in words."""
    who = RECIPIENTS.get(f["recipient_kind"], "its recipient")
    given = n.facts.get("scope", [])
    scopes = [words for scope, words in SCOPES.items() if scope in given]  # identity first, as people say it
    what = f"{', '.join(scopes[:-1])} and {scopes[-1]}" if len(scopes) > 1 else (scopes or ["nothing"])[0]
    return f"Consent {f['consent_id']} on case {n.reference}, letting {who} see {what},"


def _consent_expiring(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"{_consented(f, n)} expires on {f['expires_at']}.",
            [f"If the person wishes to keep sharing, record a new written consent with them before "
             f"{f['expires_at']}; nothing is shared under this one after it lapses.",
             "The case page shows which recipient it names; nothing needs doing if the person does not wish to "
             "go on sharing."])


def _consent_lapsed(f: Facts, n: Notification) -> tuple[str, list[str]]:
    return (f"{_consented(f, n)} lapsed on {f['expired_at']}: nothing more is shared under it.",
            ["If the person wishes to share again, record a new written consent with them; the case page "
             "shows which recipient it named and whether another consent is in force."])


WORDING: dict[Kind, Wording] = {
    Kind.REFERRAL_ASSIGNED: _assigned, Kind.REFERRAL_ESCALATED: _escalated,
    Kind.CASE_UNASSIGNED: _unassigned, Kind.INTERVIEW_DEFERRED: _deferred,
    Kind.INTERVIEW_CLEARED: _cleared, Kind.HHS_NOTIFICATION_DUE: _hhs,
    Kind.HHS_NOTIFICATION_OVERDUE: _hhs, Kind.CERTIFICATION_EXPIRING: _expiring,
    Kind.CERTIFICATION_EXPIRED: _expired, Kind.CONTINUED_PRESENCE_ROUTED_TO_HSI: _hsi,
    Kind.ENCOUNTER_UNPROCESSABLE: _unprocessable,
    Kind.REFERRAL_REASSIGNED: _reassigned, Kind.HANDED_OVER: _handed_over, Kind.CASE_CLOSED: _closed,
    Kind.CASE_WITHDRAWN: _withdrawn, Kind.CASE_REOPENED: _reopened, Kind.CASE_NEEDS_HOLDER: _needs_holder,
    Kind.SERVICE_REQUESTED: _service_requested, Kind.SERVICE_DECLINED: _service_declined,
    Kind.SERVICE_UNANSWERED: _service_unanswered,
    Kind.CONSENT_EXPIRING: _consent_expiring, Kind.CONSENT_LAPSED: _consent_lapsed,
}


def _failed(n: Notification, failed: Delivery) -> tuple[str, list[str]]:
    return (f"The {TITLES[n.kind].lower()} notification for {n.reference} could not be delivered to "
            f"{failed.recipient_id} by {failed.channel.value} after {failed.attempts} attempt(s): "
            f"{failed.last_error or 'unknown error'}.",
            [f"Reach {failed.recipient_id} another way, and check their contact details in the "
             f"{'provider directory' if failed.role == RecipientRole.SERVICE_PROVIDER else 'roster'}."])


def compose(n: Notification, d: Delivery, links: Links) -> Message:
    """A provider is outside the team working the case: no link into the case system for it;
    asked to provide a service where the specialist would share something, its disclosure link."""
    facts = Facts({k: shown(v) for k, v in told(n).items()})
    if d.about is not None:
        summary, actions = _failed(n, n.deliveries[d.about])
    else:
        summary, actions = WORDING[n.kind](facts, n)
    title = TITLES[d.kind]
    outside = d.role == RecipientRole.SERVICE_PROVIDER
    return Message(
        subject=f"{title}: {n.reference}", title=title, summary=summary, actions=actions,
        deadline=when(n.deadline) if n.deadline else None,
        link=links.case(n.case_id) if n.case_id and not outside else None,
        facts=[(k.replace("_", " ").capitalize(), v) for k, v in facts.items()],
        note=PROVIDER_NOTE if outside else TEAM_NOTE,
        disclosure_link=_disclosure(n, d, links) if outside else None)


def _disclosure(n: Notification, d: Delivery, links: Links) -> str | None:
    request_id, provider_id = n.facts.get("service_request_id"), n.facts.get("provider_id")
    if d.kind is not Kind.SERVICE_REQUESTED or d.about is not None or not n.facts.get("asked_to_share"):
        return None
    if not isinstance(request_id, str) or not isinstance(provider_id, str) or provider_id != d.recipient_id:
        return None
    return links.disclosure(request_id, provider_id)
