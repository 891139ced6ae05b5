"""The durable timers of a certification: reminders before its deadline, then its expiry.

Timer names are ``<certification id>#<what>``, with '.' in the id written '~' (a document
key may hold no '.'; neither '~' nor '#' can occur in an id, so the name reads back).
Each reminder is also recorded as sent with its deadline, so it fires once per deadline,
across redeliveries and restarts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.contracts.certifications import CertificationStatus as S
from shared.contracts.inbound import CertificationKind as K

from . import deadlines
from .state import CaseCertificationFile, Certification

EXPIRY = "expiry"
RENEWAL = "renewal"
ORPHAN = "orphan"  # records waiting for their request (see domain.park)
U_VISA_REMINDER_DAYS = (30, 7)  # U3: remind before the Supplement B lapses
# Only these run toward a deadline: a CP once granted (C3), a U visa once signed (U3).
RUNNING: dict[K, frozenset[S]] = {
    K.CONTINUED_PRESENCE: frozenset({S.GRANTED, S.RENEWED}),
    K.T_VISA_DECLARATION: frozenset(),  # T2: no validity window after signature
    K.U_VISA_CERTIFICATION: frozenset({S.SIGNED}),
}


def timer_name(certification_id: str, what: str) -> str:
    return f"{certification_id.replace('.', '~')}#{what}"


def parse(name: str) -> tuple[str, str]:
    """(certification id, what) of a timer name."""
    escaped, _, what = name.rpartition("#")
    return escaped.replace("~", "."), what


def running(cert: Certification) -> bool:
    return cert.status in RUNNING[cert.kind]


def label(what: str, cert: Certification) -> str:
    """How a sent reminder is remembered: per deadline, so a renewal's reminders fire anew."""
    deadline = cert.deadline()
    return f"{what}@{deadline.isoformat() if deadline else '-'}"


def reminder_times(cert: Certification, cp_renewal_lead: timedelta) -> dict[str, datetime]:
    if cert.kind is K.CONTINUED_PRESENCE and cert.valid_until is not None:
        return {RENEWAL: cert.valid_until - cp_renewal_lead}
    if cert.kind is K.U_VISA_CERTIFICATION and cert.expires_on is not None:
        offset, last_day = cert.utc_offset_minutes, cert.expires_on
        return {f"remind{days}": deadlines.day_starts(last_day - timedelta(days=days), offset)
                for days in U_VISA_REMINDER_DAYS}
    return {}


def schedule(cert: Certification, now: datetime, cp_renewal_lead: timedelta) -> dict[str, datetime]:
    """The timers ``cert`` needs from ``now``: its pending reminders and its expiry."""
    lapse = cert.lapses_at()
    if lapse is None or not running(cert):
        return {}
    pending = {what: at for what, at in reminder_times(cert, cp_renewal_lead).items()
               if at < lapse and label(what, cert) not in cert.reminders_sent}
    due = _collapse_overdue(pending, now) if lapse > now else {}
    return {timer_name(cert.certification_id, what): at for what, at in due.items()} | {
        timer_name(cert.certification_id, EXPIRY): lapse}


def _collapse_overdue(pending: dict[str, datetime], now: datetime) -> dict[str, datetime]:
    """Reminders already due when armed (a late record): only the latest fires, at once."""
    overdue = sorted((at, what) for what, at in pending.items() if at <= now)
    keep = {what: at for what, at in pending.items() if at > now}
    if overdue:
        at, what = overdue[-1]
        keep[what] = at
    return keep


def rearm(file: CaseCertificationFile, cert: Certification, now: datetime,
          cp_renewal_lead: timedelta) -> CaseCertificationFile:
    """Replace ``cert``'s deadline timers in the file by what it needs now."""
    prefix = timer_name(cert.certification_id, "")
    others = {name: at for name, at in file.timers.items()
              if not name.startswith(prefix) or name == prefix + ORPHAN}
    return file.model_copy(update={"timers": others | schedule(cert, now, cp_renewal_lead)})
